/**
 * The licence gate at the network (brief §9: "all network activity is blocked until
 * LICENSE_CHECK passes"; issue: lock it down, item 8), end to end on a real nats-server: a
 * writer instance with its HTTP gateway and a real tick feeder. Once a revoked licence's grace
 * period is over, POST answers 503 license_expired with nothing published, the tick feeder
 * publishes nothing more (it holds its facts), reads and /health stay up, and the licence
 * feeder's next active fact opens everything again.
 */
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore, type State } from '../../src/core/index.js';
import { ProducerClock, buildProposal, identityFromSeed, signProposal } from '../../src/sdk/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { createNodeSigner } from '../../src/crypto/node-sign.js';
import { FactPublisher, LicenceGate, type FeederContext } from '../../src/feeders/common.js';
import { startTickFeeder } from '../../src/feeders/tick.js';
import { createHttpServer } from '../../src/http/server.js';
import { DEPLOYMENT_LICENCE_KEY, type LicenceGateRecord } from '../../src/server/process/deployment.js';
import { Instance } from '../../src/server/process/instance.js';
import { createLogger } from '../../src/server/observability/log.js';
import { CAST, castGenesis } from '../../src/proving/sim/world.js';
import { subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { waitUntil } from '../support/proc.js';

const GRACE_MS = 2_000;
const quiet = createLogger({ name: 'licence-network', level: 'silent' });

describe('the licence gate at the network, end to end', () => {
  let fx: NatsFixture;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let inst: Instance;
  let app: FastifyInstance;
  let base = '';

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    const core = createCore(nodeHasher);
    const g = core.parseGenesis(castGenesis({ license_grace_ms: GRACE_MS }));
    if (!g.ok) throw new Error(g.error.message);
    inst = new Instance({
      natsUrl: fx.url, prefix: fx.prefix, name: 'w1', genesis: g.value, signerSeed: randomBytes(32), log: quiet,
    });
    await inst.start();
    await waitUntil('writer role', () => Promise.resolve(inst.status().role === 'writer'));
    app = await createHttpServer({ instance: inst, log: quiet });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await inst?.stop();
    await nc?.close();
    await fx?.close();
  });

  it('Given a revoked licence, When its grace is over, Then POST is 503, the tick feeder holds its facts, reads stay up; When the licence is active again, Then both resume', async () => {
    const s = subjectsFor(fx.prefix);
    const gate = new LicenceGate(nc, fx.prefix, quiet);
    const signer = createNodeSigner(CAST.feeder.secretKey.slice(0, 32));
    const publisher = new FactPublisher(js, fx.prefix, signer, quiet, { gate });
    const ctx: FeederContext = { nc, js, prefix: fx.prefix, signer, log: quiet, publisher };
    const gateRecord = async (): Promise<LicenceGateRecord | null> => {
      const m = await jsm.streams.getMessage(`KV_${s.deploymentBucket}`, { last_by_subj: `$KV.${s.deploymentBucket}.${DEPLOYMENT_LICENCE_KEY}` });
      return m === null ? null : (JSON.parse(new TextDecoder().decode(m.data)) as LicenceGateRecord);
    };
    const lastTickSeq = async (): Promise<number> => (await jsm.streams.getMessage(s.walName, { last_by_subj: s.facts('tick') }))?.seq ?? 0;
    const walLast = async (): Promise<number> => (await jsm.streams.info(s.walName)).state.last_seq;
    const admin = identityFromSeed(CAST.admin.secretKey.slice(0, 32));
    const clock = new ProducerClock();
    const post = async (): Promise<{ status: number; code: unknown }> => {
      // A valid signed grant: the writer decides it while the gate is open (the outcome does
      // not matter here, only whether the gateway let it through).
      const d = inst.currentDeployment() as State;
      const body = signProposal(buildProposal({
        transition: 'Identity_Grant', signer: admin.signer, hlc: clock.next(),
        currentStateHash: inst.reducer.hashes(d).head,
        inputs: { identity: CAST.c3.signer, roles: ['voter'] },
      }), admin);
      const res = await fetch(`${base}/control/transition`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      const answer = (await res.json()) as { code?: unknown };
      return { status: res.status, code: answer.code };
    };

    await publisher.publish('license', { status: 'active', license_id: 'lic-1' });
    await waitUntil('the gate record says active', async () => (await gateRecord())?.status === 'active');
    const tick = await startTickFeeder(ctx, { intervalMs: 100 });
    try {
      const t0 = await lastTickSeq();
      await waitUntil('ticks flowing', async () => (await lastTickSeq()) > t0);

      const revoked = await publisher.publish('license', { status: 'revoked', license_id: 'lic-1' });
      await waitUntil('the gate record carries the grace end', async () => typeof (await gateRecord())?.grace_until_ms === 'number');
      const rec = (await gateRecord()) as LicenceGateRecord;
      const revokedAt = (await jsm.streams.getMessage(s.walName, { seq: revoked.seq }))?.timestamp;
      expect(rec.status).toBe('revoked');
      expect(rec.grace_until_ms).toBe(Date.parse(String(revokedAt)) + GRACE_MS);
      // Within the grace the gateway still checks bodies (here: one it refuses as invalid).
      if (Date.now() < (rec.grace_until_ms as number) - 300) expect((await post()).code).not.toBe('license_expired');

      // After the grace: the feeder holds, nothing more of its kind reaches the WAL.
      await waitUntil('the gate shut', () => Promise.resolve(gate.held() >= 1), GRACE_MS + 10_000);
      const shutTick = await lastTickSeq();
      const held0 = gate.held();
      await waitUntil('five more ticks held', () => Promise.resolve(gate.held() >= held0 + 5));
      expect(await lastTickSeq()).toBe(shutTick);
      expect(tick.stats()).toMatchObject({ failed: 0 });
      const before = await walLast();
      const r = await post();
      expect(r).toEqual({ status: 503, code: 'license_expired' });
      expect(await walLast()).toBe(before);
      expect((await fetch(`${base}/health`)).status).toBe(200);
      expect((await fetch(`${base}/state`)).status).toBe(200);

      // The licence feeder is never held: an active licence opens the gates again.
      await publisher.publish('license', { status: 'active', license_id: 'lic-1' });
      await waitUntil('the gate record says active again', async () => (await gateRecord())?.grace_until_ms === null);
      await waitUntil('ticks flowing again', async () => (await lastTickSeq()) > shutTick, 10_000);
      expect((await post()).code).not.toBe('license_expired');

      // A stray value under the key (anyone with publish rights there) is put right by the
      // instance within a poll.
      await js.publish(`$KV.${s.deploymentBucket}.${DEPLOYMENT_LICENCE_KEY}`, new TextEncoder().encode('{"grace_until_ms":0}'));
      await waitUntil('the instance corrects a stray gate value', async () => (await gateRecord())?.status === 'active', 10_000);
    } finally {
      await tick.stop();
      publisher.close();
    }
  });
});
