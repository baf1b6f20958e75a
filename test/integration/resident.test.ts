/**
 * A member deciding held chains keeps a bounded set of project documents in memory
 * (docs/adr/0007-resident-projects.md), on a real nats-server: idle projects are evicted (those
 * with a record only once `<P>_SNAPSHOTS` holds a copy at their chain head), reads of an
 * evicted project load it for the read only, its next entries load it for good, a restart
 * starts from a snapshot that names evicted projects rather than holding them, and a project
 * whose copy is gone answers 503 `project_unavailable` while every other project carries on.
 * Every project's state is checked against an in-process replay of the WAL (the audit's).
 */
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { createHttpServer } from '../../src/http/server.js';
import { Instance } from '../../src/server/process/instance.js';
import { createLogger } from '../../src/server/observability/log.js';
import { audit, type AuditReport } from '../../src/server/replication/audit.js';
import { projectSnapshotKey } from '../../src/server/replication/project-snapshots.js';
import { CAST, castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';
import { NatsClient, ProducerClock, buildFact, identityFromSeed } from '../../src/sdk/index.js';
import { subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { expectConforms } from '../support/openapi.js';
import { waitUntil } from '../support/proc.js';
import { PROJECTS, run } from '../support/schedule.js';
import { announceSeed } from '../support/seed.js';
import { Rng } from '../../src/proving/sim/planner.js';

const seed = Math.abs(announceSeed('resident projects'));
const quiet = createLogger({ level: process.env['SWOOSH_TEST_LOG'] ?? 'silent' });

describe('a member keeps a bounded set of project documents in memory', () => {
  let fx: NatsFixture;
  let inst: Instance | null = null;
  let app: FastifyInstance | null = null;
  let base = '';
  const core = createCore(nodeHasher);
  const genesisRaw = castGenesis({ projects: PROJECTS });
  const genesis = parseFixtureGenesis(genesisRaw, core);
  // The three projects' walks, interleaved with deployment noise, several times over.
  const rng = new Rng(seed);
  const schedule = Array.from({ length: 600 }, () => (rng.int(4) === 0 ? 3 + rng.int(12) : rng.int(3)));
  let log: ReturnType<ReturnType<typeof run>['messages']> = [];
  let published = 0;

  const start = async (name: string): Promise<Instance> => {
    const i = new Instance({
      natsUrl: fx.url, prefix: fx.prefix, name, genesis, signerSeed: randomBytes(32), log: quiet,
      writers: 'buckets', decide: 'held', residentProjects: 1, projectSnapshotEvery: 3,
      snapshotEvery: 40,
    });
    await i.start();
    app = await createHttpServer({ instance: i, log: quiet });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    return i;
  };
  const stop = async (): Promise<void> => {
    await app?.close();
    await inst?.stop();
    app = null;
    inst = null;
  };
  const member = (): Instance => inst as Instance;
  /** Publish the next `n` messages of the schedule's log to the WAL, in order. */
  const publish = async (n: number): Promise<void> => {
    if (published + n > log.length) throw new Error(`the schedule has only ${log.length} entries`);
    const js = member().nats.js;
    for (const m of log.slice(published, published + n)) await js.publish(m.subject, m.data);
    published += n;
  };
  const settled = async (): Promise<void> => {
    const wal = async (): Promise<number> => (await member().nats.jsm.streams.info(subjectsFor(fx.prefix).walName)).state.last_seq;
    await waitUntil('every entry decided and stored', async () => (member().status().stored_seq ?? 0) >= await wal(), 20_000);
  };
  const replay = (): Promise<AuditReport> => {
    const n = subjectsFor(fx.prefix);
    const { js, jsm } = member().nats;
    return audit({ js, jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName, aligned: false });
  };
  const read = async (p: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${base}/projects/${p}/state`);
    const body = await res.json() as Record<string, unknown>;
    expectConforms('GET', '/projects/{project}/state', res.status, body);
    return { status: res.status, body };
  };
  const counts = (): NonNullable<ReturnType<Instance['status']>['held_counts']> => {
    const c = member().status().held_counts;
    if (c === undefined) throw new Error('no held counts: not deciding held chains');
    return c;
  };

  beforeAll(async () => {
    fx = await natsFixture();
    log = run(core, schedule).messages(fx.prefix);
    inst = await start('m1');
    await waitUntil('the member holds the buckets', () => Promise.resolve((member().status().buckets_held ?? []).length > 0), 20_000);
  });

  afterAll(async () => {
    await stop();
    await fx?.close();
  });

  it('Given one document of room, When the projects go idle, Then all but one are evicted, reads load them for the read only, and every read equals the replay', async () => {
    await publish(150);
    await settled();
    await waitUntil('idle projects evicted', () => Promise.resolve((member().status().resident_projects ?? 99) <= 1), 10_000);
    const st = member().status();
    expect(st.cold_projects).toBeGreaterThan(0);
    expect(counts().evicted).toBeGreaterThanOrEqual(2);
    const rep = await replay();
    expect(rep.problems).toEqual([]);
    const loadedBefore = counts().loaded;
    for (const p of PROJECTS) {
      const r = await read(p);
      expect(r.status).toBe(200);
      expect(r.body['hash']).toBe(rep.project_hashes[p]);
    }
    // The reads did not bring anything back into memory.
    expect(counts().loaded).toBe(loadedBefore);
    expect(member().status().resident_projects).toBeLessThanOrEqual(1);
    // GET /projects lists evicted projects with the replay's hashes too.
    const res = await fetch(`${base}/projects`);
    const list = await res.json() as { projects: { project: string; hash: string }[] };
    expectConforms('GET', '/projects', res.status, list);
    for (const row of list.projects) expect(row.hash).toBe(rep.project_hashes[row.project]);
  });

  it('Given evicted projects, When their entries come, Then they are loaded and decided exactly as the replay decides them', async () => {
    const loadedBefore = counts().loaded;
    await publish(60);
    await settled();
    expect(counts().loaded).toBeGreaterThan(loadedBefore);
    expect(counts().load_failed).toBe(0);
    const rep = await replay();
    expect(rep.problems).toEqual([]);
    expect(rep.decision_records).toBe(rep.wal_entries);
    for (const p of PROJECTS) expect((await read(p)).body['hash']).toBe(rep.project_hashes[p]);
    await waitUntil('back within the bound', () => Promise.resolve((member().status().resident_projects ?? 99) <= 1), 10_000);
  });

  it('Given a snapshot taken while projects were evicted, When another member starts from it, Then it holds them evicted and decides on equal to the replay', async () => {
    await waitUntil('idle projects evicted', () => Promise.resolve((member().status().resident_projects ?? 99) <= 1), 10_000);
    // Facts alone move the snapshot on (one every 40 entries) while the projects stay idle.
    const before = member().status().last_snapshot_seq;
    const sdk = NatsClient.fromConnection(member().nats.nc, { prefix: fx.prefix });
    const feeder = identityFromSeed(CAST.feeder.secretKey.slice(0, 32));
    const clock = new ProducerClock();
    for (let i = 0; i < 45; i++) {
      await sdk.publishFact(buildFact({ kind: 'tick', signer: feeder.signer, hlc: clock.next(), payload: {} }), feeder);
    }
    await settled();
    await waitUntil('a snapshot taken while they were evicted', () => Promise.resolve(member().status().last_snapshot_seq > before), 10_000);
    expect(member().status().cold_projects).toBeGreaterThan(0);
    await stop();
    inst = await start('m2');
    // Started from the snapshot: the projects it held out of memory are cold from the start
    // (and loaded from their snapshots once this member holds them and their entries come; a
    // member started any other way has neither).
    const early = member().status();
    expect((early.cold_projects ?? 0) + (early.held_counts?.loaded ?? 0)).toBeGreaterThan(0);
    expect(early.last_snapshot_seq).toBeGreaterThan(0);
    await waitUntil('the new member holds the buckets', () => Promise.resolve((member().status().buckets_held ?? []).length > 0), 20_000);
    await publish(60);
    await settled();
    const rep = await replay();
    expect(rep.problems).toEqual([]);
    for (const p of PROJECTS) expect((await read(p)).body['hash']).toBe(rep.project_hashes[p]);
    expect(counts().load_failed).toBe(0);
  });

  it('Given an evicted project whose every copy is gone, Then reads answer 503 project_unavailable, its entries wait, and every other project carries on', async () => {
    await settled();
    await waitUntil('a project evicted after its first record', () => Promise.resolve((member().status().cold_projects ?? 0) > 0), 10_000);
    // Purge each project's snapshot (every revision) until one is read that needs it: that one
    // is out of memory. Those in memory read on, and the holder writes theirs again if it
    // evicts them.
    const kv = await new Kvm(member().nats.js).open(subjectsFor(fx.prefix).snapshotsBucket);
    let gone: string | null = null;
    for (const p of PROJECTS) {
      const before = (await read(p)).body['hash'];
      await kv.purge(projectSnapshotKey(p));
      const after = await read(p);
      if (after.status === 503) {
        expect(after.body).toMatchObject({ code: 'project_unavailable' });
        expect(String(after.body['message'])).toContain(p);
        gone = p;
        break;
      }
      // In memory here: the read did not need the snapshot.
      expect(after.body['hash']).toBe(before);
    }
    expect(gone).not.toBeNull();
    const failedBefore = counts().load_failed;
    await publish(60);
    const wal = async (): Promise<number> => (await member().nats.jsm.streams.info(subjectsFor(fx.prefix).walName)).state.last_seq;
    const last = await wal();
    await waitUntil('the member moved past every entry', () => Promise.resolve(member().status().wal_seq >= last), 20_000);
    await waitUntil('the load failed, said so', () => Promise.resolve(counts().load_failed > failedBefore), 10_000);
    // The others are all decided and stored; the lost project's records alone wait.
    const rep = await replay();
    const kinds = new Set(rep.problems.map((x) => x.kind));
    expect([...kinds].every((k) => k === 'missing_record' || k === 'transitions_count'), JSON.stringify(rep.problems.slice(0, 3))).toBe(true);
    for (const p of PROJECTS.filter((x) => x !== gone)) expect((await read(p)).body['hash']).toBe(rep.project_hashes[p]);
    expect(member().status().diverged).toBeNull();
  });
});
