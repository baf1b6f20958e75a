/**
 * Crash recovery of the writer process (ARCHITECTURE §5, brief §12): the writer is killed with
 * SIGKILL at seeded points — before publishing a decision record, between the decision record
 * and its TRANSITIONS records, after storing but before acking the WAL messages, and while
 * writing a snapshot — and restarted. After every restart:
 *  - the crash really happened where it was asked for (the child died by SIGKILL, its log names
 *    the point, and the streams show the half-done work that point leaves behind);
 *  - the restarted writer catches up and the audit (a fresh replay of the whole WAL from
 *    genesis) finds no problem: one decision record per WAL entry, no more, no fewer, and
 *    exactly one TRANSITIONS record per applied transition, at its applied index;
 *  - the state hash the writer reports equals the audit's and the closed-loop producer's own
 *    fold (two uninterrupted runs over the same log);
 *  - nothing is left unacked on the writer's durable consumer (checked once at the end: the
 *    batch the live crash left unacked is redelivered only after ack_wait, 30 s).
 * The before_ack crash happens on the live path (entries arriving through the durable consumer
 * while the writer runs); the others in the catch-up of a writer started on a WAL that already
 * holds its round, where a whole pipelined batch is in flight when the process dies.
 * Crash seqs come from the run's seed (printed; replay with SWOOSH_SEED=<seed>).
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, type AuditReport } from '../../src/server/replication/audit.js';
import { decodeDr, type TransitionRecord } from '../../src/protocol/decision-record.js';
import { StreamReader } from '../../src/protocol/batch-reader.js';
import { SnapshotStore } from '../../src/server/replication/snapshots.js';
import { applyStreams, assertNoDrift } from '../../src/server/process/apply-streams.js';
import type { CrashPoint } from '../../src/server/replication/writer.js';
import { streamDefinitions, subjectsFor } from '../../streams/definitions.js';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { Rng } from '../../src/proving/sim/planner.js';
import { spawnInstance, waitUntil, writeInstanceFiles, type Proc } from '../support/proc.js';
import { publishLive } from '../../src/proving/sim/publish.js';
import { announceSeed } from '../support/seed.js';
import { CHAOS, streamSteps } from '../../src/proving/sim/stream.js';
import { World, castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';

const seed = Math.abs(announceSeed('crash integration'));

/** Entries published before the first writer starts (decided by its catch-up). */
const PRELUDE_ENTRIES = 40;
/** Entries per crash round. */
const ROUND_ENTRIES = 60;
/**
 * A crash target leaves at least this many entries of its round after it, so the point is
 * reached within the round: a snapshot comes every SNAPSHOT_EVERY decisions, and an applied
 * transition (between_dr_and_transitions waits for one) comes within a few entries.
 */
const ROUND_TAIL_MIN = 30;
const SNAPSHOT_EVERY = 25;
/** Doomed writers decide in small batches, so the crash lands near its target, not at the round's end. */
const DOOMED_BATCH_MAX = 16;
const LEASE = { SWOOSH_WRITERS: 'lease', SWOOSH_LEASE_TTL_MS: '1500', SWOOSH_LEASE_RENEW_MS: '300' } as const;
/**
 * How long the durable consumer waits for an ack before redelivering (streams/definitions.ts
 * default, not configurable per process): what the doomed writer had been delivered and not
 * acked comes back only then, so "nothing left unacked" is checked once, at the end.
 */
const ACK_WAIT_MS = 30_000;

/**
 * The rounds. before_ack exists only on the live path (a batch from the durable consumer), so
 * its round is published while the doomed writer runs, and it goes first: its unacked batch is
 * redelivered ACK_WAIT_MS later, by which time the other rounds are done. The other points
 * crash in the doomed writer's catch-up (its round published before it starts), where a whole
 * pipelined batch is in flight when the process dies, and nothing is delivered to it unacked.
 */
const rng = new Rng(seed ^ 0x5eed);
const ROUNDS = ([
  { point: 'before_ack', live: true },
  { point: 'before_publish', live: false },
  { point: 'between_dr_and_transitions', live: false },
  { point: 'during_snapshot', live: false },
] as const satisfies readonly { point: CrashPoint; live: boolean }[]).map((r, i) => {
  const base = PRELUDE_ENTRIES + i * ROUND_ENTRIES;
  return { ...r, target: base + 1 + rng.int(ROUND_ENTRIES - ROUND_TAIL_MIN) };
});
console.info(`[crash integration] crash targets ${ROUNDS.map((r) => `${r.point}:${r.target}`).join(', ')} (seed ${seed})`);

describe('writer killed with SIGKILL at seeded points and restarted', () => {
  let fx: NatsFixture;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const procs: Proc[] = [];
  const genesisRaw = castGenesis();
  const core = createCore(nodeHasher);
  const genesis = parseFixtureGenesis(genesisRaw, core);
  const files = writeInstanceFiles(genesisRaw);

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    // The same definitions the instances apply (same lease TTL), so theirs find no drift.
    assertNoDrift(await applyStreams(nc, streamDefinitions({ prefix: fx.prefix, replicas: 1, leaseTtlMs: Number(LEASE.SWOOSH_LEASE_TTL_MS) }), { mode: 'apply' }));
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await nc?.close();
    await fx?.close();
  });

  const names = (): ReturnType<typeof subjectsFor> => subjectsFor(fx.prefix);
  const lastSeq = async (stream: string): Promise<number> => (await jsm.streams.info(stream)).state.last_seq;
  const ackPending = async (): Promise<number> => (await jsm.consumers.info(names().walName, names().writerDurable)).num_ack_pending;

  const spawn = async (name: string, env: Record<string, string> = {}): Promise<Proc> => {
    const p = await spawnInstance({
      natsUrl: fx.url, prefix: fx.prefix, name, genesisFile: files.genesisFile, keyFile: files.keyFile(name),
      env: { ...LEASE, SWOOSH_SNAPSHOT_EVERY: String(SNAPSHOT_EVERY), ...env },
    });
    procs.push(p);
    return p;
  };

  const auditNow = (): Promise<AuditReport> => audit({
    js, jsm, genesis, walName: names().walName, decisionsName: names().decisionsName, transitionsName: names().transitionsName,
    aligned: true,
  });

  /** Every TRANSITIONS record sits at its applied index, once per (WAL seq, transition). */
  const transitionsInOrder = async (count: number): Promise<void> => {
    const reader = new StreamReader(js, names().transitionsName, 1);
    const seen = new Set<string>();
    try {
      for (let seq = 1; seq <= count; seq += 1) {
        const m = await reader.next(5_000);
        const tr = JSON.parse(new TextDecoder().decode(m.data)) as TransitionRecord;
        expect(m.seq).toBe(seq);
        expect(tr.applied_index).toBe(seq);
        const key = `${tr.wal_seq}/${tr.transition}`;
        expect(seen.has(key), `TRANSITIONS holds ${key} twice`).toBe(false);
        seen.add(key);
      }
    } finally {
      await reader.close();
    }
  };

  /** What the crash left behind: the half-done work each point is about. */
  const assertHalfDone = async (point: CrashPoint, crashSeq: number): Promise<void> => {
    const n = names();
    const drLast = await lastSeq(n.decisionsName);
    if (point === 'before_publish') {
      expect(drLast).toBeLessThan(crashSeq);
    } else if (point === 'between_dr_and_transitions') {
      expect(drLast).toBe(crashSeq);
      const rec = decodeDr((await jsm.streams.getMessage(n.decisionsName, { seq: crashSeq }))?.data ?? new Uint8Array());
      expect(rec.applied.length).toBeGreaterThan(0);
      // Its transitions were not stored: TRANSITIONS stops before the first of them.
      const trLast = await lastSeq(n.transitionsName);
      if (trLast > 0) {
        const tr = JSON.parse(new TextDecoder().decode(
          (await jsm.streams.getMessage(n.transitionsName, { seq: trLast }))?.data ?? new Uint8Array(),
        )) as { wal_seq: number };
        expect(tr.wal_seq).toBeLessThan(crashSeq);
      }
    } else if (point === 'before_ack') {
      expect(drLast).toBeGreaterThanOrEqual(crashSeq);
      // Stored, never acked: the batch is still pending on the durable consumer.
      expect(await ackPending()).toBeGreaterThan(0);
    } else {
      const store = new SnapshotStore(await new Kvm(js).open(n.snapshotsBucket), nc.info?.max_payload ?? 1_048_576, 16);
      const head = await store.load(await store.headRevision());
      expect(drLast).toBeGreaterThanOrEqual(crashSeq);
      expect(head.wal_seq).toBeLessThan(crashSeq);
    }
  };

  it('Given a seeded crash at each point, When restarted, Then the final hash is the uninterrupted run\'s, with no duplicate and no missing record', async () => {
    const n = names();
    const startedMs = Date.now();
    // A closed-loop producer (its own fold is a second uninterrupted run); no writer needed.
    const w = new World(genesisRaw, undefined, { baseMs: Date.now() });
    let chunk = 0;
    const publish = async (count: number): Promise<void> => {
      chunk += 1;
      // Real time passes in a live run, so the offline "advance the clock" fault is off.
      const logged = await publishLive(js, jsm, fx.prefix, n.walName, w, streamSteps(w, seed + chunk, count, { ...CHAOS, advance: 0 }));
      expect(logged.length).toBe(count);
    };
    await publish(PRELUDE_ENTRIES);
    let liveCrashAtMs = Date.now();
    for (const [i, round] of ROUNDS.entries()) {
      const r = i + 1;
      // 1. A writer that crashes: in its catch-up, or on the live path.
      if (!round.live) await publish(ROUND_ENTRIES);
      const doomed = await spawn(`doomed${r}`, { SWOOSH_CRASH_AT: `${round.point}:${round.target}`, SWOOSH_BATCH_MAX: String(DOOMED_BATCH_MAX) });
      if (round.live) {
        await waitUntil(`doomed${r} writing`, async () => (await doomed.status()).role === 'writer', 10_000);
        await publish(ROUND_ENTRIES);
      }
      const walLast = PRELUDE_ENTRIES + r * ROUND_ENTRIES;
      expect(await lastSeq(n.walName)).toBe(walLast);
      expect(await doomed.exitedWithin(15_000), `doomed${r} did not die:\n${doomed.output.slice(-10).join('\n')}`).toBe(true);
      expect(doomed.child.signalCode).toBe('SIGKILL');
      if (round.live) liveCrashAtMs = Date.now();
      const line = doomed.output.find((l) => l.includes('crash point reached'));
      expect(line, doomed.output.slice(-10).join('\n')).toBeDefined();
      const fired = JSON.parse(line ?? '{}') as { point: string; seq: number };
      expect(fired.point).toBe(round.point);
      expect(fired.seq).toBeGreaterThanOrEqual(round.target);
      expect(fired.seq).toBeLessThanOrEqual(walLast);
      await assertHalfDone(round.point, fired.seq);

      // 2. A clean writer takes over once the dead one's lease has expired, and catches up.
      const clean = await spawn(`clean${r}`);
      await waitUntil(`clean${r} caught up`, async () => {
        const st = await clean.status();
        return st.role === 'writer' && st.wal_seq === walLast && (await lastSeq(n.decisionsName)) === walLast;
      }, 15_000);

      // 3. The audit replays the whole WAL from genesis: the uninterrupted run.
      const report = await auditNow();
      expect(report.problems).toEqual([]);
      expect(report.wal_entries).toBe(walLast);
      expect(report.decision_records).toBe(walLast);
      expect(report.transition_records).toBe(report.applied_count);
      await transitionsInOrder(report.transition_records);
      expect((await clean.status()).state_hash).toBe(report.final_state_hash);
      expect(w.head()).toBe(report.final_state_hash);
      console.info(`[crash integration] round ${r}: ${round.point} (${round.live ? 'live' : 'catch-up'}) fired at ${fired.seq} ` +
        `(target ${round.target}); ${walLast} entries, ${report.applied_count} transitions, ` +
        `hash ${report.final_state_hash.slice(0, 19)}…, ${Date.now() - startedMs} ms`);

      // The last clean writer stays up to take the redelivered batch; the others make way.
      if (r < ROUNDS.length) {
        await clean.stop();
        expect(clean.child.exitCode).toBe(0);
      }
    }

    // 4. Nothing is left unacked: what the live crash left pending comes back after ack_wait,
    // is recognised as decided, and acked.
    const ackBoundMs = Math.max(0, liveCrashAtMs + ACK_WAIT_MS - Date.now()) + ACK_WAIT_MS;
    await waitUntil('no unacked WAL messages', async () => (await ackPending()) === 0, ackBoundMs);
    expect(await lastSeq(n.decisionsName)).toBe(await lastSeq(n.walName));
    console.info(`[crash integration] nothing unacked after ${Date.now() - startedMs} ms`);
  }, 150_000);
});
