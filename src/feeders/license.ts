/**
 * KACHING licence feeder: asks the licence service whether the licence is valid and publishes
 * `license` facts `{ status: 'active' | 'revoked', license_id }`.
 *
 * - Every `refreshMs` (± `jitterPct` %, so a fleet does not hit KACHING in step) it GETs
 *   `<url>?<queryParam>=<licenseId>`, with `Authorization: Bearer <token>` when a token is set.
 * - The answer must be `{ "valid": boolean, "license_id"?: string, "reason"?: string }`
 *   (other fields are ignored); a different `license_id` than asked for, a non-2xx status, a
 *   timeout, a network error or any other body is a failure.
 * - It publishes when the status changes, and re-affirms an unchanged status once
 *   `reaffirmMs` have passed since the last publish.
 * - On failure it keeps the last status and publishes nothing; after `maxFailures`
 *   consecutive failures it publishes `revoked`. The core then starts the genesis
 *   `license_grace_ms` grace period, so an outage reaches HARD_STOP after roughly
 *   `maxFailures × refreshMs + license_grace_ms` (docs/feeders.md).
 */
import { type JsonObject, isJsonObject } from '../core/index.js';
import { SwooshError } from '../protocol/errors.js';
import { checkIntOption, Loop, resumeFrom, type Feeder, type FeederContext } from './common.js';
import { getJson, HTTP_TIMEOUT_MS_MAX, loggableUrl, urlProblem } from './http-get.js';

/** Longest licence id. Why: the core's `license_id` schema is a string of 1..200 characters. */
export const LICENSE_ID_LENGTH_MAX = 200;
/** Largest jitter. Why: beyond ±90 % a refresh could come almost immediately after another. */
export const LICENSE_JITTER_PCT_MAX = 90;
/** Longest `reason` text copied into a log line. Why: it is text from outside. */
const REASON_LOG_CHARS_MAX = 200;

/** Configuration of the licence feeder. */
export interface LicenseFeederOptions {
  /** KACHING validation endpoint (http or https). */
  readonly url: string;
  readonly licenseId: string;
  /** Query parameter that carries the licence id; `license_id` unless given. */
  readonly queryParam?: string;
  /** Bearer token, or undefined for none. Never logged. */
  readonly token?: string | undefined;
  readonly refreshMs: number;
  readonly jitterPct: number;
  readonly reaffirmMs: number;
  readonly maxFailures: number;
  readonly timeoutMs: number;
  /** Random number in [0, 1); Math.random unless given (tests pin the jitter). */
  readonly random?: () => number;
}

/** Defaults of the CLI. */
export const LICENSE_DEFAULTS = {
  queryParam: 'license_id',
  /** One minute: a revocation is seen within a minute, KACHING sees one request a minute. */
  refreshMs: 60_000,
  jitterPct: 10,
  /** Ten minutes: the WAL shows the feeder alive without a fact every refresh. */
  reaffirmMs: 600_000,
  /** Five failed refreshes (about five minutes) before an outage counts as a revocation. */
  maxFailures: 5,
  timeoutMs: 5_000,
} as const;

/** The licence feeder's counters. */
export interface LicenseStats {
  readonly checks: number;
  readonly consecutive_failures: number;
  readonly published: number;
  /** The last status published, null before the first. */
  readonly status: 'active' | 'revoked' | null;
}

/** A checked KACHING answer. */
export type LicenseAnswer =
  | { readonly ok: true; readonly valid: boolean; readonly reason: string | null }
  | { readonly ok: false; readonly reason: string };

/** Validate a KACHING answer body for `licenseId`. */
export function parseLicenseAnswer(body: unknown, licenseId: string): LicenseAnswer {
  if (!isJsonObject(body)) return { ok: false, reason: 'answer: expected a JSON object' };
  const valid = body['valid'];
  if (typeof valid !== 'boolean') return { ok: false, reason: 'answer.valid: expected a boolean' };
  const id = body['license_id'];
  if (id !== undefined && typeof id !== 'string') {
    return { ok: false, reason: 'answer.license_id: expected a string' };
  }
  if (id !== undefined && id !== licenseId) {
    return { ok: false, reason: 'answer.license_id: names a different licence' };
  }
  const reason = body['reason'];
  if (reason !== undefined && typeof reason !== 'string') {
    return { ok: false, reason: 'answer.reason: expected a string' };
  }
  const text = reason === undefined ? null : reason.slice(0, REASON_LOG_CHARS_MAX);
  return { ok: true, valid, reason: text };
}

/** Check the options up front; every problem names the option. */
export function checkLicenseOptions(o: LicenseFeederOptions): void {
  const bad = urlProblem(o.url);
  if (bad !== null) throw new SwooshError('invalid_config', `license url: ${bad}`);
  const n = [...o.licenseId].length;
  if (n < 1 || n > LICENSE_ID_LENGTH_MAX) {
    const msg = `license id: expected 1..${LICENSE_ID_LENGTH_MAX} characters`;
    throw new SwooshError('invalid_config', msg);
  }
  if (o.queryParam === '') throw new SwooshError('invalid_config', 'query param: expected a name');
  checkIntOption('refresh ms', o.refreshMs, 1, 86_400_000);
  checkIntOption('jitter pct', o.jitterPct, 0, LICENSE_JITTER_PCT_MAX);
  checkIntOption('reaffirm ms', o.reaffirmMs, 1, 30 * 86_400_000);
  checkIntOption('max failures', o.maxFailures, 1, 1_000_000);
  checkIntOption('timeout ms', o.timeoutMs, 1, HTTP_TIMEOUT_MS_MAX);
}

/** The delay before the next refresh: `refreshMs` ± `jitterPct` %, at least 1 ms. */
export function jitteredMs(refreshMs: number, jitterPct: number, random: () => number): number {
  const factor = 1 + (jitterPct / 100) * (2 * random() - 1);
  return Math.max(1, Math.round(refreshMs * factor));
}

class LicenseFeeder implements Feeder<LicenseStats> {
  readonly kind = 'license' as const;
  private readonly loop: Loop;
  private checks = 0;
  private failures = 0;
  private published = 0;
  private lastStatus: 'active' | 'revoked' | null = null;
  private lastPublishMs = 0;

  constructor(private readonly ctx: FeederContext, private readonly o: LicenseFeederOptions) {
    const random = o.random ?? Math.random;
    this.loop = new Loop(
      () => this.check(),
      () => jitteredMs(o.refreshMs, o.jitterPct, random),
      (err) => ctx.log.error({ err }, 'licence check failed unexpectedly'),
    );
  }

  start(): void {
    this.loop.start();
  }

  stats(): LicenseStats {
    return {
      checks: this.checks, consecutive_failures: this.failures, published: this.published,
      status: this.lastStatus,
    };
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async ask(): Promise<LicenseAnswer> {
    const u = new URL(this.o.url);
    u.searchParams.set(this.o.queryParam ?? LICENSE_DEFAULTS.queryParam, this.o.licenseId);
    const headers: Record<string, string> = {};
    if (this.o.token !== undefined) headers['authorization'] = `Bearer ${this.o.token}`;
    const r = await getJson(u.href, { timeoutMs: this.o.timeoutMs, headers });
    return r.ok ? parseLicenseAnswer(r.json, this.o.licenseId) : r;
  }

  private async check(): Promise<void> {
    this.checks += 1;
    const a = await this.ask();
    let status: 'active' | 'revoked';
    if (a.ok) {
      this.failures = 0;
      status = a.valid ? 'active' : 'revoked';
      if (!a.valid) this.ctx.log.warn({ reason: a.reason }, 'KACHING says the licence is invalid');
    } else {
      this.failures += 1;
      const fields = {
        reason: a.reason, failures: this.failures, max_failures: this.o.maxFailures,
        url: loggableUrl(this.o.url),
      };
      this.ctx.log.warn(fields, 'licence check failed');
      if (this.failures < this.o.maxFailures) return;
      status = 'revoked';
    }
    await this.maybePublish(status);
  }

  private async maybePublish(status: 'active' | 'revoked'): Promise<void> {
    const now = Date.now();
    const changed = status !== this.lastStatus;
    if (!changed && now - this.lastPublishMs < this.o.reaffirmMs) return;
    const payload: JsonObject = { status, license_id: this.o.licenseId };
    try {
      const f = await this.ctx.publisher.publish('license', payload);
      this.published += 1;
      this.lastStatus = status;
      this.lastPublishMs = now;
      const msg = changed ? 'licence status published' : 'licence status re-affirmed';
      this.ctx.log.info({ status, hlc: f.hlc, seq: f.seq }, msg);
    } catch (err) {
      // The status stays unpublished, so the next check tries again.
      this.ctx.log.error({ err, status }, 'publishing the licence status failed');
    }
  }
}

/** Start the licence feeder: validates the options, then checks immediately. */
export async function startLicenseFeeder(
  ctx: FeederContext,
  o: LicenseFeederOptions,
): Promise<Feeder<LicenseStats>> {
  checkLicenseOptions(o);
  await resumeFrom(ctx, 'license');
  const f = new LicenseFeeder(ctx, o);
  f.start();
  return f;
}
