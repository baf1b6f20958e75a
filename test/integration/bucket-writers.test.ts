/**
 * Writers by bucket (SWOOSH_WRITERS=buckets; src/server/replication/chain-member.ts): several
 * processes share a deployment's 64 project buckets and the deployment chain by lease, each
 * folding the whole WAL and publishing only its chains' records, each record fenced on its own
 * chain's subject.
 *
 * One run, phases under closed-loop load on 20 projects (seeded; printed): two processes split
 * the buckets; a third joins and takes its share; one is killed (SIGKILL) and its buckets move;
 * one is paused (SIGSTOP) past the lease TTL and resumed; one is stopped (SIGTERM) and its
 * buckets move; the last one is killed and a new process starts from its snapshot. Then: exactly one record per WAL entry (no loss, no duplicate, no stray), every
 * chain links and audits clean against an in-process replay, TRANSITIONS holds one record per
 * applied transition, and every live process serves the replay's state.
 * A second case pins the fence down: a record published with a stale chain tail is refused
 * (10071) and nothing is stored.
 */
import { readFileSync } from 'node:fs';
import { JetStreamApiCodes, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore, type WalEntry } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { audit } from '../../src/server/replication/audit.js';
import { decodeDr } from '../../src/protocol/decision-record.js';
import { StreamReader } from '../../src/protocol/batch-reader.js';
import { applyStreams, assertNoDrift } from '../../src/server/process/apply-streams.js';
import { FencedPublisher, PublishRefusedError } from '../../src/server/replication/fenced-publisher.js';
import { streamDefinitions, subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { spawnInstance, waitUntil, writeInstanceFiles, type Proc } from '../support/proc.js';
import { announceSeed } from '../support/seed.js';
import { NO_FAULTS, streamSteps } from '../../src/proving/sim/stream.js';
import { Rng } from '../../src/proving/sim/planner.js';
import { castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';
import { Producer } from '../../src/proving/chaos/load.js';
import type { ChaosRun } from '../../src/proving/chaos/chaos-run.js';

const seed = Math.abs(announceSeed('bucket writers'));

const LEASE_TTL_MS = 1500;
const ENV = {
  SWOOSH_WRITERS: 'buckets',
  SWOOSH_LEASE_TTL_MS: String(LEASE_TTL_MS),
  SWOOSH_LEASE_RENEW_MS: '300',
  SWOOSH_CRYPTO_THREADS: '0',
  SWOOSH_SNAPSHOT_EVERY: '40',
} as const;
const PROJECTS = Array.from({ length: 20 }, (_, i) => `p${String(i).padStart(2, '0')}`);
/** Project buckets and the deployment chain's (bucket 64). */
const LEASES = 65;
const PER_PHASE = 60;

/** Project documents a member deciding held chains keeps in memory here (of 20). */
const RESIDENT = 4;

/**
 * Both ways a member may work: deciding every chain (`all`), or only the chains it holds
 * (`held`, docs/adr/0006-deciding-held-chains.md: other projects' entries queued until it takes
 * their bucket, per-project snapshots every few records so that queues are dropped too), the
 * latter with room for only RESIDENT project documents in memory, so that idle projects are
 * evicted and loaded again all the time (docs/adr/0007-resident-projects.md).
 */
describe.each(['all', 'held'] as const)('writers by bucket, deciding %s chains: processes share the chains', (decide) => {
  const env = {
    ...ENV, SWOOSH_DECIDE: decide, SWOOSH_PROJECT_SNAPSHOT_EVERY: '3',
    ...(decide === 'held' ? { SWOOSH_RESIDENT_PROJECTS: String(RESIDENT) } : {}),
  };
  let fx: NatsFixture;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const procs = new Map<string, Proc>();
  const genesisRaw = { ...castGenesis(), projects: PROJECTS };
  const core = createCore(nodeHasher);
  const genesis = parseFixtureGenesis(genesisRaw, core);
  const files = writeInstanceFiles(genesisRaw);
  const signers = new Map<string, string>();

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    assertNoDrift(await applyStreams(nc, streamDefinitions({ prefix: fx.prefix, replicas: 1, leaseTtlMs: LEASE_TTL_MS }), { mode: 'apply' }));
  });

  afterAll(async () => {
    if (process.env['SWOOSH_TEST_DUMP'] !== undefined) {
      for (const p of procs.values()) process.stdout.write(`--- ${p.name}\n${p.output.slice(-60).join('\n')}\n`);
    }
    await Promise.all([...procs.values()].map((p) => p.stop()));
    await nc?.close();
    await fx?.close();
  });

  const names = (): ReturnType<typeof subjectsFor> => subjectsFor(fx.prefix);
  const spawn = async (name: string, extra: Record<string, string> = {}): Promise<Proc> => {
    const keyFile = files.keyFile(name);
    const proc = await spawnInstance({ natsUrl: fx.url, prefix: fx.prefix, name, genesisFile: files.genesisFile, keyFile, env: { ...env, ...extra } });
    procs.set(name, proc);
    signers.set(name, (JSON.parse(readFileSync(keyFile, 'utf8')) as { signer: string }).signer);
    return proc;
  };
  const held = async (p: Proc): Promise<readonly number[]> => (await p.status()).buckets_held ?? [];
  /** The live processes hold every lease between them, each a fair share (±1). */
  const balanced = async (live: readonly Proc[]): Promise<boolean> => {
    const sets = await Promise.all(live.map(held));
    const all = new Set(sets.flat());
    const share = Math.ceil(LEASES / live.length);
    return all.size === LEASES && sets.flat().length === LEASES && sets.every((s) => s.length >= share - 1 && s.length <= share);
  };
  /** Every WAL entry has its record (and nothing more is in DECISIONS). */
  const allDecided = async (): Promise<boolean> => {
    const n = names();
    const wal = (await jsm.streams.info(n.walName)).state.last_seq;
    const drs = (await jsm.streams.info(n.decisionsName)).state.messages;
    return drs === wal;
  };

  /** Closed-loop producers on every project, interleaved by the seed. */
  const load = (() => {
    const run = {
      prefix: '', js: null, jsm: null, subjects: null, genesisRaw, publishRetries: 0,
    } as unknown as { -readonly [K in keyof ChaosRun]: ChaosRun[K] };
    const logged = new Set<string>();
    let producers: Producer[] = [];
    let streams: Generator<WalEntry, void, WalEntry | null>[] = [];
    let nexts: IteratorResult<WalEntry, void>[] = [];
    const rng = new Rng(seed ^ 0xb0c);
    return {
      init: (): void => {
        Object.assign(run, { prefix: fx.prefix, js, jsm, subjects: names() });
        producers = PROJECTS.map((p) => new Producer(run as ChaosRun, p, logged));
        streams = producers.map((p, i) => streamSteps(p.w, seed + i * 7919, 100_000, NO_FAULTS));
        nexts = streams.map((s) => s.next(null));
      },
      publish: async (count: number, only?: string): Promise<void> => {
        for (let i = 0; i < count; i++) {
          const k = only === undefined ? rng.int(producers.length) : PROJECTS.indexOf(only);
          const p = producers[k] as Producer;
          const pending = nexts[k];
          if (pending === undefined || pending.done === true) continue;
          const got = await p.publishOne(pending.value);
          nexts[k] = (streams[k] as Generator<WalEntry, void, WalEntry | null>).next(got);
          if (got !== null) for (const o of producers) if (o !== p) o.follow(got);
        }
      },
    };
  })();

  it('Given 2, then 3 processes, When one is killed, one paused past its lease and one stopped under load, Then every chain holds exactly one record per entry and audits clean', async () => {
    load.init();
    // 1. Two processes split the leases.
    const a = await spawn('a');
    const b = await spawn('b');
    await waitUntil('a and b share the buckets', () => balanced([a, b]), 20_000);
    await load.publish(PER_PHASE);
    await waitUntil('phase 1 decided', allDecided, 30_000);

    // 2. A third joins and holds its share with no operator.
    const joinT0 = Date.now();
    const c = await spawn('c');
    await waitUntil('c holds its share', () => balanced([a, b, c]), 20_000);
    const joinMs = Date.now() - joinT0;
    await load.publish(PER_PHASE);
    await waitUntil('phase 2 decided', allDecided, 30_000);

    // 3. b is killed mid-load; its buckets move to a and c.
    const bHeld = await held(b);
    expect(bHeld.length).toBeGreaterThan(0);
    const publishing = load.publish(PER_PHASE);
    await new Promise((r) => setTimeout(r, 200));
    const killT0 = Date.now();
    b.signal('SIGKILL');
    await b.exitedWithin(5_000);
    procs.delete('b');
    await publishing;
    await waitUntil('phase 3 decided after the kill', allDecided, 30_000);
    const failoverMs = Date.now() - killT0;
    await waitUntil('a and c share the buckets', () => balanced([a, c]), 20_000);

    // 4. a is paused past its lease under load, then resumed.
    a.signal('SIGSTOP');
    await load.publish(PER_PHASE / 2);
    await new Promise((r) => setTimeout(r, LEASE_TTL_MS + 1000));
    await load.publish(PER_PHASE / 2);
    a.signal('SIGCONT');
    await waitUntil('phase 4 decided after the pause', allDecided, 30_000);
    await waitUntil('a and c share the buckets again', () => balanced([a, c]), 20_000);

    // 5. c is stopped; a takes everything.
    await c.stop();
    procs.delete('c');
    await load.publish(PER_PHASE);
    await waitUntil('phase 5 decided', allDecided, 30_000);
    await waitUntil('a holds every lease', () => balanced([a]), 20_000);

    // 6. a is killed too; a new process starts from the snapshot a wrote (deciding held
    //    chains: the deployment's document at the oldest position a still held, each
    //    project's at its own), replays the rest against the stored records, and carries on.
    await waitUntil('a snapshot taken', async () => (await a.status()).last_snapshot_seq > 0, 20_000);
    // Deciding held chains, a queued other members' projects while it did not hold them, and
    // dropped what their holders' snapshots covered.
    const aCounts = (await a.status()).held_counts;
    if (decide === 'held') {
      expect(aCounts?.snapshots_adopted).toBeGreaterThan(0);
      // a evicted idle projects and loaded them again when their entries came.
      expect(aCounts?.evicted).toBeGreaterThan(0);
      expect(aCounts?.loaded).toBeGreaterThan(0);
      expect(aCounts?.load_failed).toBe(0);
    }
    a.signal('SIGKILL');
    await a.exitedWithin(5_000);
    procs.delete('a');
    const d = await spawn('d');
    const started = await d.status();
    expect(started.last_snapshot_seq).toBeGreaterThan(0);
    await waitUntil('d holds every lease', () => balanced([d]), 20_000);
    await load.publish(PER_PHASE / 2);
    await waitUntil('phase 6 decided', allDecided, 30_000);

    // Every entry: one record, in its chain, linked, identical to an in-process replay.
    const n = names();
    const rep = await audit({ js, jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName, aligned: false });
    expect(rep.problems).toEqual([]);
    expect(rep.ok).toBe(true);
    expect(rep.decision_records).toBe(rep.wal_entries);
    expect(rep.transition_records).toBe(rep.applied_count);
    expect(rep.applied_count).toBeGreaterThan(0);
    const projectChains = Object.keys(rep.chains).filter((c2) => c2 !== '_deployment');
    expect(projectChains.length).toBeGreaterThanOrEqual(PROJECTS.length - 2);

    // Every process that wrote signed records; the records came from more than one of them.
    const writers = new Set<string>();
    const reader = new StreamReader(js, n.decisionsName, 1);
    try {
      for (let left = rep.decision_records; left > 0;) {
        const batch = await reader.read(512, 5000);
        for (const m of batch) writers.add(decodeDr(m.data).writer);
        left -= batch.length;
      }
    } finally {
      await reader.close();
    }
    expect([...writers].every((w) => [...signers.values()].includes(w))).toBe(true);
    expect(writers.size).toBeGreaterThanOrEqual(4);

    // The survivor serves the replay's state.
    const st = await d.status();
    expect(st.diverged).toBeNull();
    expect(st.wal_seq).toBe(rep.wal_entries);
    expect(st.state_hash).toBe(rep.final_state_hash);
    if (decide === 'held') {
      expect(st.deciding).toBe('held');
      // d started from a's snapshot, queued every project while it replayed the rest, then
      // took them all up.
      const counts = st.held_counts;
      // (Projects a's snapshot held out of memory stay so until an entry comes: those are
      // loaded rather than taken up.)
      expect(counts?.taken_up).toBeGreaterThan(0);
      expect((counts?.taken_up ?? 0) + (counts?.loaded ?? 0)).toBeGreaterThanOrEqual(PROJECTS.length / 2);
      expect(counts?.entries_taken_up).toBeGreaterThan(0);
      expect(counts?.load_failed).toBe(0);
      // Idle again, d brings its documents in memory back within the bound.
      await waitUntil('d within its resident bound', async () => ((await d.status()).resident_projects ?? 99) <= RESIDENT, 15_000);
      const quiet = await d.status();
      expect(quiet.cold_projects).toBeGreaterThan(0);
      expect(Object.keys(rep.project_hashes).sort()).toEqual([...PROJECTS].sort());
      // Holders wrote per-project snapshots (every 3 records of a chain here).
      const keys: string[] = [];
      for await (const k of await (await new Kvm(js).open(n.snapshotsBucket)).keys('project.*')) keys.push(k);
      expect(keys.length).toBeGreaterThanOrEqual(PROJECTS.length - 2);
    }
    process.stdout.write(`bucket writers (deciding ${decide}): ${rep.wal_entries} entries, ${Object.keys(rep.chains).length} chains, ` +
      `join to fair share ${joinMs} ms, kill to all decided ${failoverMs} ms (lease TTL ${LEASE_TTL_MS} ms)\n`);
  }, 240_000);

  it('Given a chain whose tail moved on, When a record is published with the old tail, Then the stream refuses it (10071) and stores nothing; strays on record subjects never halt a member', async () => {
    const n = names();
    const subject = n.dr('fence-probe');
    const pub = new FencedPublisher(nc);
    try {
      const first = await pub.publishFenced(subject, new TextEncoder().encode('{"probe":1}'), 'probe:1', { subject: 0 });
      const second = await pub.publishFenced(subject, new TextEncoder().encode('{"probe":2}'), 'probe:2', { subject: first.seq });
      const before = (await jsm.streams.info(n.decisionsName)).state.messages;
      const stale = await pub.publishFenced(subject, new TextEncoder().encode('{"probe":3}'), 'probe:3', { subject: first.seq })
        .then(() => null, (e: unknown) => e);
      expect(stale).toBeInstanceOf(PublishRefusedError);
      expect((stale as PublishRefusedError).errCode).toBe(JetStreamApiCodes.StreamWrongLastSequence);
      expect((await jsm.streams.info(n.decisionsName)).state.messages).toBe(before);
      expect(second.seq).toBeGreaterThan(first.seq);
    } finally {
      pub.close();
    }
    // A stray on top of a real project's chain, as any client with publish rights could store.
    const onChain = await js.publish(n.dr('p03'), new TextEncoder().encode('{}'));
    expect(onChain.seq).toBeGreaterThan(0);
    // A replay of an old genuine record of p05 (its first), stored on top of its chain.
    let old: { data: Uint8Array } | undefined;
    const scan = new StreamReader(js, n.decisionsName, 1);
    try {
      while (old === undefined) old = (await scan.read(256, 5000)).find((m) => m.subject === n.dr('p05'));
    } finally {
      await scan.close();
    }
    expect(decodeDr(old?.data ?? new Uint8Array()).chain_index).toBe(1);
    await js.publish(n.dr('p05'), old?.data ?? new Uint8Array());
    // The three stray messages never halt the surviving process: it decides new entries (p03's
    // among them, fenced on the stray), and the audit names exactly those three.
    const a = procs.get('d') as Proc;
    await load.publish(10, 'p03');
    await load.publish(10, 'p05');
    await load.publish(20);
    const wal = async (): Promise<number> => (await jsm.streams.info(n.walName)).state.last_seq;
    await waitUntil('new entries decided after the strays', async () =>
      (await jsm.streams.info(n.decisionsName)).state.messages === (await wal()) + 4, 30_000);
    const st = await a.status();
    expect(st.diverged).toBeNull();
    expect(st.wal_seq).toBe(await wal());
    const rep = await audit({ js, jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName, aligned: false });
    expect(rep.problems.map((p) => p.kind)).toEqual(['stray_record', 'stray_record', 'stray_record', 'stray_record']);
    // p03's chain went on past the stray: its last message is a genuine record again.
    const top = await jsm.streams.getMessage(n.decisionsName, { last_by_subj: n.dr('p03') });
    expect(top?.seq).toBeGreaterThan(onChain.seq);
    expect(decodeDr(top?.data ?? new Uint8Array()).project).toBe('p03');
    const top5 = await jsm.streams.getMessage(n.decisionsName, { last_by_subj: n.dr('p05') });
    expect(decodeDr(top5?.data ?? new Uint8Array()).chain_index).toBeGreaterThan(1);

    // A process that starts from the snapshot reads the replayed record first on p05 and sets
    // it aside; p05 goes on.
    await waitUntil('a snapshot past the strays', async () => (await a.status()).last_snapshot_seq > 0, 20_000);
    a.signal('SIGKILL');
    await a.exitedWithin(5_000);
    procs.delete('d');
    const e = await spawn('e');
    await load.publish(10, 'p05');
    await waitUntil('entries decided after the restart', async () =>
      (await jsm.streams.info(n.decisionsName)).state.messages === (await wal()) + 4, 30_000);
    const after = await audit({ js, jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName, aligned: false });
    expect(after.problems.map((p) => p.kind)).toEqual(['stray_record', 'stray_record', 'stray_record', 'stray_record']);
    expect((await e.status()).state_hash).toBe(after.final_state_hash);
  }, 60_000);

  it('Given a member killed between storing a record and its TRANSITIONS records, When the others take its chains, Then TRANSITIONS holds one record per applied transition and the audit names only the earlier strays', async () => {
    const n = names();
    const e = procs.get('e') as Proc;
    const wal = async (): Promise<number> => (await jsm.streams.info(n.walName)).state.last_seq;
    const f = await spawn('f', { SWOOSH_CRASH_AT: `between_dr_and_transitions:${(await wal()) + 1}` });
    await waitUntil('e and f share the buckets', () => balanced([e, f]), 20_000);
    for (let i = 0; i < 30 && !(await f.exitedWithin(0)); i++) await load.publish(5);
    expect(await f.exitedWithin(5_000)).toBe(true);
    procs.delete('f');
    expect(f.output.join('\n')).toContain('crash point reached');
    await load.publish(20);
    await waitUntil('every entry decided after the crash', async () =>
      (await jsm.streams.info(n.decisionsName)).state.messages === (await wal()) + 4, 30_000);
    await waitUntil('the TRANSITIONS records of the crashed member stored', async () => {
      const r = await audit({ js, jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName, aligned: false });
      return r.transition_records === r.applied_count;
    }, 30_000);
    const rep = await audit({ js, jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName, aligned: false });
    expect(rep.problems.map((p) => p.kind)).toEqual(['stray_record', 'stray_record', 'stray_record', 'stray_record']);
    expect((await e.status()).state_hash).toBe(rep.final_state_hash);
  }, 90_000);
});
