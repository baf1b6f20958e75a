/**
 * The attack the security issue opens with, against a deployment made with every default: one
 * anonymous publish of `{}` to `<prefix>.dr.anything` (and one on the deployment chain's own
 * subject) on a server without permissions. A default deployment is writers by bucket: the
 * stray is stored (nothing on that server can refuse it), the member sets it aside and keeps
 * deciding, and `swoosh audit verify` names exactly the strays (exit 1: an alarm, not a halt).
 */
import { execFileSync } from 'node:child_process';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsClient, ProducerClock, buildFact, identityFromSeed } from '../../src/sdk/index.js';
import { CAST, castGenesis } from '../../src/proving/sim/world.js';
import { subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { spawnInstance, waitUntil, writeInstanceFiles, type Proc } from '../support/proc.js';

describe('a stray record against a deployment with every default', () => {
  let fx: NatsFixture;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let proc: Proc | undefined;
  const files = writeInstanceFiles(castGenesis());

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    await proc?.stop();
    await nc?.close();
    await fx?.close();
  });

  it('Given an anonymous {} on dr.anything and on the deployment chain, Then the instance keeps deciding and the audit names exactly those strays', async () => {
    // An empty SWOOSH_WRITERS is unset: an inherited one cannot choose the mode here.
    proc = await spawnInstance({
      natsUrl: fx.url, prefix: fx.prefix, name: 'only', genesisFile: files.genesisFile, keyFile: files.keyFile('only'),
      env: { SWOOSH_WRITERS: '' },
    });
    const n = subjectsFor(fx.prefix);
    const sdk = NatsClient.fromConnection(nc, { prefix: fx.prefix });
    const clock = new ProducerClock();
    const feeder = identityFromSeed(CAST.feeder.secretKey.slice(0, 32));
    const tick = async (): Promise<number> => (await sdk.publishFact(buildFact({ kind: 'tick', signer: feeder.signer, hlc: clock.next(), payload: {} }), feeder)).wal_seq;
    const decided = (seq: number) => async (): Promise<boolean> => (await proc?.status())?.wal_seq === seq;
    await waitUntil('the first tick decided', decided(await tick()));
    const config = await jsm.streams.getMessage(`KV_${n.deploymentBucket}`, { last_by_subj: `$KV.${n.deploymentBucket}.config` });
    expect(JSON.parse(new TextDecoder().decode(config?.data))).toMatchObject({ writers: 'buckets' });

    await js.publish(`${fx.prefix}.dr.anything`, new TextEncoder().encode('{}'));
    await js.publish(n.dr('_deployment'), new TextEncoder().encode('{}'));
    const last = await (async () => {
      let s = 0;
      for (let i = 0; i < 5; i++) s = await tick();
      return s;
    })();
    await waitUntil('ticks after the strays decided', decided(last), 30_000);
    const st = await proc.status();
    expect(st.diverged).toBeNull();
    expect(st.role).not.toBe('stopped');
    // One record per entry, plus the two strays.
    await waitUntil('every record stored', async () => (await jsm.streams.info(n.decisionsName)).state.messages === last + 2);

    const out = (() => {
      try {
        return { code: 0, text: execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'audit', 'verify', '--json',
          '--nats-url', fx.url, '--prefix', fx.prefix, '--genesis', files.genesisFile], { encoding: 'utf8', timeout: 120_000 }) };
      } catch (err) {
        const e = err as { status: number; stdout: string };
        return { code: e.status, text: e.stdout };
      }
    })();
    const report = JSON.parse(out.text) as { ok: boolean; wal_entries: number; problems: { kind: string }[] };
    expect(out.code).toBe(1);
    expect(report.wal_entries).toBe(last);
    expect(report.problems.map((p) => p.kind)).toEqual(['stray_record', 'stray_record']);
  }, 90_000);
});
