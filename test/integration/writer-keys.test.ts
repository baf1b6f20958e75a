/**
 * Writer keys pinned in the registry (contract §2; Writer_Rotate): a process whose key is not
 * a writer never writes; a rotation hands the writing over from one key to the next at an
 * exact WAL position, with no record lost or refused; a record signed by a key the registry
 * does not hold is set aside by a member (writers by bucket) and never halts it. Real
 * nats-server, real child processes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore, writerKeys } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { createNodeVerifier } from '../../src/crypto/verify.js';
import { createNodeSigner } from '../../src/crypto/node-sign.js';
import { keyPairFromSeed } from '../../src/crypto/keys.js';
import { DOMAIN } from '../../src/crypto/domains.js';
import { decodeDr, type DecisionRecord } from '../../src/protocol/decision-record.js';
import { StreamReader } from '../../src/protocol/batch-reader.js';
import { audit } from '../../src/server/replication/audit.js';
import { Replica } from '../../src/server/replication/replica.js';
import { applyStreams, assertNoDrift } from '../../src/server/process/apply-streams.js';
import { streamDefinitions, subjectsFor } from '../../streams/definitions.js';
import { NatsClient, ProducerClock, buildFact, buildProposal, identityFromSeed, signProposal } from '../../src/sdk/index.js';
import { CAST, castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { spawnInstance, waitUntil, writeInstanceFiles, type Proc } from '../support/proc.js';

interface Key { signer: string; seed: Buffer; file: string }

function keyIn(dir: string, name: string): Key {
  const seed = randomBytes(32);
  const signer = keyPairFromSeed(seed).signer;
  const file = join(dir, `${name}.key.json`);
  writeFileSync(file, JSON.stringify({ signer, secret_key: seed.toString('hex') }), { mode: 0o600 });
  return { signer, seed, file };
}

async function setup(fx: NatsFixture, leaseTtlMs: number): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; sdk: NatsClient }> {
  const nc = await connect({ servers: fx.url, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  assertNoDrift(await applyStreams(nc, streamDefinitions({ prefix: fx.prefix, replicas: 1, leaseTtlMs }), { mode: 'apply' }));
  return { nc, js: jetstream(nc), jsm, sdk: NatsClient.fromConnection(nc, { prefix: fx.prefix }) };
}

async function records(js: JetStreamClient, stream: string, last: number): Promise<{ seq: number; subject: string; rec: DecisionRecord }[]> {
  const out: { seq: number; subject: string; rec: DecisionRecord }[] = [];
  const r = new StreamReader(js, stream, 1);
  try {
    while (out.length < last) {
      for (const m of await r.read(256, 5000)) out.push({ seq: m.seq, subject: m.subject, rec: decodeDr(m.data) });
    }
  } finally {
    await r.close();
  }
  return out;
}

/** A genesis (cast identities) pinning writer k1; k2 is a key the registry does not hold. */
function pinnedGenesis(): { files: ReturnType<typeof writeInstanceFiles>; k1: Key; k2: Key; core: ReturnType<typeof createCore>; genesis: ReturnType<typeof parseFixtureGenesis> } {
  const files = writeInstanceFiles({});
  const k1 = keyIn(files.dir, 'k1');
  const k2 = keyIn(files.dir, 'k2');
  const genesisRaw = castGenesis({ writers: [k1.signer] });
  writeFileSync(files.genesisFile, JSON.stringify(genesisRaw));
  const core = createCore(nodeHasher);
  return { files, k1, k2, core, genesis: parseFixtureGenesis(genesisRaw, core) };
}

async function teardown(procs: readonly Proc[], env: { nc: NatsConnection } | undefined, fx: NatsFixture | undefined): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
  await env?.nc.close();
  await fx?.close();
}

describe('writer keys: lease mode', () => {
  let fx: NatsFixture;
  let env: Awaited<ReturnType<typeof setup>>;
  const procs: Proc[] = [];
  const { files, k1, k2, core, genesis } = pinnedGenesis();
  const clock = new ProducerClock();
  const ENV = { SWOOSH_WRITERS: 'lease', SWOOSH_LEASE_TTL_MS: '1500', SWOOSH_LEASE_RENEW_MS: '300', SWOOSH_CRYPTO_THREADS: '0' };

  beforeAll(async () => {
    fx = await natsFixture();
    env = await setup(fx, 1500);
  });
  afterAll(async () => teardown(procs, env, fx));

  const ticks = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      await env.sdk.publishFact(buildFact({ kind: 'tick', signer: CAST.feeder.signer, hlc: clock.next(), payload: {} }), identityFromSeed(CAST.feeder.secretKey));
    }
  };
  const n = (): ReturnType<typeof subjectsFor> => subjectsFor(fx.prefix);
  const walLast = async (): Promise<number> => (await env.jsm.streams.info(n().walName)).state.last_seq;
  const allDecided = async (): Promise<boolean> => (await env.jsm.streams.info(n().decisionsName)).state.messages === await walLast();
  /** The deployment's HEAD now, from an in-process replay of the WAL (what a control proposal names). */
  const deploymentHead = async (): Promise<string> => {
    const r = Replica.fromGenesis(core, nodeHasher, createNodeVerifier(), genesis);
    const last = await walLast();
    const reader = new StreamReader(env.js, n().walName, 1);
    try {
      while (r.lastSeq < last) for (const m of await reader.read(256, 5000)) r.decideNext(m);
    } finally {
      await reader.close();
    }
    expect(writerKeys(r.deployment.identities).length).toBeGreaterThan(0);
    return core.hashes(r.deployment).head;
  };

  it('Given a genesis pinning writer k1, When a process with k2 starts, Then it never writes; k1 writes; a Writer_Rotate swap hands writing to k2 at the rotation entry, and the log audits clean', async () => {
    const b = await spawnInstance({ natsUrl: fx.url, prefix: fx.prefix, name: 'b', genesisFile: files.genesisFile, keyFile: k2.file, env: ENV });
    procs.push(b);
    const sb = await b.status();
    expect(sb.degraded ?? '').toMatch(/^writer_not_registered: /);
    expect(sb.degraded).toContain(k2.signer);
    await ticks(3);
    // Nothing decides while the only process holds an unregistered key.
    const a = await spawnInstance({ natsUrl: fx.url, prefix: fx.prefix, name: 'a', genesisFile: files.genesisFile, keyFile: k1.file, env: ENV });
    procs.push(a);
    await waitUntil('k1 decides the first entries', allDecided, 20_000);
    expect((await b.status()).role).toBe('follower');
    expect((await a.status()).role).toBe('writer');

    const rotate = signProposal(buildProposal({
      transition: 'Writer_Rotate', inputs: { add: [k2.signer], remove: [k1.signer] },
      signer: CAST.admin.signer, hlc: clock.next(), currentStateHash: await deploymentHead(),
    }), identityFromSeed(CAST.admin.secretKey));
    const rot = await env.sdk.submit(rotate);
    await ticks(4);
    await waitUntil('every entry decided after the rotation', allDecided, 30_000);
    await waitUntil('k2 writes and k1 does not', async () => (await b.status()).role === 'writer' && (await a.status()).role === 'follower', 20_000);
    await ticks(2);
    await waitUntil('entries after the handover decided', allDecided, 20_000);

    const last = await walLast();
    const recs = await records(env.js, n().decisionsName, last);
    expect(recs.map((r) => r.rec.wal_seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    const byWal = new Map(recs.map((r) => [r.rec.wal_seq, r.rec]));
    expect(byWal.get(rot.wal_seq)).toMatchObject({ transition: 'Writer_Rotate', outcome: 'accepted', writer: k1.signer });
    for (const r of recs) {
      expect(r.rec.writer, `record of WAL entry ${r.rec.wal_seq}`).toBe(r.rec.wal_seq <= rot.wal_seq ? k1.signer : k2.signer);
    }
    expect((await a.status()).degraded ?? '').toMatch(/^writer_not_registered: /);
    expect((await b.status()).degraded).toBeNull();
    const rep = await audit({ js: env.js, jsm: env.jsm, genesis, walName: n().walName, decisionsName: n().decisionsName, transitionsName: n().transitionsName });
    expect(rep.problems).toEqual([]);
    expect((await a.status()).state_hash).toBe(rep.final_state_hash);
    expect(a.output.join('\n')).toContain('writer: this key is not a writer in the registry; stepping down');
  }, 90_000);
});

describe('writer keys: writers by bucket', () => {
  let fx: NatsFixture;
  let env: Awaited<ReturnType<typeof setup>>;
  const procs: Proc[] = [];
  const { files, k1, k2, genesis } = pinnedGenesis();
  const clock = new ProducerClock();
  const ENV = { SWOOSH_WRITERS: 'buckets', SWOOSH_LEASE_TTL_MS: '1500', SWOOSH_LEASE_RENEW_MS: '300', SWOOSH_CRYPTO_THREADS: '0' };

  beforeAll(async () => {
    fx = await natsFixture();
    env = await setup(fx, 1500);
  });
  afterAll(async () => teardown(procs, env, fx));

  it('Given members with k1 (a writer) and k2 (not), Then k2 holds no bucket; a record signed by k2 on top of a chain is set aside as unknown_writer and the chain goes on', async () => {
    const s = subjectsFor(fx.prefix);
    const ticks = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        await env.sdk.publishFact(buildFact({ kind: 'tick', signer: CAST.feeder.signer, hlc: clock.next(), payload: {} }), identityFromSeed(CAST.feeder.secretKey));
      }
    };
    const wal = async (): Promise<number> => (await env.jsm.streams.info(s.walName)).state.last_seq;
    const drs = async (): Promise<number> => (await env.jsm.streams.info(s.decisionsName)).state.messages;
    const m1 = await spawnInstance({ natsUrl: fx.url, prefix: fx.prefix, name: 'm1', genesisFile: files.genesisFile, keyFile: k1.file, env: ENV });
    const m2 = await spawnInstance({ natsUrl: fx.url, prefix: fx.prefix, name: 'm2', genesisFile: files.genesisFile, keyFile: k2.file, env: ENV });
    procs.push(m1, m2);
    await ticks(3);
    await waitUntil('k1 decides', async () => (await drs()) === (await wal()), 20_000);
    await waitUntil('m1 holds every lease', async () => ((await m1.status()).buckets_held ?? []).length === 65, 20_000);
    expect((await m2.status()).buckets_held).toEqual([]);
    expect((await m2.status()).degraded ?? '').toMatch(/^writer_not_registered: /);

    // k2 signs a record that would be the deployment chain's next one: the signature verifies,
    // the key is not a writer.
    const top = await env.jsm.streams.getMessage(s.decisionsName, { last_by_subj: s.dr('_deployment') });
    const genuine = decodeDr(top?.data ?? new Uint8Array());
    const { signature: _s, writer: _w, ...content } = genuine;
    const unsigned = { ...content, chain_index: genuine.chain_index + 1, writer: k2.signer };
    const forged = { ...unsigned, signature: createNodeSigner(k2.seed).signObject(DOMAIN.dr, unsigned) };
    await env.js.publish(s.dr('_deployment'), new TextEncoder().encode(JSON.stringify(forged)));
    await ticks(3);
    await waitUntil('entries after the forged record decided', async () => (await drs()) === (await wal()) + 1, 20_000);
    for (const m of [m1, m2]) {
      const st = await m.status();
      expect(st.diverged, m.name).toBeNull();
      expect(st.wal_seq, m.name).toBe(await wal());
    }
    expect(m1.output.join('\n')).toMatch(/"kind":"unknown_writer".*not a writer of this deployment/);
    const rep = await audit({ js: env.js, jsm: env.jsm, genesis, walName: s.walName, decisionsName: s.decisionsName, transitionsName: s.transitionsName, aligned: false });
    expect(rep.problems.map((p) => p.kind)).toEqual(['stray_record']);
    const after = await env.jsm.streams.getMessage(s.decisionsName, { last_by_subj: s.dr('_deployment') });
    expect(decodeDr(after?.data ?? new Uint8Array()).writer).toBe(k1.signer);
  }, 60_000);
});

describe('writer keys: a member that has not folded the rotation yet', () => {
  let fx: NatsFixture;
  let env: Awaited<ReturnType<typeof setup>>;
  const procs: Proc[] = [];
  const { files, k1, k2, core, genesis } = pinnedGenesis();
  const clock = new ProducerClock();
  // No snapshots: the late member replays from genesis, so it reads the new writer's records
  // before it has decided the rotation that made that key a writer.
  const ENV = { SWOOSH_WRITERS: 'buckets', SWOOSH_LEASE_TTL_MS: '1500', SWOOSH_LEASE_RENEW_MS: '300', SWOOSH_CRYPTO_THREADS: '0', SWOOSH_SNAPSHOT_EVERY: '100000000' };

  beforeAll(async () => {
    fx = await natsFixture();
    env = await setup(fx, 1500);
  });
  afterAll(async () => teardown(procs, env, fx));

  it('Given records signed by a key a Writer_Rotate added, When a member reads them before deciding the rotation, Then it holds them until then and confirms every one (nothing set aside)', async () => {
    const s = subjectsFor(fx.prefix);
    const wal = async (): Promise<number> => (await env.jsm.streams.info(s.walName)).state.last_seq;
    const drs = async (): Promise<number> => (await env.jsm.streams.info(s.decisionsName)).state.messages;
    const ticks = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        await env.sdk.publishFact(buildFact({ kind: 'tick', signer: CAST.feeder.signer, hlc: clock.next(), payload: {} }), identityFromSeed(CAST.feeder.secretKey));
      }
    };
    const m1 = await spawnInstance({ natsUrl: fx.url, prefix: fx.prefix, name: 'm1', genesisFile: files.genesisFile, keyFile: k1.file, env: ENV });
    const m2 = await spawnInstance({ natsUrl: fx.url, prefix: fx.prefix, name: 'm2', genesisFile: files.genesisFile, keyFile: k2.file, env: ENV });
    procs.push(m1, m2);
    // More entries before the rotation than a member decides in one turn (256), so the late
    // member below reads the new key's records while the rotation is still ahead of it.
    await ticks(600);
    await waitUntil('k1 decides', async () => (await drs()) === (await wal()), 30_000);
    // The deployment's HEAD, from a replay here, for the control proposal.
    const r = Replica.fromGenesis(core, nodeHasher, createNodeVerifier(), genesis);
    const reader = new StreamReader(env.js, s.walName, 1);
    try {
      const last = await wal();
      while (r.lastSeq < last) for (const m of await reader.read(256, 5000)) r.decideNext(m);
    } finally {
      await reader.close();
    }
    await env.sdk.submit(signProposal(buildProposal({
      transition: 'Writer_Rotate', inputs: { add: [k2.signer], remove: [k1.signer] },
      signer: CAST.admin.signer, hlc: clock.next(), currentStateHash: core.hashes(r.deployment).head,
    }), identityFromSeed(CAST.admin.secretKey)));
    await waitUntil('k2 holds every bucket', async () => ((await m2.status()).buckets_held ?? []).length === 65, 30_000);
    await ticks(600);
    await waitUntil('every entry decided by k2', async () => (await drs()) === (await wal()), 30_000);
    const last = await wal();

    const k3 = writeInstanceFiles({}).keyFile('late');
    const late = await spawnInstance({ natsUrl: fx.url, prefix: fx.prefix, name: 'late', genesisFile: files.genesisFile, keyFile: k3, env: ENV });
    procs.push(late);
    await waitUntil('the late member confirms every record', async () => {
      const st = await late.status();
      return st.wal_seq === last && st.stored_seq === last && st.backlog === 0;
    }, 30_000);
    const st = await late.status();
    expect(st.diverged).toBeNull();
    expect(st.buckets_held).toEqual([]);
    // It did read the new key's records ahead of the rotation (it reads 512 records a turn and
    // decides 256 entries), held them, and set none aside.
    expect(st.records_held).toBeGreaterThan(0);
    expect(late.output.join('\n')).not.toMatch(/"kind":"unknown_writer"/);
  }, 120_000);
});
