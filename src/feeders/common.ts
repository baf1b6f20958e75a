/**
 * What every feeder shares (ARCHITECTURE §6): a NATS connection, a signer from a key file, an
 * HLC advanced with `hlcSend` so each fact is strictly after the last one this process sent,
 * a publisher that validates payloads as the core will and retries a bounded number of times,
 * a loop that never overlaps itself, and a process runner that stops on SIGINT/SIGTERM.
 *
 * Feeders live outside the deterministic core: they read the host clock and may use
 * randomness. What they must not do is publish a payload the core refuses, or two facts of a
 * kind out of HLC order — either becomes a rejected decision record.
 */
import {
  natsAuthEnv,
  natsAuthFiles,
  natsAuthOf,
  natsConnectOptions,
  redactNatsUrl,
  type NatsAuth,
  type NatsAuthValues,
} from '../protocol/nats-auth.js';
import { unlockAgeFiles } from '../protocol/age-secrets.js';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import {
  type FactKind,
  GENESIS_DEFAULTS,
  type Hlc,
  type JsonObject,
  checkFactPayload,
  formatHlc,
  hlcReceive,
  hlcSend,
  isJsonObject,
  parseHlc,
} from '../core/index.js';
import { createNodeSigner } from '../crypto/node-sign.js';
import { decodeEnvelope } from '../protocol/envelope.js';
import { SwooshError } from '../protocol/errors.js';
import { loadKeyFile } from '../protocol/files.js';
import { createLogger, type Logger } from '../server/observability/log.js';
import { publishFact, type BytesSigner } from '../protocol/publish.js';
import { subjectsFor } from '../../streams/definitions.js';
import { DEPLOYMENT_LICENCE_KEY } from '../server/process/deployment.js';

/** Publish attempts after the first. Why: rides out a leader election, not an outage. */
export const PUBLISH_RETRIES_DEFAULT = 3;
/** Most retries accepted. Why: a feeder must give up and report, not block for minutes. */
export const PUBLISH_RETRIES_MAX = 10;
/** First retry delay; doubled each attempt. */
export const PUBLISH_RETRY_DELAY_MS_DEFAULT = 200;
/** How long one publish waits for the JetStream ack. */
export const PUBLISH_TIMEOUT_MS_DEFAULT = 5_000;
/**
 * How far ahead of the host clock a stamp read back from the WAL may be and still be followed.
 * Why: the core's default `max_clock_skew_ms`; a fact further ahead was refused as
 * `hlc_too_far_ahead`, and following it would make every later fact of this feeder refused too.
 */
export const OBSERVE_AHEAD_MS_MAX = GENESIS_DEFAULTS.max_clock_skew_ms;
/** How long the first connect may take. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** Throw `invalid_config` naming `what` unless `v` is an integer in `min..max`. */
export function checkIntOption(what: string, v: number, min: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    const msg = `${what}: expected an integer in ${min}..${max}, got ${v}`;
    throw new SwooshError('invalid_config', msg);
  }
}

/** Everything a feeder needs to publish. */
export interface FeederContext {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly prefix: string;
  readonly signer: BytesSigner;
  readonly log: Logger;
  readonly publisher: FactPublisher;
}

/** A running feeder. */
export interface Feeder<S> {
  readonly kind: FactKind;
  /** Counters for logs and tests. */
  stats(): S;
  /** Stop timers and subscriptions and wait for work in flight. Idempotent. */
  stop(): Promise<void>;
}

/** A fact as published. */
export interface PublishedFact {
  readonly kind: FactKind;
  readonly hlc: string;
  /** The WAL sequence the server acknowledged. */
  readonly seq: number;
  /** True when JetStream dropped it as an exact re-send (same body within the window). */
  readonly duplicate: boolean;
}

/** Options of FactPublisher. */
export interface PublisherOptions {
  readonly retries?: number;
  readonly retryDelayMs?: number;
  /** The licence gate at the network: facts other than licence facts wait while it is shut. */
  readonly gate?: LicenceGate;
}

/** A fact held back because the deployment's licence expired (not a failure). */
export class FactHeldError extends Error {
  constructor(readonly kind: FactKind) {
    super(`the ${kind} fact is held: the deployment's licence expired (after its grace period)`);
    this.name = 'FactHeldError';
  }
}

/**
 * Report a publish that did not happen: a fact held by the licence gate is logged at debug
 * (the gate logs when it shuts and opens), anything else as an error. True for a failure.
 */
export function reportUnpublished(
  log: Logger,
  err: unknown,
  fields: Readonly<Record<string, unknown>>,
  msg: string,
): boolean {
  if (err instanceof FactHeldError) {
    log.debug({ ...fields, kind: err.kind }, 'fact held: the licence expired');
    return false;
  }
  log.error({ ...fields, err }, msg);
  return true;
}

/** How long a feeder trusts its last reading of the licence gate. */
export const LICENCE_GATE_REFRESH_MS = 2_000;

/** The gate's last reading. */
interface GateReading {
  /** When it was read (host clock). */
  readonly atMs: number;
  /** When the grace of a revoked licence ends, as the deployment's instances published it. */
  readonly graceUntilMs: number | null;
}

/**
 * The licence gate at the network (brief §9), for feeders: once a revoked licence's grace
 * period is over, facts other than licence facts are not published — the licence feeder alone
 * keeps going, since only it can restore the licence. The deployment's instances publish the
 * decided licence status and the grace end in the deployment bucket (key `licence`,
 * src/server/process/deployment.ts); a feeder reads it with a stream message get (no consumer)
 * at most every LICENCE_GATE_REFRESH_MS and compares the grace end with its clock, as the HTTP
 * gateway does. A read that fails leaves the gate as it was (open at first): the writer
 * refuses what the licence does not allow in any case; this keeps such facts out of the log.
 */
export class LicenceGate {
  private reading: GateReading | null = null;
  private inFlight: Promise<void> | null = null;
  private shut = false;
  private heldCount = 0;
  private readFailed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Facts held back so far. */
  held(): number {
    return this.heldCount;
  }

  /** Count a fact held back (FactPublisher calls it). */
  noteHeld(): void {
    this.heldCount += 1;
  }

  /** True when facts other than licence facts may be published. */
  async open(): Promise<boolean> {
    const r = this.reading;
    if (r === null || this.now() - r.atMs >= LICENCE_GATE_REFRESH_MS) {
      this.inFlight ??= this.read().finally(() => {
        this.inFlight = null;
      });
      await this.inFlight;
    }
    const until = this.reading?.graceUntilMs ?? null;
    const shut = until !== null && this.now() >= until;
    if (shut !== this.shut) {
      this.shut = shut;
      if (shut) {
        this.log.warn({ grace_until: new Date(until).toISOString() },
          'licence expired (grace period over): holding every fact but licence facts');
      } else {
        this.log.info('licence restored: publishing facts again');
      }
    }
    return !shut;
  }

  private async read(): Promise<void> {
    let graceUntilMs = this.reading?.graceUntilMs ?? null;
    try {
      const s = subjectsFor(this.prefix);
      const jsm = await jetstreamManager(this.nc);
      const m = await jsm.streams.getMessage(`KV_${s.deploymentBucket}`, {
        last_by_subj: `$KV.${s.deploymentBucket}.${DEPLOYMENT_LICENCE_KEY}`,
      });
      graceUntilMs = m === null ? null : graceUntilOf(m.data);
      this.readFailed = false;
    } catch (err) {
      // Once per run of failures (a deployment whose instances have not started yet has no
      // bucket to read), not at every fact.
      const msg = 'cannot read whether the licence expired; the gate stays as it was';
      if (this.readFailed) this.log.debug({ err }, msg);
      else this.log.warn({ err }, msg);
      this.readFailed = true;
    }
    this.reading = { atMs: this.now(), graceUntilMs };
  }
}

/** `grace_until_ms` of a licence gate record, or null (none, or not a record SWOOSH wrote). */
function graceUntilOf(data: Uint8Array): number | null {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (err) {
    void err; // a stray value under the key: no gate (the writer still enforces the licence)
    return null;
  }
  const g = isJsonObject(v) ? v['grace_until_ms'] : null;
  // An instant a Date can hold (a stray value out of range is no gate, not an exception).
  return typeof g === 'number' && Number.isSafeInteger(g) && g >= 0 && g <= 8.64e15 ? g : null;
}

/** A payload the core would refuse; a feeder bug, never published. */
export class FactRefusedError extends Error {
  constructor(readonly kind: FactKind, readonly problem: string) {
    super(`refusing to publish a ${kind} fact the core would reject: ${problem}`);
    this.name = 'FactRefusedError';
  }
}

/** Sleep `ms`, resolving early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Signs and publishes facts one at a time. One queue per process: the WAL orders entries by
 * arrival, so two facts in flight at once could land out of HLC order and the later-stamped
 * one that landed first would make the other stale. A retry re-sends the same body (same HLC,
 * same signature: Ed25519 is deterministic), so JetStream deduplicates it by `Nats-Msg-Id`
 * if the first attempt did land and only its ack was lost.
 */
export class FactPublisher {
  private hlc: Hlc = { ms: 0, logical: 0 };
  private queue: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly gate: LicenceGate | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly prefix: string,
    private readonly signer: BytesSigner,
    private readonly log: Logger,
    opts: PublisherOptions = {},
  ) {
    this.retries = opts.retries ?? PUBLISH_RETRIES_DEFAULT;
    this.retryDelayMs = opts.retryDelayMs ?? PUBLISH_RETRY_DELAY_MS_DEFAULT;
    this.gate = opts.gate;
    checkIntOption('publish retries', this.retries, 0, PUBLISH_RETRIES_MAX);
  }

  /**
   * Move the clock past `hlc` (e.g. the last fact on the WAL), so the next fact is after it.
   * Returns how far `hlc` is ahead of the host clock in ms; a stamp further ahead than
   * `OBSERVE_AHEAD_MS_MAX` is not followed (0 is returned for an unparsable one).
   */
  observe(hlc: string): number {
    const p = parseHlc(hlc);
    if (!p.ok) return 0;
    const now = Date.now();
    const aheadMs = p.hlc.ms - now;
    if (aheadMs <= OBSERVE_AHEAD_MS_MAX) this.hlc = hlcReceive(this.hlc, p.hlc, now);
    return aheadMs;
  }

  /** Validate, stamp, sign and publish `payload` as a `kind` fact, after earlier ones. */
  publish(kind: FactKind, payload: JsonObject): Promise<PublishedFact> {
    const next = this.queue.then(() => this.send(kind, payload));
    // The caller gets the error through `next`; the queue only keeps the order.
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Abandon retries in progress (the attempt on the wire still completes). */
  close(): void {
    this.abort.abort();
  }

  private async send(kind: FactKind, payload: JsonObject): Promise<PublishedFact> {
    const problem = checkFactPayload(kind, payload);
    if (problem !== null) throw new FactRefusedError(kind, problem.message);
    if (kind !== 'license' && this.gate !== undefined && !(await this.gate.open())) {
      this.gate.noteHeld();
      throw new FactHeldError(kind);
    }
    this.hlc = hlcSend(this.hlc, Date.now());
    const hlc = formatHlc(this.hlc);
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await publishFact(this.js, this.prefix, { kind, hlc, payload }, this.signer);
        return { kind, hlc, seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (attempt >= this.retries || this.abort.signal.aborted) {
          throw new Error(`publishing the ${kind} fact failed after ${attempt + 1} attempt(s)`, {
            cause: err,
          });
        }
        const delayMs = this.retryDelayMs * 2 ** attempt;
        this.log.warn({ err, kind, attempt: attempt + 1, retry_in_ms: delayMs }, 'publish failed');
        await sleep(delayMs, this.abort.signal);
      }
    }
  }
}

/** The last fact of `kind` on the WAL, as the feeder published it. */
export interface LastFact {
  readonly hlc: string;
  readonly payload: JsonObject;
}

/**
 * The last `kind` fact on `<P>_WAL`, or null when there is none or it cannot be read (a
 * feeder's credentials may allow publishing only; that is logged, not fatal). Also moves the
 * publisher's clock past it, so a restart after the host clock stepped back stays in order.
 */
export async function resumeFrom(ctx: FeederContext, kind: FactKind): Promise<LastFact | null> {
  const s = subjectsFor(ctx.prefix);
  try {
    const jsm = await jetstreamManager(ctx.nc);
    const m = await jsm.streams.getMessage(s.walName, { last_by_subj: s.facts(kind) });
    if (m === null) return null;
    const env = decodeEnvelope(m.data);
    if (!env.ok) return null;
    const body: unknown = JSON.parse(Buffer.from(env.body).toString('utf8'));
    if (!isJsonObject(body) || typeof body['hlc'] !== 'string') return null;
    if (!isJsonObject(body['payload'])) return null;
    const aheadMs = ctx.publisher.observe(body['hlc']);
    if (aheadMs > OBSERVE_AHEAD_MS_MAX) {
      const msg = 'the last fact is stamped far ahead of this host clock; not following it';
      ctx.log.warn({ kind, hlc: body['hlc'], ahead_ms: aheadMs }, msg);
    }
    return { hlc: body['hlc'], payload: body['payload'] };
  } catch (err) {
    const msg = 'cannot read the last fact; starting without it';
    ctx.log.warn({ err, kind, stream: s.walName }, msg);
    return null;
  }
}

/**
 * Runs `body` now and then again `delayMs()` after each run ends, so runs never overlap and a
 * slow run delays the next instead of piling up. Errors are passed to `onError`.
 */
export class Loop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly body: () => Promise<void>,
    private readonly delayMs: () => number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Start with an immediate run. */
  start(): void {
    this.schedule(0);
  }

  /** Cancel the next run and wait for the current one. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.body()
        .catch((err: unknown) => this.onError(err))
        .then(() => {
          this.running = null;
          this.schedule(this.delayMs());
        });
    }, ms);
  }
}

/** Options every feeder process takes. */
export interface FeederProcessOptions {
  /** Feeder name: the logger's name is `swoosh-feeder-<name>`. */
  readonly name: string;
  readonly natsUrl: string;
  readonly prefix: string;
  readonly keyFile: string;
  readonly logLevel: string;
  readonly publishRetries: number;
  readonly publishTimeoutMs: number;
  /**
   * Credentials and TLS for NATS as given (flags over the environment; default: the
   * environment). Files are read, and age files unlocked, when the feeder starts.
   */
  readonly natsAuthValues?: NatsAuthValues;
}

/**
 * Connect to NATS (comma-separated URLs for a cluster) so that the connection reconnects
 * forever: a feeder outlives NATS restarts instead of exiting after a few attempts.
 */
export async function connectNats(
  url: string,
  name: string,
  auth: NatsAuth = natsAuthOf(natsAuthEnv()),
): Promise<NatsConnection> {
  const parts = natsConnectOptions(url.split(','), auth);
  try {
    return await connect({
      ...parts, name, noAsyncTraces: true, timeout: CONNECT_TIMEOUT_MS,
      maxReconnectAttempts: -1,
    });
  } catch (err) {
    const msg = `cannot connect to NATS at ${redactNatsUrl(url)}: ${(err as Error).message}`;
    throw new SwooshError('invalid_config', msg, { cause: err, retryable: true });
  }
}

/** Read the key file into a signer and open the connection and the publisher. */
export async function openFeederContext(
  o: FeederProcessOptions,
  log: Logger,
): Promise<FeederContext> {
  const values = o.natsAuthValues ?? natsAuthEnv();
  await unlockAgeFiles([o.keyFile, ...natsAuthFiles(values)]);
  const key = loadKeyFile(o.keyFile);
  const signer = createNodeSigner(key.seed);
  const nc = await connectNats(o.natsUrl, `swoosh-feeder-${o.name}`, natsAuthOf(values));
  const js = jetstream(nc, { timeout: o.publishTimeoutMs });
  const gate = new LicenceGate(nc, o.prefix, log);
  const publisher = new FactPublisher(js, o.prefix, signer, log, {
    retries: o.publishRetries, gate,
  });
  return { nc, js, prefix: o.prefix, signer, log, publisher };
}

/** What a feeder's start function returns to the process runner. */
export interface Started {
  readonly feeder: Feeder<unknown>;
  /** Extra fields of the ready line (never secrets). */
  readonly ready: Readonly<Record<string, unknown>>;
}

/**
 * Run one feeder as a process: connect, start it, print one `{"event":"ready",…}` line, and
 * on SIGINT/SIGTERM stop it, drain the connection and exit 0. If the NATS connection closes
 * for good, exit 1 so a supervisor restarts the feeder.
 */
export async function runFeederProcess(
  o: FeederProcessOptions,
  start: (ctx: FeederContext) => Promise<Started>,
): Promise<void> {
  const log = createLogger({ name: `swoosh-feeder-${o.name}`, level: o.logLevel });
  const ctx = await openFeederContext(o, log);
  let stopping = false;
  let started: Started;
  try {
    started = await start(ctx);
  } catch (err) {
    await ctx.nc.close();
    throw err;
  }
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, stats: started.feeder.stats() }, 'stopping');
    ctx.publisher.close();
    started.feeder.stop()
      .then(() => ctx.nc.drain())
      .then(() => process.exit(0), (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      });
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  void ctx.nc.closed().then((err) => {
    if (stopping) return;
    log.error({ err }, 'NATS connection closed; exiting so a supervisor restarts the feeder');
    process.exit(1);
  });
  const subject = subjectsFor(o.prefix).facts(started.feeder.kind);
  const ready = {
    event: 'ready', feeder: o.name, prefix: o.prefix, subject, signer: ctx.signer.signer,
    ...started.ready,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}
