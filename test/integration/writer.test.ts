/**
 * The writer over a real nats-server (model-based, brief §12): a seeded stream of proposals
 * and facts published to the WAL yields exactly one decision record per WAL entry at the same
 * sequence, the chain and every signature verify, and every state hash equals what a fresh
 * in-process reducer computes from the same WAL entries.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { audit } from '../../src/server/replication/audit.js';
import { contentOf, decodeDr, drHash } from '../../src/protocol/decision-record.js';
import { verifyWorld, worldHash, worldStateOf } from '../../src/server/replication/replica.js';
import { encodeEnvelope, msgIdOf } from '../../src/protocol/envelope.js';
import { Instance } from '../../src/server/process/instance.js';
import { SnapshotStore } from '../../src/server/replication/snapshots.js';
import { createLogger } from '../../src/server/observability/log.js';
import { subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { publishEntries, publishLive } from '../../src/proving/sim/publish.js';
import { announceSeed } from '../support/seed.js';
import { CHAOS, streamSteps } from '../../src/proving/sim/stream.js';
import { CAST, World, castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';

const seed = Math.abs(announceSeed('writer integration'));
const quiet = createLogger({ level: process.env['SWOOSH_TEST_LOG'] ?? 'warn' });

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('writer on JetStream', () => {
  let fx: NatsFixture;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let inst: Instance;
  const core = createCore(nodeHasher);
  const genesisRaw = castGenesis();
  const genesis = parseFixtureGenesis(genesisRaw, core);

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    inst = new Instance({ natsUrl: fx.url, prefix: fx.prefix, name: 'w1', genesis, signerSeed: randomBytes(32), snapshotEvery: 200, log: quiet, writers: 'lease' });
    await inst.start();
  });

  afterAll(async () => {
    await inst?.stop();
    await nc?.close();
    await fx?.close();
  });

  const names = (): ReturnType<typeof subjectsFor> => subjectsFor(fx.prefix);
  const lastSeq = async (stream: string): Promise<number> => (await jsm.streams.info(stream)).state.last_seq;

  it('Given a seeded chaos stream on the WAL, Then one record per entry, same seq, chain, signatures and hashes all check', async () => {
    const n = names();
    // Real time passes in a live run, so the offline "advance the clock" fault is off.
    const w = new World(genesisRaw, undefined, { baseMs: Date.now() });
    const logged = await publishLive(js, jsm, fx.prefix, n.walName, w, streamSteps(w, seed, 600, { ...CHAOS, advance: 0 }));
    expect(logged.length).toBe(600);
    const walLast = await lastSeq(n.walName);
    expect(walLast).toBe(600); // exact re-sends were deduplicated by Nats-Msg-Id and not counted
    await waitFor('all decisions', async () => (await lastSeq(n.decisionsName)) === walLast);
    const report = await audit({ js, jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName });
    expect(report.problems).toEqual([]);
    expect(report.decision_records).toBe(walLast);
    expect(report.transition_records).toBe(report.applied_count);
    expect(report.outcomes['accepted'] ?? 0).toBeGreaterThan(100);
    expect(inst.status()).toMatchObject({ role: 'writer', wal_seq: walLast, state_hash: report.final_state_hash });
    // The producer's own fold of what was logged agrees with the writer, hash for hash.
    expect(w.head()).toBe(report.final_state_hash);
  });

  it('Given an exact re-send, Then JetStream drops it; given the same idem key with a new HLC, Then duplicate', async () => {
    const n = names();
    const w = new World(genesisRaw, undefined, { baseMs: Date.now() });
    w.observeHlc(inst.status().hlc_last);
    // Identity_Grant is a control transition: it names the deployment's HEAD.
    const depHead = (): string => w.core.hashes(inst.currentDeployment() ?? w.deployment).head;
    const grant = w.proposalEntry(CAST.admin, 'Identity_Grant', { identity: CAST.c3.signer, roles: ['council'] }, {
      idem: 'idem-once', hash: depHead(),
    });
    const [first] = await publishEntries(js, fx.prefix, w, [grant]);
    const [resent] = await publishEntries(js, fx.prefix, w, [grant]);
    expect(resent).toMatchObject({ duplicate: true, seq: first?.seq });
    await waitFor('grant decided', async () => (await lastSeq(n.decisionsName)) >= (first?.seq ?? 0));
    const r1 = decodeDr((await jsm.streams.getMessage(n.decisionsName, { seq: first?.seq ?? 0 }))?.data ?? new Uint8Array());
    expect(r1.outcome, `${r1.code ?? ''} ${r1.message ?? ''}`).toBe('accepted');
    const again = w.proposalEntry(CAST.admin, 'Identity_Grant', { identity: CAST.c3.signer, roles: ['council'] }, {
      idem: 'idem-once', hash: depHead(),
    });
    const [second] = await publishEntries(js, fx.prefix, w, [again]);
    expect(second?.duplicate).toBe(false);
    await waitFor('resubmission decided', async () => (await lastSeq(n.decisionsName)) >= (second?.seq ?? 0));
    const r2 = decodeDr((await jsm.streams.getMessage(n.decisionsName, { seq: second?.seq ?? 0 }))?.data ?? new Uint8Array());
    expect(r2.outcome).toBe('duplicate');
    expect(r2.original).toEqual({ wal_seq: first?.seq, outcome: 'accepted' });
  });

  it('Given bytes that are not an envelope, Then a rejected record, never a crash or a gap', async () => {
    const n = names();
    const ack = await js.publish(`${fx.prefix}.proposals.Boot_ConfigOk`, new TextEncoder().encode('not msgpack at all'));
    const bad = await js.publish(`${fx.prefix}.facts.tick`, encodeEnvelope(new Uint8Array([1, 2]), new Uint8Array(10)), { msgID: msgIdOf(new Uint8Array([1, 2])) });
    await waitFor('decisions', async () => (await lastSeq(n.decisionsName)) >= bad.seq);
    for (const seq of [ack.seq, bad.seq]) {
      const rec = decodeDr((await jsm.streams.getMessage(n.decisionsName, { seq }))?.data ?? new Uint8Array());
      expect(rec).toMatchObject({ wal_seq: seq, outcome: 'rejected', code: 'malformed_envelope', failing_guard: 'schema' });
    }
    expect(inst.status().role).toBe('writer');
  });

  it('Given decisions past the snapshot interval, Then the head snapshot matches the record at its sequence', async () => {
    const n = names();
    const kv = await new Kvm(js).open(n.snapshotsBucket);
    const store = new SnapshotStore(kv, nc.info?.max_payload ?? 1_048_576, 16);
    const rev = await store.headRevision();
    expect(rev).toBeGreaterThan(0);
    const snap = await store.load(rev);
    const rec = decodeDr((await jsm.streams.getMessage(n.decisionsName, { seq: snap.wal_seq }))?.data ?? new Uint8Array());
    expect(drHash(nodeHasher, contentOf(rec))).toBe(snap.dr_hash);
    const world = worldStateOf(snap.state);
    expect(worldHash(core, world)).toBe(snap.state_hash);
    expect(verifyWorld(core, world)).toBeNull();
  });
});
