/**
 * Waiting for decision records. One plain core-NATS subscription per gateway on
 * `<prefix>.dr.>` feeds a map of waiters keyed by WAL seq (DR stream seq == WAL seq, and each
 * record carries its `wal_seq`); a short cache of recent records closes the gap between a
 * record arriving and its waiter being registered. When a record is not seen in time, a
 * direct get of the DECISIONS message at that seq settles it before anyone gives up.
 *
 * A core subscription also sees a record a fenced writer published and the stream refused.
 * Its content is the same as the stored one (records are a pure function of the WAL), so
 * answering from it is sound.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { decodeDr, type DecisionRecord } from '../protocol/decision-record.js';
import { HttpError } from './errors.js';

/** Records kept after arrival so a waiter registered a moment late still finds its record. */
export const RECENT_RECORDS_MAX = 1024;
/** Unchecked records kept per WAL seq at most (see `recent`). */
const RECENT_CANDIDATES_MAX = 4;

/** The NATS handles the waiter needs (a subset of `Instance.nats`). */
export interface WaiterNats {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly prefix: string;
  readonly subjects: { readonly decisionsName: string };
}

type Resolve = (r: DecisionRecord) => void;

/** True when `v` looks like a decision record (anything on the subject could be junk). */
function isRecord(v: unknown): v is DecisionRecord {
  if (typeof v !== 'object' || v === null) return false;
  const seq = (v as { wal_seq?: unknown }).wal_seq;
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0;
}

/** Waits for the decision record of a WAL seq. */
export class DecisionWaiter {
  private sub: Subscription | null = null;
  private subscribing: Promise<void> | null = null;
  private readonly waiters = new Map<number, Set<Resolve>>();
  /**
   * Recent records by WAL seq, not checked yet (a few candidates each: a stray may claim the
   * same WAL seq as the genuine record); checked only when a client asks for one, so the
   * gateway verifies the records it answers with, not every record the deployment writes.
   */
  private readonly recent = new Map<number, DecisionRecord[]>();

  /**
   * @param nats the instance's NATS handles, read when first needed (the instance may start
   *   after the gateway was built)
   * @param log where subscription and lookup failures are reported
   */
  constructor(
    private readonly nats: () => WaiterNats,
    private readonly log: Logger,
    /**
     * Whether a message shaped like a record is one a writer of this deployment signed (the
     * gateway: its signature verifies for a key the registry holds as a writer). Anything else
     * on a record subject (a foreign client's message) never answers a client.
     */
    private readonly trust: (r: DecisionRecord) => boolean = () => true,
  ) {}

  /** True when `r` may be shown to a client (see the constructor). */
  trusts(r: DecisionRecord): boolean {
    try {
      return this.trust(r);
    } catch (err) {
      this.log.debug({ err }, 'http: a record could not be checked; not shown');
      return false;
    }
  }

  /** The NATS handles, or `not_ready` when the instance is not connected. */
  handles(): WaiterNats {
    const n = this.nats();
    const nc = n.nc as NatsConnection | undefined;
    if (nc === undefined || nc.isClosed()) {
      throw new HttpError('not_ready', 'nats: the instance is not connected to NATS yet');
    }
    return n;
  }

  /** Subscribe once (idempotent; a failed attempt is retried by the next call). */
  async ensureSubscribed(): Promise<void> {
    if (this.sub !== null) return;
    this.subscribing ??= (async () => {
      const { nc, prefix } = this.handles();
      const sub = nc.subscribe(`${prefix}.dr.>`, {
        callback: (err, msg) => {
          if (err !== null) this.log.warn({ err }, 'http: decision subscription error');
          else this.onRecord(msg.data);
        },
      });
      await nc.flush();
      this.sub = sub;
    })().finally(() => {
      this.subscribing = null;
    });
    await this.subscribing;
  }

  private onRecord(data: Uint8Array): void {
    let rec: unknown;
    try {
      rec = decodeDr(data);
    } catch (err) {
      this.log.debug({ err }, 'http: ignoring a non-JSON message on the decision subject');
      return;
    }
    if (!isRecord(rec)) return;
    const ws = this.waiters.get(rec.wal_seq);
    if (ws === undefined) {
      this.remember(rec);
      return;
    }
    if (!this.trusts(rec)) return;
    this.recent.set(rec.wal_seq, [rec]);
    this.waiters.delete(rec.wal_seq);
    for (const w of ws) w(rec);
  }

  private remember(rec: DecisionRecord): void {
    const list = this.recent.get(rec.wal_seq) ?? [];
    this.recent.delete(rec.wal_seq);
    // A few candidates per WAL seq at most: the first ones seen stay (a flood of strays on one
    // seq does not push out a genuine record already held).
    if (list.length < RECENT_CANDIDATES_MAX) list.push(rec);
    this.recent.set(rec.wal_seq, list);
    if (this.recent.size > RECENT_RECORDS_MAX) {
      const oldest = this.recent.keys().next();
      if (oldest.done !== true) this.recent.delete(oldest.value);
    }
  }

  /** The trusted record of `seq` among the recent candidates (checked now), or undefined. */
  private recentTrusted(seq: number): DecisionRecord | undefined {
    const list = this.recent.get(seq);
    if (list === undefined) return undefined;
    const ok = list.find((r) => this.trusts(r));
    if (ok === undefined) {
      this.recent.delete(seq);
      return undefined;
    }
    if (list.length > 1) this.recent.set(seq, [ok]);
    return ok;
  }

  /** The stored record at `seq` (cache, then a direct get); null when there is none. */
  async stored(seq: number): Promise<DecisionRecord | null> {
    const hit = this.recentTrusted(seq);
    if (hit !== undefined) return hit;
    const { jsm, subjects } = this.handles();
    const m = await jsm.streams.getMessage(subjects.decisionsName, { seq })
      .catch((err: unknown) => {
        this.log.warn({ err, seq }, 'http: reading DECISIONS failed');
        throw new HttpError('log_unavailable',
          `wal_seq: reading the decision record ${seq} failed`);
      });
    if (m === null) return null;
    let rec: unknown;
    try {
      rec = decodeDr(m.data);
    } catch (err) {
      // A stray on a record subject is not a record: never fatal to a read.
      this.log.debug({ err, seq }, 'http: a DECISIONS message that is not a record');
      return null;
    }
    // With writers by bucket, stream seq and WAL seq differ: only the subscription finds it.
    if (!isRecord(rec) || rec.wal_seq !== seq || !this.trusts(rec)) return null;
    this.recent.set(seq, [rec]);
    return rec;
  }

  /**
   * The record of `seq` as soon as it is seen, or null when neither the subscription nor a
   * final direct get found it within `timeoutMs`. `probe` also looks it up right away (for a
   * seq that may have been decided long ago, like the original of an exact re-send).
   */
  wait(seq: number, timeoutMs: number, probe: boolean): Promise<DecisionRecord | null> {
    const hit = this.recentTrusted(seq);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: DecisionRecord | null): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const ws = this.waiters.get(seq);
        ws?.delete(finish);
        if (ws?.size === 0) this.waiters.delete(seq);
        resolve(r);
      };
      const ws = this.waiters.get(seq) ?? new Set<Resolve>();
      ws.add(finish);
      this.waiters.set(seq, ws);
      const lookUp = (final: boolean): void => {
        this.stored(seq).then((r) => {
          if (r !== null || final) finish(r);
        }, (err: unknown) => {
          this.log.debug({ err, seq }, 'http: decision lookup failed');
          if (final) finish(null);
        });
      };
      const timer = setTimeout(() => lookUp(true), timeoutMs);
      if (probe) lookUp(false);
    });
  }

  /** Stop listening; pending waiters still settle through their timeout lookups. */
  close(): void {
    this.sub?.unsubscribe();
    this.sub = null;
  }
}
