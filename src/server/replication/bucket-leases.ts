/**
 * Bucket leases and membership in the `<P>_LEASES` KV bucket (docs/adr/0002-many-projects.md,
 * §4): one lease per bucket of projects (`bucket.<n>`) and one heartbeat per live process
 * (`member.<name>`), both expired by the bucket's TTL like the writer lease (lease.ts).
 *
 * Each `tick` (numbered steps in `tickOnce`): renew this member's heartbeat; list the live
 * members; compute the buckets this member should hold (buckets.ts, HRW with capacity);
 * renew the leases it holds and still wants, try to create the wanted ones it lacks (a create
 * fails while another member holds the bucket), and give up the ones it no longer wants, so
 * that their designated holder, a live member by construction, takes them on its next tick.
 * A member that stops ticking loses its heartbeat and its leases after one TTL, and the others
 * share its buckets.
 *
 * Exclusivity comes from KV revisions: create only succeeds on an absent (or deleted) key,
 * renew and release only with the revision this member wrote last. `held(b)` is also bounded
 * in time with the writer lease's rule (VALID_FRACTION of the TTL since the last successful
 * create or renew was *sent*, on a monotonic clock), so a member resumed after a pause knows at
 * once that it may have been replaced.
 *
 * Members are listed from the stream's subjects (`streamKeyLister`), then read one by one: the
 * KV client's `keys()` would leave an ephemeral consumer on the server for five minutes at every
 * tick.
 *
 * A failing KV operation never escapes `tick` or `releaseAll`: it is logged and the member
 * tries again on its next tick.
 */
import { randomUUID } from 'node:crypto';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { assertBucketCount, assignBuckets } from './buckets.js';
import { VALID_FRACTION } from './lease.js';

/** Where this member's log lines go. */
export type BucketLeasesLog = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void;

/** Options of a BucketLeases. */
export interface BucketLeasesOptions {
  /** This process's member name: KV key tokens (`A-Z a-z 0-9 - _ = /`) joined by dots. */
  readonly member: string;
  /** The deployment's bucket count B. */
  readonly buckets: number;
  /** The TTL of the leases KV bucket (its max_age), in milliseconds. */
  readonly ttlMs: number;
  /** The keys of the leases bucket that start with a prefix: see `streamKeyLister`. */
  readonly listKeys: KeyLister;
  /**
   * The KV key of bucket n's lease (default `bucket.<n>`); a deployment maps one extra bucket
   * to its deployment chain's lease this way.
   */
  readonly keyOf?: (n: number) => string;
  /** Monotonic clock in ms; default performance.now(). */
  readonly now?: () => number;
  readonly log?: BucketLeasesLog;
}

/** What one tick did. Bucket lists are ascending. */
export interface BucketTick {
  /** The live members this tick saw; null when it could not list them. */
  readonly members: readonly string[] | null;
  /** Newly created leases. */
  readonly acquired: readonly number[];
  /** Leases given up because another member should hold them. */
  readonly released: readonly number[];
  /**
   * Leases lost: their renewal was refused (another member holds them, or they expired), or
   * renewals went unanswered for a whole TTL.
   */
  readonly lost: readonly number[];
  /** Every bucket held after the tick (as `heldBuckets()`). */
  readonly held: readonly number[];
}

/** Most members a tick accepts: the assignment costs B × members hashes per tick. */
export const MEMBERS_MAX = 1_024;
const MEMBER_NAME_LENGTH_MAX = 128;
const MEMBER_NAME = /^[-/_=A-Za-z0-9]+(\.[-/_=A-Za-z0-9]+)*$/;
const MEMBER_PREFIX = 'member.';

/**
 * The keys of a KV bucket that start with `prefix` and have a message (deleted keys included:
 * their delete marker is a message; expired keys excluded), in any order.
 */
export type KeyLister = (prefix: string) => Promise<readonly string[]>;

/**
 * A KeyLister for KV bucket `bucket` that asks for its stream's subjects (one request, paged by
 * the client past the server's page size) and creates no consumer.
 */
export function streamKeyLister(jsm: JetStreamManager, bucket: string): KeyLister {
  const subjectPrefix = `$KV.${bucket}.`;
  return async (prefix) => {
    const info = await jsm.streams.info(`KV_${bucket}`, {
      subjects_filter: `${subjectPrefix}${prefix}>`,
    });
    return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(subjectPrefix.length));
  };
}

/** The KV key of bucket `n`'s lease. */
export function bucketKey(n: number): string {
  return `bucket.${n}`;
}

/** The KV key of a member's heartbeat. */
export function memberKey(name: string): string {
  return `${MEMBER_PREFIX}${name}`;
}

/** A lease this member wrote: the revision to renew with, and when that write was sent. */
interface Held {
  revision: number;
  sentAt: number;
}

type Attempt<T> = { ok: true; value: T } | { ok: false; err: unknown };

/** Run one KV call; a synchronous throw or a rejection becomes a value, never an exception. */
async function attempt<T>(op: () => Promise<T>): Promise<Attempt<T>> {
  try {
    return { ok: true, value: await op() };
  } catch (err) {
    return { ok: false, err };
  }
}

/** True for the server's "wrong last sequence": the key is not at the revision we named. */
function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The `incarnation` field of a heartbeat value, or null when it has none or is not JSON. */
function incarnationOf(value: Uint8Array): string | null {
  try {
    const v = JSON.parse(decoder.decode(value)) as { incarnation?: unknown };
    return typeof v.incarnation === 'string' ? v.incarnation : null;
  } catch (err) {
    void err; // not ours to parse: treat as written by someone else
    return null;
  }
}

/** One member's bucket leases and heartbeat. */
export class BucketLeases {
  private readonly member: string;
  private readonly buckets: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly log: BucketLeasesLog;
  private readonly listKeys: KeyLister;
  private readonly keyOf: (n: number) => string;
  /** Told apart from an earlier run (or a namesake) in the heartbeat value. */
  private readonly incarnation = randomUUID();
  private readonly leases = new Map<number, Held>();
  private memberRevision = 0;
  /** Ticks and releaseAll run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly kv: KV,
    opts: BucketLeasesOptions,
  ) {
    if (opts.member.length > MEMBER_NAME_LENGTH_MAX || !MEMBER_NAME.test(opts.member)) {
      throw new RangeError(
        `member name must be KV key tokens (A-Z a-z 0-9 - _ = /) joined by dots, at most ` +
          `${MEMBER_NAME_LENGTH_MAX} characters; got ${JSON.stringify(opts.member)}`,
      );
    }
    assertBucketCount(opts.buckets);
    if (!Number.isSafeInteger(opts.ttlMs) || opts.ttlMs < 1) {
      throw new RangeError(`lease TTL must be a positive integer of ms, got ${opts.ttlMs}`);
    }
    this.member = opts.member;
    this.buckets = opts.buckets;
    this.ttlMs = opts.ttlMs;
    this.listKeys = opts.listKeys;
    this.keyOf = opts.keyOf ?? bucketKey;
    this.now = opts.now ?? (() => performance.now());
    this.log = opts.log ?? (() => undefined);
  }

  /** True while this member holds bucket `b` and its last renewal is recent enough to trust. */
  held(b: number): boolean {
    const h = this.leases.get(b);
    return h !== undefined && this.now() - h.sentAt < this.ttlMs * VALID_FRACTION;
  }

  /** The buckets `held` is true for, ascending. */
  heldBuckets(): number[] {
    return [...this.leases.keys()].filter((b) => this.held(b)).sort((x, y) => x - y);
  }

  /** One round of heartbeat, membership and leases. Never rejects on a KV failure. */
  tick(): Promise<BucketTick> {
    return this.serial(() => this.tickOnce());
  }

  /** Give up every lease and the heartbeat (on shutdown), so others need not wait a TTL. */
  releaseAll(): Promise<void> {
    return this.serial(async () => {
      const leases = [...this.leases.entries()];
      this.leases.clear();
      const rev = this.memberRevision;
      this.memberRevision = 0;
      await Promise.all([
        ...leases.map(([b, h]) => this.remove(this.keyOf(b), h.revision, { bucket: b })),
        rev > 0 ? this.remove(memberKey(this.member), rev, {}) : Promise.resolve(),
      ]);
    });
  }

  /** Who holds bucket `b` now according to the KV bucket, if anyone. */
  async holderNow(b: number): Promise<string | null> {
    const e = await this.kv.get(this.keyOf(b));
    if (e === null || e.operation !== 'PUT') return null;
    return (JSON.parse(decoder.decode(e.value)) as { holder: string }).holder;
  }

  private serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.chain.then(run);
    // The chain only orders the calls; each caller gets its own result or error from `next`.
    this.chain = next.then(
      () => undefined,
      (err: unknown) => void err,
    );
    return next;
  }

  private async tickOnce(): Promise<BucketTick> {
    // 1. The heartbeat; without it this member cannot see itself among the live ones.
    const alive = await this.heartbeat();
    // 2. The live members (null: unknown, so this tick neither takes nor gives up buckets).
    const members = alive ? await this.liveMembers() : null;
    // 3. Who should hold each bucket among them.
    const owners = members === null ? null : assignBuckets(members, this.buckets);
    // 4. Renew what is held and still wanted (everything when the owners are unknown), give up
    //    the rest to its designated owner (a live member), create the wanted ones not held.
    const renew: number[] = [];
    const release: number[] = [];
    for (const b of this.leases.keys()) {
      if (owners === null || owners[b] === this.member) renew.push(b);
      else release.push(b);
    }
    const create: number[] = [];
    owners?.forEach((owner, b) => {
      if (owner === this.member && !this.leases.has(b)) create.push(b);
    });
    const [renewed, acquired] = await Promise.all([
      Promise.all(renew.map((b) => this.renew(b))),
      Promise.all(create.map((b) => this.create(b))),
      Promise.all(release.map((b) => this.release(b))),
    ]);
    const asc = (xs: number[]): number[] => xs.sort((x, y) => x - y);
    return {
      members,
      acquired: asc(create.filter((_, i) => acquired[i] === true)),
      released: asc(release),
      lost: asc(renew.filter((_, i) => renewed[i] === false)),
      held: this.heldBuckets(),
    };
  }

  private value(fields: Record<string, unknown>): Uint8Array {
    return encoder.encode(JSON.stringify({ ...fields, renewed_at_ms: Date.now() }));
  }

  /** Renew (or create) `member.<me>`; true when this member's heartbeat is now live. */
  private async heartbeat(): Promise<boolean> {
    const key = memberKey(this.member);
    const value = this.value({ member: this.member, incarnation: this.incarnation });
    const had = this.memberRevision;
    if (had > 0) {
      const r = await attempt(() => this.kv.update(key, value, had));
      if (r.ok) {
        this.memberRevision = r.value;
        return true;
      }
      this.memberRevision = 0;
      if (!isWrongLastSequence(r.err)) {
        this.log('warn', 'member heartbeat failed', { key, err: errText(r.err) });
        return false;
      }
      // Expired while this member was paused, or another process wrote it: write it afresh.
    }
    const c = await attempt(() => this.kv.create(key, value));
    if (c.ok) {
      this.memberRevision = c.value;
      return true;
    }
    if (!isWrongLastSequence(c.err)) {
      this.log('warn', 'member heartbeat failed', { key, err: errText(c.err) });
      return false;
    }
    return this.takeOverHeartbeat(key, value, had > 0);
  }

  /**
   * The heartbeat key is live but not at our revision: an earlier run of this member left it
   * (it expires within a TTL), or another process uses the same name. Write over it.
   */
  private async takeOverHeartbeat(key: string, value: Uint8Array, had: boolean): Promise<boolean> {
    const got = await attempt(() => this.kv.get(key));
    if (!got.ok || got.value === null) {
      const err = got.ok ? 'the key vanished' : errText(got.err);
      this.log('warn', 'member heartbeat failed', { key, err });
      return false;
    }
    const theirs = got.value;
    if (incarnationOf(theirs.value) !== this.incarnation) {
      // Right after a restart this is the previous run's heartbeat; later, a namesake's.
      if (had) {
        this.log('error', 'another process renews this member\'s heartbeat: names must be unique', {
          key,
        });
      } else {
        this.log('info', 'taking over the heartbeat an earlier run of this member left', { key });
      }
    }
    const u = await attempt(() => this.kv.update(key, value, theirs.revision));
    if (u.ok) {
      this.memberRevision = u.value;
      return true;
    }
    this.log('warn', 'member heartbeat failed', { key, err: errText(u.err) });
    return false;
  }

  /** The members whose heartbeat is live, sorted; null when the KV bucket did not answer. */
  private async liveMembers(): Promise<string[] | null> {
    const listed = await attempt(async () => {
      const keys = await this.listKeys(MEMBER_PREFIX);
      return keys
        .filter((k) => k.startsWith(MEMBER_PREFIX))
        .map((k) => k.slice(MEMBER_PREFIX.length));
    });
    if (!listed.ok) {
      this.log('warn', 'listing members failed', { err: errText(listed.err) });
      return null;
    }
    if (listed.value.length > MEMBERS_MAX) {
      this.log('error', 'too many members; not rebalancing', { members: listed.value.length });
      return null;
    }
    // Keep the keys whose last message is a value (not a delete marker, not expired since).
    const got = await Promise.all(
      listed.value.map((name) => attempt(() => this.kv.get(memberKey(name)))),
    );
    const names = new Set<string>([this.member]);
    for (const [i, r] of got.entries()) {
      if (!r.ok) {
        this.log('warn', 'reading a member heartbeat failed', { err: errText(r.err) });
        return null;
      }
      const name = listed.value[i];
      if (name !== undefined && r.value?.operation === 'PUT') names.add(name);
    }
    return [...names].sort();
  }

  /** Try to take bucket `b`; false while another member holds it. */
  private async create(b: number): Promise<boolean> {
    const sent = this.now();
    const value = this.value({ holder: this.member });
    const r = await attempt(() => this.kv.create(this.keyOf(b), value));
    if (r.ok) {
      this.leases.set(b, { revision: r.value, sentAt: sent });
      return true;
    }
    // Held by another member (wrong last sequence) is the normal case while it hands over.
    if (!isWrongLastSequence(r.err)) {
      this.log('warn', 'bucket lease create failed', { bucket: b, err: errText(r.err) });
    }
    return false;
  }

  /**
   * Renew bucket `b`; false when it is lost. A refused renewal (another revision) loses it at
   * once; any other failure keeps the revision to retry with until the lease has surely
   * expired (a TTL since the last renewal sent), `held` having turned false long before.
   */
  private async renew(b: number): Promise<boolean> {
    const h = this.leases.get(b);
    if (h === undefined) return false;
    const sent = this.now();
    const value = this.value({ holder: this.member });
    const r = await attempt(() => this.kv.update(this.keyOf(b), value, h.revision));
    if (r.ok) {
      this.leases.set(b, { revision: r.value, sentAt: sent });
      return true;
    }
    if (isWrongLastSequence(r.err)) {
      this.leases.delete(b);
      this.log('info', 'bucket lease lost', { bucket: b });
      return false;
    }
    this.log('warn', 'bucket lease renewal failed', { bucket: b, err: errText(r.err) });
    if (sent - h.sentAt >= this.ttlMs) {
      this.leases.delete(b);
      return false;
    }
    return true;
  }

  /** Give bucket `b` up, only at the revision this member wrote last. */
  private async release(b: number): Promise<void> {
    const h = this.leases.get(b);
    this.leases.delete(b);
    if (h !== undefined) await this.remove(this.keyOf(b), h.revision, { bucket: b });
  }

  /** Delete `key` if it is still at `revision`; a failure leaves it to expire by the TTL. */
  private async remove(
    key: string,
    revision: number,
    fields: Record<string, unknown>,
  ): Promise<void> {
    const r = await attempt(() => this.kv.delete(key, { previousSeq: revision }));
    if (!r.ok && !isWrongLastSequence(r.err)) {
      this.log('warn', 'lease release failed; it expires with the TTL', {
        ...fields,
        key,
        err: errText(r.err),
      });
    }
  }
}
