/**
 * Recovery against a real nats-server: a head snapshot rolled back to an older revision, a
 * corrupted head snapshot, and a nats-server restart (store kept) all end with the identical
 * state hash that a fresh replay of the WAL gives; a state larger than the server's max payload
 * is snapshotted in chunks and recovered from them.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import type { Genesis } from '../../src/core/genesis.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { audit, type AuditReport } from '../../src/server/replication/audit.js';
import { Instance } from '../../src/server/process/instance.js';
import { recover } from '../../src/server/replication/recovery.js';
import { createNodeVerifier } from '../../src/crypto/verify.js';
import { createLogger } from '../../src/server/observability/log.js';
import { SnapshotStore, putRevisions } from '../../src/server/replication/snapshots.js';
import { subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { publishLive } from '../../src/proving/sim/publish.js';
import { waitUntil } from '../support/proc.js';
import { announceSeed } from '../support/seed.js';
import { CHAOS, streamSteps } from '../../src/proving/sim/stream.js';
import { World, castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';

/** The fixture's server is not ours to restart (natsFixture: NATS_URL or a container). */
const SHARED_SERVER = (process.env['NATS_URL'] ?? '') !== '' || process.env['SWOOSH_TEST_CONTAINERS'] === '1';

const seed = Math.abs(announceSeed('recovery integration'));
const log = createLogger({ level: process.env['SWOOSH_TEST_LOG'] ?? 'warn' });
const core = createCore(nodeHasher);
const LIVE = { ...CHAOS, advance: 0 };

function parse(raw: Record<string, unknown>): Genesis {
  return parseFixtureGenesis(raw, core);
}

interface Env {
  fx: NatsFixture;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

async function env(): Promise<Env> {
  const fx = await natsFixture();
  const nc = await connect({ servers: fx.url, noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  return { fx, nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}

function instance(e: Env, name: string, genesis: Genesis, snapshotEvery = 40): Instance {
  return new Instance({ natsUrl: e.fx.url, prefix: e.fx.prefix, name, genesis, signerSeed: randomBytes(32), snapshotEvery, log, writers: 'lease' });
}

async function drained(e: Env): Promise<void> {
  const n = subjectsFor(e.fx.prefix);
  await waitUntil('all entries decided', async () =>
    (await e.jsm.streams.info(n.decisionsName)).state.last_seq === (await e.jsm.streams.info(n.walName)).state.last_seq);
}

async function auditOf(e: Env, genesis: Genesis): Promise<AuditReport> {
  const n = subjectsFor(e.fx.prefix);
  const r = await audit({ js: e.js, jsm: e.jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName });
  expect(r.problems).toEqual([]);
  return r;
}

async function produce(e: Env, w: World, n: number, s: number): Promise<void> {
  await publishLive(e.js, e.jsm, e.fx.prefix, subjectsFor(e.fx.prefix).walName, w, streamSteps(w, s, n, LIVE));
}

describe('recovery', () => {
  let e: Env;
  const genesisRaw = castGenesis();
  const genesis = parse(genesisRaw);

  beforeAll(async () => {
    e = await env();
  });
  afterAll(async () => {
    await e?.nc.close();
    await e?.fx.close();
  });

  it('Given the head snapshot rolled back to an older revision, and then corrupted, Then restarts end at the identical hash', async () => {
    const w1 = instance(e, 'r1', genesis);
    await w1.start();
    const producer = new World(genesisRaw, undefined, { baseMs: Date.now() });
    await produce(e, producer, 300, seed);
    await drained(e);
    const before = w1.status().state_hash;
    await w1.stop();
    const kv = await new Kvm(e.js).open(subjectsFor(e.fx.prefix).snapshotsBucket);
    const store = new SnapshotStore(kv, e.nc.info?.max_payload ?? 1_048_576, 16);
    const revs = await store.revisions();
    expect(revs.length).toBeGreaterThanOrEqual(3);
    // Rollback: the newest head is now a copy of an older one.
    const old = await kv.get('head', { revision: revs[2] ?? 0 });
    await kv.put('head', old?.value ?? new Uint8Array());
    const w2 = instance(e, 'r2', genesis);
    await w2.start();
    await waitUntil('r2 writer', async () => Promise.resolve(w2.status().role === 'writer'));
    expect(w2.status().state_hash).toBe(before);
    await w2.stop();
    // Corruption: a head whose state no longer hashes to what it claims.
    const good = await store.load(await store.headRevision());
    const tampered = { ...good, v: 2, encoding: 'inline', state: { ...good.state, deployment: { ...good.state.deployment, policy: { ...good.state.deployment.policy, quarantines: 99 } } } };
    await kv.put('head', new TextEncoder().encode(JSON.stringify(tampered)));
    await kv.put('head', new TextEncoder().encode('{"v":1,"encoding":"inline","state":'));
    const w3 = instance(e, 'r3', genesis);
    await w3.start();
    await waitUntil('r3 writer', async () => Promise.resolve(w3.status().role === 'writer'));
    expect(w3.status().state_hash).toBe(before);
    const more = new World(genesisRaw, undefined, { baseMs: Date.now() });
    more.observeHlc(w3.status().hlc_last);
    await w3.stop();
    const report = await auditOf(e, genesis);
    expect(report.final_state_hash).toBe(before);
  });

  it('Given a replica this process already holds, Then recovery continues from it when it matches storage, and starts over when it does not', async () => {
    // The log the previous test left: no writer is running now.
    const n = subjectsFor(e.fx.prefix);
    const kv = await new Kvm(e.js).open(n.snapshotsBucket);
    const lines: { msg: string; fields: Record<string, unknown> }[] = [];
    const deps = {
      js: e.js, jsm: e.jsm, core, hasher: nodeHasher, verifier: createNodeVerifier(), genesis,
      snapshots: new SnapshotStore(kv, e.nc.info?.max_payload ?? 1_048_576, 16),
      walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName,
      log: (_l: string, msg: string, fields?: Record<string, unknown>) => {
        lines.push({ msg, fields: fields ?? {} });
      },
    };
    const full = await recover(deps);
    expect(full.replica.lastSeq).toBeGreaterThan(100);
    const head = core.hashes(full.replica.state).head;
    const resumed = await recover({ ...deps, resume: { replica: full.replica, snapshotSeq: full.snapshotSeq } });
    expect(resumed.replica).toBe(full.replica);
    expect(resumed.replayed).toBe(0);
    expect(lines.at(-1)?.fields['resumed']).toBe(true);
    // A replica whose last record is not the stored one: recovery starts over, same end.
    const wrong = await recover(deps);
    wrong.replica.restore({ ...wrong.replica.position(), lastDrHash: `sha256-${'0'.repeat(64)}` });
    const fresh = await recover({ ...deps, resume: { replica: wrong.replica, snapshotSeq: 0 } });
    expect(fresh.replica).not.toBe(wrong.replica);
    expect(lines.some((l) => l.msg.startsWith('not resuming') && l.fields['reason'] === 'its last record is not the stored one')).toBe(true);
    expect(lines.at(-1)?.fields['resumed']).toBe(false);
    expect(core.hashes(fresh.replica.state).head).toBe(head);
  });

  it('Given a key written continuously, Then reading its revisions still ends, bounded by the revision it had when the read began', async () => {
    const kv = await new Kvm(e.js).open(subjectsFor(e.fx.prefix).snapshotsBucket);
    let writing = true;
    let puts = 0;
    const writer = (async () => {
      while (writing) {
        await kv.put('probe', new TextEncoder().encode(String(puts++)));
      }
    })();
    try {
      await waitUntil('some puts', () => Promise.resolve(puts > 50));
      const t0 = performance.now();
      const revs = await putRevisions(kv, 'probe');
      const ms = performance.now() - t0;
      expect(revs.length).toBeGreaterThan(1);
      expect([...revs].sort((a, b) => b - a)).toEqual(revs);
      expect(ms, 'the read ended while puts went on').toBeLessThan(5000);
      expect(puts, 'puts went on during the read').toBeGreaterThan(50);
    } finally {
      writing = false;
      await writer;
    }
    expect(await putRevisions(kv, 'absent-key')).toEqual([]);
  });

  // Restarting needs a server this suite owns: with NATS_URL (or a container) it is skipped, visibly.
  it.skipIf(SHARED_SERVER)('Given a nats-server restart with its store kept, Then the writer reconnects and carries on; the log audits clean', async () => {
    const server = e.fx.server;
    if (server === null) throw new Error('no server of our own although NATS_URL and SWOOSH_TEST_CONTAINERS are unset');
    const w = instance(e, 'n1', genesis);
    await w.start();
    await waitUntil('n1 writer', async () => Promise.resolve(w.status().role === 'writer'));
    const producer = new World(genesisRaw, undefined, { baseMs: Date.now() });
    producer.observeHlc(w.status().hlc_last);
    await server.restart();
    await waitUntil('client reconnected', async () => {
      await e.jsm.streams.info(subjectsFor(e.fx.prefix).walName);
      return true;
    });
    await produce(e, producer, 80, seed + 1);
    await drained(e);
    const report = await auditOf(e, genesis);
    expect(w.status().state_hash).toBe(report.final_state_hash);
    await w.stop();
  });
});

describe('large state', () => {
  let e: Env;
  beforeAll(async () => {
    e = await env();
  });
  afterAll(async () => {
    await e?.nc.close();
    await e?.fx.close();
  });

  it('Given a state over max_payload, Then snapshots are stored per document in chunks, chunks verify, and recovery uses them', async () => {
    const raw = castGenesis();
    const ids = { ...(raw['identities'] as Record<string, unknown>) };
    // ~1.3 MB of registry: format-valid keys are enough in-process (the file loader checks points).
    for (let i = 0; i < 12_000; i++) ids[`hmmm:pubkey:${createHash('sha256').update(`bulk-${i}`).digest('hex')}`] = { roles: ['voter'] };
    const big = { ...raw, identities: ids };
    const genesis = parse(big);
    const w = instance(e, 'big1', genesis, 20);
    await w.start();
    await produce(e, new World(big, undefined, { baseMs: Date.now() }), 60, seed + 2);
    await drained(e);
    const kv = await new Kvm(e.js).open(subjectsFor(e.fx.prefix).snapshotsBucket);
    // Records are stored before the snapshot is written: wait for the head to appear.
    let parsed = { encoding: '', index: [] as string[], bytes: 0 };
    await waitUntil('a head snapshot', async () => {
      const head = await kv.get('head');
      if (head === null || head.operation !== 'PUT') return false;
      parsed = JSON.parse(new TextDecoder().decode(head.value)) as typeof parsed;
      return true;
    });
    expect(parsed.encoding).toBe('documents');
    expect(parsed.index.length).toBeGreaterThanOrEqual(1);
    expect(parsed.bytes).toBeGreaterThan(1_048_576);
    const hash = w.status().state_hash;
    await w.stop();
    const again = instance(e, 'big2', genesis, 20);
    await again.start();
    await waitUntil('big2 writer', async () => Promise.resolve(again.status().role === 'writer'));
    expect(again.status().state_hash).toBe(hash);
    expect(again.status().last_snapshot_seq).toBeGreaterThan(0);
    await again.stop();
  }, 120_000);
});
