/**
 * Followers over a real nats-server: every follower recomputes every decision and ends at the
 * writer's hash; a follower whose configuration makes it compute differently raises the
 * divergence alarm (status, metric) and never becomes the writer; when the writer goes away a
 * follower takes over without an operator and the log stays clean.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import type { Genesis } from '../../src/core/genesis.js';
import type { CoreOptions } from '../../src/core/index.js';
import { GUARDS } from '../../src/core/guards/index.js';
import { deny } from '../../src/core/guards/contract.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { audit } from '../../src/server/replication/audit.js';
import { Instance } from '../../src/server/process/instance.js';
import { createLogger } from '../../src/server/observability/log.js';
import { subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { publishLive } from '../../src/proving/sim/publish.js';
import { waitUntil } from '../support/proc.js';
import { announceSeed } from '../support/seed.js';
import { CHAOS, streamSteps } from '../../src/proving/sim/stream.js';
import { World, castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';

const seed = Math.abs(announceSeed('follower integration'));
const log = createLogger({ level: process.env['SWOOSH_TEST_LOG'] ?? 'error' });
const core = createCore(nodeHasher);

function parse(raw: Record<string, unknown>): Genesis {
  return parseFixtureGenesis(raw, core);
}

describe('followers', () => {
  let fx: NatsFixture;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const raw = castGenesis();
  const genesis = parse(raw);
  const instances: Instance[] = [];
  const make = (name: string, g: Genesis = genesis, core?: CoreOptions): Instance => {
    const i = new Instance({
      natsUrl: fx.url, prefix: fx.prefix, name, genesis: g, ...(core === undefined ? {} : { core }), signerSeed: randomBytes(32),
      snapshotEvery: 50, leaseTtlMs: 1500, leaseRenewMs: 300, log, writers: 'lease',
    });
    instances.push(i);
    return i;
  };

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    for (const i of instances) await i.stop().catch(() => undefined);
    await nc?.close();
    await fx?.close();
  });

  it('Given a writer, two followers and a misconfigured one, Then the followers agree, the odd one raises the alarm, and failover needs no operator', async () => {
    const n = subjectsFor(fx.prefix);
    const w = make('w');
    await w.start();
    await waitUntil('w is writer', async () => Promise.resolve(w.status().role === 'writer'));
    const f1 = make('f1');
    const f2 = make('f2');
    // The same genesis (another one is refused at start: genesis_mismatch), but a quorum guard
    // that asks for three votes: the replica decides differently and must raise the alarm.
    const odd = make('odd', genesis, {
      guards: { ...GUARDS, quorum: (c) => (c.proposal.inputs['votes'] as unknown[]).length >= 3
        ? GUARDS.quorum(c) : deny('quorum_not_met', 'this replica wants three votes') },
    });
    await Promise.all([f1.start(), f2.start(), odd.start()]);
    const producer = new World(raw, undefined, { baseMs: Date.now() });
    await publishLive(js, jsm, fx.prefix, n.walName, producer, streamSteps(producer, seed, 250, { ...CHAOS, advance: 0 }));
    const walLast = (await jsm.streams.info(n.walName)).state.last_seq;
    await waitUntil('followers caught up', async () =>
      Promise.resolve([w, f1, f2].every((i) => i.status().wal_seq === walLast)));
    const hashes = [w, f1, f2].map((i) => i.status().state_hash);
    expect(new Set(hashes).size).toBe(1);
    expect([f1, f2].map((i) => i.status().role)).toEqual(['follower', 'follower']);
    await waitUntil('divergence alarm', async () => Promise.resolve(odd.status().diverged !== null));
    expect(odd.status().role).toBe('follower');
    expect(await odd.metrics.metricsText()).toMatch(/^swoosh_divergences_total 1$/m);
    expect(await f1.metrics.metricsText()).toMatch(/^swoosh_divergences_total 0$/m);
    expect(await f1.metrics.metricsText()).toMatch(/^swoosh_role\{role="follower"\} 1$/m);

    // Failover: the writer goes away; a healthy follower takes the lease and carries on.
    await w.stop();
    await waitUntil('a follower took over', async () =>
      Promise.resolve([f1, f2].some((i) => i.status().role === 'writer')), 15_000);
    expect(odd.status().role).toBe('follower');
    const next = new World(raw, undefined, { baseMs: Date.now() });
    next.observeHlc(f1.status().hlc_last);
    await publishLive(js, jsm, fx.prefix, n.walName, next, streamSteps(next, seed + 1, 60, { ...CHAOS, advance: 0 }));
    const walLast2 = (await jsm.streams.info(n.walName)).state.last_seq;
    await waitUntil('decided after failover', async () =>
      (await jsm.streams.info(n.decisionsName)).state.last_seq === walLast2);
    const report = await audit({ js, jsm, genesis, walName: n.walName, decisionsName: n.decisionsName, transitionsName: n.transitionsName });
    expect(report.problems).toEqual([]);
    await waitUntil('both agree with the audit', async () =>
      Promise.resolve([f1, f2].every((i) => i.status().state_hash === report.final_state_hash)));
  }, 90_000);
});
