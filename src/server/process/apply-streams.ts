/**
 * Applying streams/definitions.ts to a server: create what is missing, leave what matches
 * alone, and report every field where a live stream, bucket or consumer differs from its
 * definition. It never updates a live config: some fields cannot change at all (deny_delete,
 * storage), others change the meaning of the log, so an operator or the caller decides.
 */
import {
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  CONSUMER_FIELD_SINCE,
  OMITTED_DEFAULTS,
  STREAM_FIELD_SINCE,
  type ConsumerDefinition,
  type KvDefinition,
  type StreamConfigSubset,
  type StreamDefinition,
  type StreamDefinitions,
} from '../../../streams/definitions.js';
import { SwooshError } from '../../protocol/errors.js';

/** Compare dotted versions numerically (`2.10.0` > `2.9.10`); missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** One field where a live config differs from its definition. */
export interface Drift {
  /** Stream, bucket stream (`KV_…`) or durable name. */
  readonly name: string;
  readonly field: string;
  readonly want: unknown;
  /** The live value; null when the server does not report the field. */
  readonly have: unknown;
}

/** What applyStreams found or did for one definition. */
export interface StreamReportItem {
  readonly kind: 'stream' | 'kv' | 'consumer';
  readonly name: string;
  /** `missing` only in check mode; `drift` items are left exactly as they were. */
  readonly action: 'created' | 'unchanged' | 'drift' | 'missing';
  readonly drift: readonly Drift[];
}

/** The outcome of applyStreams. */
export interface StreamReport {
  /** The server's version as it announced it on connect, e.g. `2.9.10`. */
  readonly server_version: string;
  readonly items: readonly StreamReportItem[];
}

/** `apply` creates what is missing; `check` only inspects. */
export interface ApplyStreamsOptions {
  readonly mode: 'apply' | 'check';
}

type Since = Readonly<Partial<Record<string, string>>>;

/**
 * The part of `config` a server of `version` understands: fields newer than the server are
 * left out, so they are neither sent nor compared.
 */
export function configForServer<T extends object>(config: T, since: Since, version: string): T {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(config)) {
    const min = since[field];
    if (min === undefined || compareVersions(version, min) >= 0) out[field] = value;
  }
  return out as T;
}

/** The wire form: empty strings are the server's "unset" and some APIs refuse them. */
function wire<T extends object>(config: T): T {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== '')) as T;
}

function zeroOf(want: unknown): unknown {
  if (typeof want === 'boolean') return false;
  if (typeof want === 'number') return 0;
  if (typeof want === 'string') return '';
  if (Array.isArray(want)) return [];
  return null;
}

/** Canonical JSON (sorted keys) for comparing wanted and live values. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * Every field `want` sets whose live value differs. A field the live config leaves out is
 * compared as the server's default for it (OMITTED_DEFAULTS, else the type's zero value).
 * Subject lists are sets: their order carries no meaning.
 */
export function diffConfig(name: string, want: object, have: object): Drift[] {
  const live = have as Record<string, unknown>;
  const drift: Drift[] = [];
  for (const [field, w] of Object.entries(want)) {
    if (w === undefined) continue;
    const h = live[field];
    const effective = h === undefined ? (OMITTED_DEFAULTS[field] ?? zeroOf(w)) : h;
    const norm = (v: unknown): unknown =>
      field === 'subjects' && Array.isArray(v) ? [...(v as string[])].sort() : v;
    if (canonical(norm(w)) !== canonical(norm(effective))) {
      drift.push({ name, field, want: w, have: h ?? null });
    }
  }
  return drift;
}

function apiCode(err: unknown): number | null {
  return err instanceof JetStreamApiError ? err.code : null;
}

function applyFailed(what: string, err: unknown): SwooshError {
  const msg = err instanceof Error ? err.message : String(err);
  return new SwooshError('stream_apply_failed', `${what}: ${msg}`, { retryable: true, cause: err });
}

async function liveStream(jsm: JetStreamManager, name: string): Promise<StreamConfig | null> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (err) {
    if (apiCode(err) === JetStreamApiCodes.StreamNotFound) return null;
    throw applyFailed(`stream info ${name}`, err);
  }
}

async function liveConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
): Promise<ConsumerConfig | null> {
  try {
    return (await jsm.consumers.info(stream, durable)).config;
  } catch (err) {
    const code = apiCode(err);
    // A missing stream means a missing consumer too (check mode on an empty server).
    if (code === JetStreamApiCodes.ConsumerNotFound || code === JetStreamApiCodes.StreamNotFound) {
      return null;
    }
    throw applyFailed(`consumer info ${stream}/${durable}`, err);
  }
}

interface Ctx {
  readonly jsm: JetStreamManager;
  readonly kvm: Kvm;
  readonly version: string;
  readonly mode: 'apply' | 'check';
}

function compared(
  kind: StreamReportItem['kind'],
  name: string,
  want: object,
  have: object,
): StreamReportItem {
  const drift = diffConfig(name, want, have);
  return { kind, name, action: drift.length === 0 ? 'unchanged' : 'drift', drift };
}

/**
 * Create with `create`, or compare when it already exists. If creating fails because someone
 * else created it meanwhile (two instances starting together), the winner's config is read
 * back and compared, so a race is reported like any pre-existing item.
 */
async function ensure<C extends object>(
  ctx: Ctx,
  item: { kind: StreamReportItem['kind']; name: string; want: C },
  read: () => Promise<C | null>,
  create: () => Promise<unknown>,
): Promise<StreamReportItem> {
  const { kind, name, want } = item;
  const have = await read();
  if (have !== null) return compared(kind, name, want, have);
  if (ctx.mode === 'check') return { kind, name, action: 'missing', drift: [] };
  try {
    await create();
    return { kind, name, action: 'created', drift: [] };
  } catch (err) {
    const raced = await read();
    if (raced !== null) return compared(kind, name, want, raced);
    throw applyFailed(`creating ${kind} ${name}`, err);
  }
}

function applyStream(ctx: Ctx, def: StreamDefinition): Promise<StreamReportItem> {
  const want = configForServer(def.config, STREAM_FIELD_SINCE, ctx.version);
  return ensure(
    ctx,
    { kind: 'stream', name: def.name, want },
    () => liveStream(ctx.jsm, def.name),
    () => ctx.jsm.streams.add(wire(want)),
  );
}

function applyKv(ctx: Ctx, def: KvDefinition): Promise<StreamReportItem> {
  const want: StreamConfigSubset = configForServer(def.config, STREAM_FIELD_SINCE, ctx.version);
  return ensure(
    ctx,
    { kind: 'kv', name: def.name, want },
    () => liveStream(ctx.jsm, def.name),
    () => ctx.kvm.create(def.bucket, { ...def.options }),
  );
}

function applyConsumer(ctx: Ctx, def: ConsumerDefinition): Promise<StreamReportItem> {
  const want = configForServer(def.config, CONSUMER_FIELD_SINCE, ctx.version);
  return ensure(
    ctx,
    { kind: 'consumer', name: def.name, want },
    () => liveConsumer(ctx.jsm, def.stream, def.name),
    () => ctx.jsm.consumers.add(def.stream, wire(want)),
  );
}

/**
 * Bring the server in line with `defs` as far as is safe: create missing streams, KV buckets
 * (through the KV API) and the writer's durable consumer; compare existing ones field by field
 * and report drift without touching them. `mode: 'check'` creates nothing. Fields newer than
 * the server's version are neither sent nor compared. Streams come first: the consumer needs
 * its stream.
 */
export async function applyStreams(
  nc: NatsConnection,
  defs: StreamDefinitions,
  opts: ApplyStreamsOptions,
): Promise<StreamReport> {
  const version = nc.info?.version;
  if (version === undefined) {
    throw new SwooshError('stream_apply_failed', 'not connected: the server version is unknown', {
      retryable: true,
    });
  }
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    throw applyFailed('JetStream is not available', err);
  }
  const ctx: Ctx = { jsm, kvm: new Kvm(nc), version, mode: opts.mode };
  const items: StreamReportItem[] = [];
  for (const def of defs.streams) items.push(await applyStream(ctx, def));
  for (const def of defs.kv) items.push(await applyKv(ctx, def));
  for (const def of defs.consumers) items.push(await applyConsumer(ctx, def));
  return { server_version: version, items };
}

/** Throw `stream_drift` naming every drifted field of `report`; return quietly if none. */
export function assertNoDrift(report: StreamReport): void {
  const drift = report.items.flatMap((i) => i.drift.map((d) => ({ kind: i.kind, ...d })));
  if (drift.length === 0) return;
  const lines = drift.map(
    (d) => `  ${d.kind} ${d.name}: ${d.field} want ${canonical(d.want)} have ${canonical(d.have)}`,
  );
  throw new SwooshError(
    'stream_drift',
    `live JetStream config differs from streams/definitions.ts (server ` +
      `${report.server_version}); nothing was changed. Fix the definition or update the ` +
      `live config (see streams/README.md):\n${lines.join('\n')}`,
  );
}
