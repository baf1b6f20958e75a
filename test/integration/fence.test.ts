/**
 * The writer fence (ARCHITECTURE §5): safety does not depend on the lease. Writer A is paused
 * with SIGSTOP for longer than the lease TTL; B takes the lease and writes; A is resumed with
 * SIGCONT while new entries arrive, so it wakes up believing it still writes and may try to
 * publish from its stale position. Whichever comes first — its lease renewal failing or its
 * fenced publish being refused (wrong last sequence, 10071) — the outcome must be:
 *  - B decides every entry while A is stopped, even those the server handed to A's still-open
 *    pull request (they stay there until ack_wait; B reads them from the WAL);
 *  - A steps down to follower within a few seconds, and B stays the writer;
 *  - every decision record after B's takeover is signed by B: none of A's got in;
 *  - one record per WAL entry and a clean audit (chain, signatures, content, TRANSITIONS);
 *  - A, now a follower, converges on the same state hash as B and the audit.
 * A second, deterministic case pins down the fence itself: a stale writer whose batch runs
 * from behind the log's tail to past it (the current writer stopped, one entry undecided) gets
 * its first record refused and sends nothing else — no record of it, even one that would pass
 * the per-record fence at the tail, and no TRANSITIONS record.
 * Seeded (printed; replay with SWOOSH_SEED=<seed>).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { JetStreamApiCodes, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { createNodeSigner } from '../../src/crypto/node-sign.js';
import { createNodeVerifier } from '../../src/crypto/verify.js';
import { audit } from '../../src/server/replication/audit.js';
import { decodeDr } from '../../src/protocol/decision-record.js';
import { StreamReader } from '../../src/protocol/batch-reader.js';
import { recover } from '../../src/server/replication/recovery.js';
import { SnapshotStore } from '../../src/server/replication/snapshots.js';
import { applyStreams, assertNoDrift } from '../../src/server/process/apply-streams.js';
import { FencedError, Writer } from '../../src/server/replication/writer.js';
import { CryptoPool } from '../../src/server/replication/crypto-pool.js';
import { streamDefinitions, subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { spawnInstance, waitUntil, writeInstanceFiles, type Proc } from '../support/proc.js';
import { publishLive } from '../../src/proving/sim/publish.js';
import { announceSeed } from '../support/seed.js';
import { CHAOS, streamSteps } from '../../src/proving/sim/stream.js';
import { World, castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';

const seed = Math.abs(announceSeed('fence integration'));

const LEASE_TTL_MS = 1500;
const LEASE = { SWOOSH_WRITERS: 'lease', SWOOSH_LEASE_TTL_MS: String(LEASE_TTL_MS), SWOOSH_LEASE_RENEW_MS: '300' } as const;
/** How long A stays stopped: past the lease TTL, with margin for the server's expiry timer. */
const PAUSE_MS = LEASE_TTL_MS + 1000;
/**
 * Entries per phase: A alone, B while A is stopped, B while A wakes up. A stopped process's
 * pull request stays open on the server, which shares deliveries between it and B's (round
 * robin), so some phase-2 entries sit in A's socket, never delivered to B; with an odd count
 * the last one tends to be among them (it was, every time, on nats-server 2.9), so nothing
 * later reveals the gap to B.
 */
const PHASES = { 1: 40, 2: 41, 3: 40 } as const;
/** How long A may take to notice it no longer writes. */
const STEP_DOWN_MS = 5_000;

describe('a paused writer that wakes up after a takeover', () => {
  let fx: NatsFixture;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const procs: Proc[] = [];
  const genesisRaw = castGenesis();
  const core = createCore(nodeHasher);
  const genesis = parseFixtureGenesis(genesisRaw, core);
  const files = writeInstanceFiles(genesisRaw);

  /** One installation per case: the first uses the fixture's prefix, the second its own. */
  const prefixOf = (c: 1 | 2): string => (c === 1 ? fx.prefix : `${fx.prefix}s`);

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    for (const c of [1, 2] as const) {
      assertNoDrift(await applyStreams(nc, streamDefinitions({ prefix: prefixOf(c), replicas: 1, leaseTtlMs: LEASE_TTL_MS }), { mode: 'apply' }));
    }
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await nc?.close();
    await fx?.close();
  });

  const names = (c: 1 | 2 = 1): ReturnType<typeof subjectsFor> => subjectsFor(prefixOf(c));
  const lastSeq = async (stream: string): Promise<number> => (await jsm.streams.info(stream)).state.last_seq;
  /** Publish on `nc` to `stream` expecting last sequence 0; returns the stream's err_code (never stored). */
  const fenceProbe = async (stream: string): Promise<number | undefined> => {
    const subject = ((await jsm.streams.info(stream)).config.subjects[0] ?? '').replace(/>$/, 'probe').replaceAll('*', 'probe');
    const hd = headers();
    hd.set('Nats-Expected-Last-Sequence', '0');
    const reply = await nc.request(subject, new Uint8Array(), { headers: hd, timeout: 5000 });
    return (JSON.parse(new TextDecoder().decode(reply.data)) as { error?: { err_code?: number } }).error?.err_code;
  };
  const spawn = async (name: string, c: 1 | 2 = 1): Promise<{ proc: Proc; signer: string }> => {
    const keyFile = files.keyFile(name);
    const proc = await spawnInstance({ natsUrl: fx.url, prefix: prefixOf(c), name, genesisFile: files.genesisFile, keyFile, env: { ...LEASE } });
    procs.push(proc);
    return { proc, signer: (JSON.parse(readFileSync(keyFile, 'utf8')) as { signer: string }).signer };
  };
  const allDecided = async (c: 1 | 2 = 1): Promise<boolean> => (await lastSeq(names(c).decisionsName)) === (await lastSeq(names(c).walName));
  const published = (c: 1 | 2, w: World, k: number, count: number): ReturnType<typeof publishLive> =>
    publishLive(js, jsm, prefixOf(c), names(c).walName, w, streamSteps(w, seed + k, count, { ...CHAOS, advance: 0 }));

  it('Given A stopped past its lease and B writing, When A resumes, Then none of A\'s records gets in and A steps down', async () => {
    const n = names();
    // Real time passes in a live run, so the offline "advance the clock" fault is off.
    const w = new World(genesisRaw, undefined, { baseMs: Date.now() });
    const phase = (k: 1 | 2 | 3): ReturnType<typeof publishLive> => published(1, w, k, PHASES[k]);

    // 1. A writes alone.
    const a = await spawn('a');
    await waitUntil('A writing', async () => (await a.proc.status()).role === 'writer', 10_000);
    await phase(1);
    await waitUntil('A decided phase 1', () => allDecided(1), 10_000);

    // 2. A is stopped past the lease TTL; B starts and takes over.
    a.proc.signal('SIGSTOP');
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, PAUSE_MS));
    const takeover = await lastSeq(n.decisionsName);
    const b = await spawn('b');
    await waitUntil('B writing', async () => (await b.proc.status()).role === 'writer', 10_000);

    // 3. B decides every new entry while A is still stopped, including those the server
    // delivered to A's still-open pull request (B finds them in the WAL, not the consumer).
    await phase(2);
    await waitUntil('B decided phase 2 with A stopped', () => allDecided(1), 5_000);
    expect(await lastSeq(n.decisionsName)).toBeGreaterThan(takeover);

    // 4. A wakes up in the middle of more traffic.
    a.proc.signal('SIGCONT');
    const pausedMs = Date.now() - stoppedAt;
    await phase(3);
    await waitUntil('A stepped down', async () => (await a.proc.status()).role === 'follower', STEP_DOWN_MS);
    await waitUntil('B decided phase 3', () => allDecided(1), 10_000);
    expect((await b.proc.status()).role).toBe('writer');

    // 5. Every record after the takeover is B's; before it, A's.
    const walLast = await lastSeq(n.walName);
    expect(walLast).toBe(PHASES[1] + PHASES[2] + PHASES[3]);
    const reader = new StreamReader(js, n.decisionsName, 1);
    try {
      for (let seq = 1; seq <= walLast; seq += 1) {
        const m = await reader.next(5_000);
        const rec = decodeDr(m.data);
        expect(m.seq).toBe(seq);
        expect(rec.wal_seq).toBe(seq);
        expect(rec.writer, `writer of record ${seq} (takeover after ${takeover})`).toBe(seq > takeover ? b.signer : a.signer);
      }
    } finally {
      await reader.close();
    }
    expect(await lastSeq(n.decisionsName)).toBe(walLast);

    // 6. The audit is clean, and A as a follower agrees with B and the audit.
    const report = await audit({ js, jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName });
    expect(report.problems).toEqual([]);
    expect(report.decision_records).toBe(walLast);
    expect(report.transition_records).toBe(report.applied_count);
    expect(w.head()).toBe(report.final_state_hash);
    expect((await b.proc.status()).state_hash).toBe(report.final_state_hash);
    await waitUntil('A caught up as a follower', async () => {
      const s = await a.proc.status();
      return s.role === 'follower' && s.wal_seq === walLast && s.state_hash === report.final_state_hash;
    }, STEP_DOWN_MS);
    const why = a.proc.output.filter((l) => l.includes('stepping down')).map((l) => (JSON.parse(l) as { msg: string }).msg);
    console.info(`[fence integration] A paused ${pausedMs} ms; takeover after record ${takeover}; ` +
      `${walLast} records; A: ${why.join(' / ') || '(no step-down line)'}`);
    expect(why.length).toBeGreaterThan(0);
  }, 60_000);

  it('Given a stale writer whose batch runs past the tail, When its first record is refused, Then it sends nothing else', async () => {
    const n = names(2);
    const w = new World(genesisRaw, undefined, { baseMs: Date.now() });
    const b = await spawn('b2', 2);
    await waitUntil('B writing', async () => (await b.proc.status()).role === 'writer', 10_000);
    await published(2, w, 11, 20);
    await waitUntil('B decided 20', () => allDecided(2), 10_000);

    // A replica of the log as it is now: it will be stale once B has written on.
    const snapshots = new SnapshotStore(await new Kvm(js).open(n.snapshotsBucket), nc.info?.max_payload ?? 1_048_576, 16);
    const stale = await recover({
      js, jsm, core, hasher: nodeHasher, verifier: createNodeVerifier(), genesis, snapshots,
      walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName, log: () => undefined,
    });
    expect(stale.replica.lastSeq).toBe(20);
    await published(2, w, 12, 10);
    await waitUntil('B decided 30', () => allDecided(2), 10_000);

    // B stops with one more entry undecided: DR(31) would pass the per-record fence.
    b.proc.signal('SIGSTOP');
    await published(2, w, 13, 1);
    const walLast = await lastSeq(n.walName);
    expect(walLast).toBe(31);
    expect(await lastSeq(n.decisionsName)).toBe(30);
    const trBefore = await lastSeq(n.transitionsName);

    // Both ways of running the writer: one batch on this thread, and small batches pipelined
    // with the crypto pool (batch N+1 decided and signed while N is in flight): when the
    // first is refused, nothing of any later batch may be sent, and the replica goes back.
    const seed = randomBytes(32);
    const signer = createNodeSigner(seed);
    const pool = await CryptoPool.create({ threads: 1, signerSeed: seed });
    try {
      for (const mode of [{ pool: null, batchMax: 256 }, { pool, batchMax: 3 }]) {
        const again = await recover({
          js, jsm, core, hasher: nodeHasher, verifier: createNodeVerifier(), genesis, snapshots,
          walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName, log: () => undefined,
        });
        again.replica.restore(stale.replica.position());
        const writer = new Writer({
          nc, js, jsm, replica: again.replica, signer, pool: mode.pool, leaseHeld: () => true, subjects: { dr: (c) => n.dr(c), transitions: (p, r, t) => n.transitions(p, r, t) },
          walName: n.walName, snapshots, snapshotEvery: 1000, batchMax: mode.batchMax, crashAt: new Map(),
          onDecided: () => undefined, onSnapshot: () => undefined, log: () => undefined,
        }, stale.snapshotRevision, stale.snapshotSeq);
        const err = await writer.catchUp(walLast).then(() => null, (e: unknown) => e);
        writer.close();
        expect(err, `batchMax ${mode.batchMax}`).toBeInstanceOf(FencedError);
        expect((err as FencedError).seq).toBe(21);
        expect(again.replica.lastSeq, 'the replica went back to before the refused batch').toBe(20);
        expect(writer.storedPosition().lastSeq).toBe(20);
        // Positive signal first: a probe sent on the writer's connection after it closed is
        // refused by each stream's fence (10071), so each stream has judged everything the
        // stale writer sent before it. Only then look for what must not be there.
        expect(await fenceProbe(n.decisionsName)).toBe(JetStreamApiCodes.StreamWrongLastSequence);
        expect(await fenceProbe(n.transitionsName)).toBe(JetStreamApiCodes.StreamWrongLastSequence);
        expect(await lastSeq(n.decisionsName), 'a record of the stale writer got in').toBe(30);
        expect(await lastSeq(n.transitionsName), 'a TRANSITIONS record of the stale writer got in').toBe(trBefore);
      }
    } finally {
      await pool.close();
    }

    // B resumes and decides the tail itself; the log audits clean, every record B's.
    b.proc.signal('SIGCONT');
    await waitUntil('B decided 31', () => allDecided(2), 10_000);
    const tail = decodeDr((await jsm.streams.getMessage(n.decisionsName, { seq: 31 }))?.data ?? new Uint8Array());
    expect(tail.writer).toBe(b.signer);
    const report = await audit({ js, jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName });
    expect(report.problems).toEqual([]);
    expect(report.decision_records).toBe(walLast);
    expect(report.transition_records).toBe(report.applied_count);
    expect(w.head()).toBe(report.final_state_hash);
  }, 30_000);
});
