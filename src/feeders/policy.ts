/**
 * SHHH policy loader: reads policy rules from a file (polling its mtime every `intervalMs`;
 * a changed file is read once it has stayed unchanged for one interval) or from a NATS KV
 * key (watching it), validates them exactly as the core does
 * (`policyRulesFrom`) and publishes a `policy` fact whenever the version increases.
 *
 * - The document is `{ version, denied_source_patterns?, max_council_size?,
 *   required_evidence? }`, as JSON (a `.json` file) or YAML (any other file, and KV values,
 *   since YAML reads JSON too). The fact carries the normalized rules (defaults filled in,
 *   lists sorted and deduplicated), the form the core stores.
 * - A document that fails validation, or whose version is not greater than the last one
 *   published, is refused: logged with the field, never published. The core would refuse
 *   it too (`invalid_fact` / `stale_fact`).
 * - The last version published is read back from the WAL at start, so a restart does not
 *   re-publish the same policy. A deleted KV key or a missing file keeps the last policy.
 */
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { stat, readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { type JsonObject, type PolicyRules, policyRulesFrom } from '../core/index.js';
import {
  checkIntOption, Loop, reportUnpublished, resumeFrom, type Feeder, type FeederContext,
} from './common.js';

/** Largest policy document. Why: the WAL refuses messages over 1 MiB, envelope included. */
export const POLICY_BYTES_MAX = 512 * 1024;

/** Where the policy comes from. */
export type PolicySource =
  | { readonly type: 'file'; readonly path: string }
  | { readonly type: 'kv'; readonly bucket: string; readonly key: string };

/** Options of the loader. */
export interface PolicyFeederOptions {
  readonly source: PolicySource;
  /** How often a file's mtime is polled (unused for KV, which is watched). */
  readonly intervalMs: number;
}

/** Defaults of the CLI. */
export const POLICY_DEFAULTS = {
  /** Five seconds: an edited policy takes effect within seconds; a stat() is cheap. */
  intervalMs: 5_000,
} as const;

/** The loader's counters. */
export interface PolicyStats {
  readonly published: number;
  readonly refused: number;
  readonly failed: number;
  /** The last version published (or found on the WAL at start), null when none. */
  readonly version: number | null;
}

/** A checked policy document, or the field that is wrong. */
export type PolicyParse =
  | { readonly ok: true; readonly rules: PolicyRules }
  | { readonly ok: false; readonly field: string; readonly message: string };

/** Parse and validate policy text; `json` selects JSON.parse, else YAML. */
export function parsePolicyText(text: string, json: boolean): PolicyParse {
  if (Buffer.byteLength(text, 'utf8') > POLICY_BYTES_MAX) {
    return { ok: false, field: 'policy', message: `larger than ${POLICY_BYTES_MAX} bytes` };
  }
  let raw: unknown;
  try {
    raw = json ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const what = json ? 'JSON' : 'YAML';
    return { ok: false, field: 'policy', message: `not valid ${what}: ${(err as Error).message}` };
  }
  const r = policyRulesFrom(raw, 'policy');
  if (!r.ok) return { ok: false, field: r.error.path, message: r.error.message };
  return { ok: true, rules: r.value };
}

class PolicyLoader implements Feeder<PolicyStats> {
  readonly kind = 'policy' as const;
  private published = 0;
  private refused = 0;
  private failed = 0;
  private stopped = false;
  private loop: Loop | null = null;
  private watcher: QueuedIterator<KvWatchEntry> | null = null;
  private watching: Promise<void> = Promise.resolve();
  /** mtime and size of the file version last handled (published or refused). */
  private seen: string | null = null;
  /** mtime and size at the previous poll: a file is read once it stopped changing. */
  private settling: string | null = null;
  private missingLogged = false;
  /** A KV value not yet published because publishing failed. */
  private pending: { readonly text: string; readonly where: Record<string, unknown> } | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: FeederContext,
    private readonly o: PolicyFeederOptions,
    private version: number | null,
  ) {}

  stats(): PolicyStats {
    const { published, refused, failed, version } = this;
    return { published, refused, failed, version };
  }

  startFile(path: string): void {
    this.loop = new Loop(() => this.pollFile(path), () => this.o.intervalMs,
      (err) => this.ctx.log.error({ err, file: path }, 'policy poll failed unexpectedly'));
    this.loop.start();
  }

  async startKv(bucket: string, key: string): Promise<void> {
    const kv: KV = await new Kvm(this.ctx.nc).open(bucket);
    const w = await kv.watch({ key });
    this.watcher = w;
    this.watching = this.consume(w, { bucket, key });
    // A KV value whose publish failed is tried again every interval until a newer one comes.
    this.loop = new Loop(() => this.serially(() => this.retryPending()), () => this.o.intervalMs,
      (err) => this.ctx.log.error({ err, bucket, key }, 'policy retry failed unexpectedly'));
    this.loop.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.loop?.stop();
    this.watcher?.stop();
    await this.watching;
  }

  private async consume(w: QueuedIterator<KvWatchEntry>, where: object): Promise<void> {
    try {
      for await (const e of w) await this.serially(() => this.onKvEntry(e));
    } catch (err) {
      this.ctx.log.error({ ...where, err }, 'the policy watch failed');
    }
  }

  /** Run `fn` after everything queued before it: one document is handled at a time. */
  private serially(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn);
    // The caller gets the error through `next`; the chain only keeps the order.
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async onKvEntry(e: KvWatchEntry): Promise<void> {
    const where = { bucket: e.bucket, key: e.key, revision: e.revision };
    if (e.operation !== 'PUT') {
      const msg = 'policy key deleted; keeping the last policy';
      this.ctx.log.warn({ ...where, operation: e.operation }, msg);
      return;
    }
    this.pending = null;
    const text = e.string();
    if (!(await this.consider(text, false, where))) this.pending = { text, where };
  }

  private async retryPending(): Promise<void> {
    const p = this.pending;
    if (p === null) return;
    if (await this.consider(p.text, false, p.where)) this.pending = null;
  }

  private async pollFile(path: string): Promise<void> {
    let st;
    try {
      st = await stat(path);
    } catch (err) {
      const msg = 'cannot read the policy file; keeping the last policy';
      if (!this.missingLogged) this.ctx.log.warn({ err, file: path }, msg);
      this.missingLogged = true;
      return;
    }
    this.missingLogged = false;
    const mark = `${st.mtimeMs}:${st.size}`;
    if (mark === this.seen) return;
    // Read a file only once it has stayed the same for one interval, so a policy that is
    // being written is never read half-written (and published with half its rules).
    const stable = mark === this.settling;
    this.settling = mark;
    if (!stable) return;
    if (st.size > POLICY_BYTES_MAX) {
      this.seen = mark;
      this.refused += 1;
      const reason = `larger than ${POLICY_BYTES_MAX} bytes`;
      this.ctx.log.error({ file: path, field: 'policy', reason }, 'refused an invalid policy');
      return;
    }
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      this.ctx.log.warn({ err, file: path }, 'cannot read the policy file; trying again');
      return;
    }
    this.seen = mark;
    const ok = await this.consider(text, path.endsWith('.json'), { file: path });
    // A policy that could not be published is tried again at the next poll.
    if (!ok) this.seen = null;
  }

  /** Handle one document; false only when publishing failed (worth retrying). */
  private async consider(
    text: string,
    json: boolean,
    where: Record<string, unknown>,
  ): Promise<boolean> {
    const p = parsePolicyText(text, json);
    if (!p.ok) {
      this.refused += 1;
      const fields = { ...where, field: p.field, reason: p.message };
      this.ctx.log.error(fields, 'refused an invalid policy');
      return true;
    }
    const v = p.rules.version;
    if (this.version !== null && v <= this.version) {
      this.refused += 1;
      const reason = `version ${v} is not greater than the last published version ${this.version}`;
      this.ctx.log.error({ ...where, field: 'policy.version', reason }, 'refused a policy');
      return true;
    }
    try {
      const f = await this.ctx.publisher.publish('policy', p.rules as unknown as JsonObject);
      this.published += 1;
      this.version = v;
      this.ctx.log.info({ ...where, version: v, hlc: f.hlc, seq: f.seq }, 'policy published');
      return true;
    } catch (err) {
      const fields = { ...where, version: v };
      if (reportUnpublished(this.ctx.log, err, fields, 'publishing the policy failed')) {
        this.failed += 1;
      }
      return false;
    }
  }
}

/**
 * Start the loader: reads the last published version from the WAL, then loads the source
 * once and keeps watching it.
 */
export async function startPolicyFeeder(
  ctx: FeederContext,
  o: PolicyFeederOptions,
): Promise<Feeder<PolicyStats>> {
  checkIntOption('interval ms', o.intervalMs, 1, 86_400_000);
  const last = await resumeFrom(ctx, 'policy');
  const r = last === null ? null : policyRulesFrom(last.payload, 'policy');
  const loader = new PolicyLoader(ctx, o, r?.ok === true ? r.value.version : null);
  if (o.source.type === 'file') loader.startFile(o.source.path);
  else await loader.startKv(o.source.bucket, o.source.key);
  return loader;
}
