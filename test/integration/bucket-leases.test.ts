/**
 * Bucket leases and membership against a real nats-server (docs/adr/0002-many-projects.md §4):
 * the `<P>_LEASES` KV bucket exactly as streams/definitions.ts declares it, with a short TTL,
 * and BucketLeases members ticking on their own. Checked through the KV values (`{holder}`),
 * not only through what each member believes:
 *  - one member takes all 64 buckets;
 *  - a second member joins and within a few ticks both hold 32, never one bucket at once;
 *  - a member that stops ticking loses its buckets to the other within a TTL and a tick (plus
 *    the server's expiry timer);
 *  - a paused member (its monotonic clock moved on, no tick) reports held(b) false at once.
 * Each case has its own bucket, so heartbeats of one never reach another.
 */
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BucketLeases,
  bucketKey,
  streamKeyLister,
  type BucketLeasesLog,
  type KeyLister,
} from '../../src/server/replication/bucket-leases.js';
import { assignBuckets, desiredBuckets } from '../../src/server/replication/buckets.js';
import { VALID_FRACTION } from '../../src/server/replication/lease.js';
import { streamDefinitions } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';

const B = 64;
const TTL_MS = 1_500;
/** Ticks every TICK_MS, well inside the ¾ TTL a renewal is trusted for. */
const TICK_MS = 250;
/**
 * The server removes expired messages on a timer of its own, not at the exact instant; the
 * writer-lease tests allow it a second too (test/integration/fence.test.ts).
 */
const EXPIRY_SLACK_MS = 1_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A member ticking on its own, as a process would; its warnings are collected. */
class Member {
  readonly leases: BucketLeases;
  readonly warnings: string[] = [];
  /** performance.now() when the last tick started (its renewals were sent after it). */
  lastTickAt = 0;
  /** Added to performance.now() in the member's clock, to simulate a pause. */
  skewMs = 0;
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(kv: KV, listKeys: KeyLister, readonly name: string) {
    const log: BucketLeasesLog = (level, msg, fields) => {
      if (level !== 'info') this.warnings.push(`${level} ${msg} ${JSON.stringify(fields)}`);
    };
    this.leases = new BucketLeases(kv, {
      member: name, buckets: B, ttlMs: TTL_MS, listKeys, log,
      now: () => performance.now() + this.skewMs,
    });
  }

  async tick(): Promise<void> {
    this.lastTickAt = performance.now();
    await this.leases.tick();
  }

  start(): void {
    this.stopping = false;
    this.running = (async () => {
      while (!this.stopping) {
        await this.tick();
        await sleep(TICK_MS);
      }
    })();
  }

  /** Stop ticking (nothing released: as if the process froze or died). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    this.running = null;
  }
}

describe('bucket leases on <P>_LEASES', () => {
  let fx: NatsFixture | undefined;
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let jsm: JetStreamManager | undefined;
  const members: Member[] = [];

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    await Promise.all(members.map((m) => m.stop()));
    await nc?.close();
    await fx?.close();
  });

  interface Leases {
    readonly kv: KV;
    readonly listKeys: KeyLister;
    readonly stream: string;
  }

  /** A fresh `<P>_LEASES` bucket, with the options the deployment declares for it. */
  async function leasesBucket(tag: string): Promise<Leases> {
    if (fx === undefined || js === undefined || jsm === undefined) {
      throw new Error('no NATS fixture: beforeAll failed');
    }
    const defs = streamDefinitions({ prefix: `${fx.prefix}${tag}`, replicas: 1, leaseTtlMs: TTL_MS });
    const def = defs.kv.find((k) => k.bucket === defs.subjects.leasesBucket);
    if (def === undefined) throw new Error('streams/definitions.ts declares no leases bucket');
    expect(def.options.ttl).toBe(TTL_MS);
    const kv = await new Kvm(js).create(def.bucket, def.options);
    return { kv, listKeys: streamKeyLister(jsm, def.bucket), stream: def.name };
  }

  function member(l: Leases, name: string): Member {
    const m = new Member(l.kv, l.listKeys, name);
    members.push(m);
    return m;
  }

  /** The holder written in each bucket's lease, null where none is live. */
  async function holders({ kv }: Leases): Promise<(string | null)[]> {
    return Promise.all(
      Array.from({ length: B }, async (_, b) => {
        const e = await kv.get(bucketKey(b));
        if (e === null || e.operation !== 'PUT') return null;
        return (JSON.parse(new TextDecoder().decode(e.value)) as { holder: string }).holder;
      }),
    );
  }

  /** Poll `cond` every 50 ms until it holds; fail after `ms`. */
  async function until(what: string, ms: number, cond: () => Promise<boolean>): Promise<number> {
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      if (await cond()) return performance.now();
      await sleep(50);
    }
    throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }

  const all = Array.from({ length: B }, (_, b) => b);

  it('Given one member, When it ticks once, Then it holds all 64 buckets, each lease naming it', async () => {
    const l = await leasesBucket('one');
    const a = member(l, 'a');
    await a.tick();
    expect(a.leases.heldBuckets()).toEqual(all);
    expect(await holders(l)).toEqual(all.map(() => 'a'));
    expect(a.warnings).toEqual([]);
  }, 10_000);

  it('Given a member holding everything, When a second joins, Then within a few ticks each holds 32 and no bucket is ever held by both', async () => {
    const l = await leasesBucket('join');
    const a = member(l, 'a');
    const b = member(l, 'b');
    await a.tick();
    a.start();
    b.start();
    const overlaps: number[] = [];
    // a's tick, b's first (the buckets it wants are held), a's release, b's creates: a few
    // ticks, each TICK_MS apart, and the polling; 6 ticks leave room for a slow machine.
    await until('a 32/32 split', 6 * TICK_MS + 500, async () => {
      const ha = a.leases.heldBuckets();
      const hb = b.leases.heldBuckets();
      overlaps.push(...ha.filter((x) => hb.includes(x)));
      const kvHolders = await holders(l);
      return ha.length === 32 && hb.length === 32 && kvHolders.every((h) => h !== null);
    });
    expect(overlaps, 'buckets both members believed they held').toEqual([]);
    const want = assignBuckets(['a', 'b'], B);
    expect(a.leases.heldBuckets()).toEqual(desiredBuckets('a', ['a', 'b'], B));
    expect(b.leases.heldBuckets()).toEqual(desiredBuckets('b', ['a', 'b'], B));
    expect(await holders(l)).toEqual(want);
    await Promise.all([a.stop(), b.stop()]);
    expect([...a.warnings, ...b.warnings]).toEqual([]);
    // Listing members left no consumer behind (kv.keys() would leave one per tick).
    if (jsm === undefined) throw new Error('no NATS fixture: beforeAll failed');
    expect(await jsm.consumers.list(l.stream).next()).toEqual([]);
  }, 10_000);

  it('Given two members sharing the buckets, When one stops ticking, Then the other holds all 64 within a TTL and a tick', async () => {
    const l = await leasesBucket('stop');
    const a = member(l, 'a');
    const b = member(l, 'b');
    a.start();
    b.start();
    await until('a 32/32 split', 4_000, () =>
      Promise.resolve(a.leases.heldBuckets().length === 32 && b.leases.heldBuckets().length === 32));
    await b.stop();
    const stoppedAt = b.lastTickAt;
    const bound = TTL_MS + TICK_MS + EXPIRY_SLACK_MS;
    const doneAt = await until('a to hold all 64', bound + 1_000, async () =>
      a.leases.heldBuckets().length === B && (await holders(l)).every((h) => h === 'a'));
    const took = doneAt - stoppedAt;
    console.info(`[bucket leases] takeover ${Math.round(took)} ms after b's last tick`);
    expect(took).toBeGreaterThanOrEqual(TTL_MS * VALID_FRACTION); // not before b's leases lapse
    expect(took).toBeLessThanOrEqual(bound);
    expect(b.leases.heldBuckets(), 'b, stopped, trusts none of its renewals').toEqual([]);
    await a.stop();
  }, 15_000);

  it('Given a member holding buckets, When it is paused (no tick, its clock moved on), Then held(b) is false at once, and a tick restores it', async () => {
    const l = await leasesBucket('pause');
    const a = member(l, 'a');
    await a.tick();
    expect(a.leases.held(7)).toBe(true);
    a.skewMs = TTL_MS * VALID_FRACTION; // SIGSTOP … SIGCONT, shorter than the TTL
    expect(a.leases.held(7)).toBe(false);
    expect(a.leases.heldBuckets()).toEqual([]);
    // Nobody took them meanwhile: the next renewals land and restore the leases.
    await a.tick();
    expect(a.leases.heldBuckets()).toEqual(all);
  }, 10_000);
});
