/**
 * The deployment's identity (ARCHITECTURE §5, KV `<P>_DEPLOYMENT`): the first instance writes
 * `{genesis_hash, chart_hash, buckets, created}` once; an instance started on the same prefix
 * with another genesis refuses with `genesis_mismatch`, naming both hashes and the way out,
 * instead of failing later with a misleading replay_mismatch or starting "ready" and rejecting
 * everything.
 */
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSwooshError } from '../../src/protocol/errors.js';
import { applyStreams } from '../../src/server/process/apply-streams.js';
import { claimDeployment } from '../../src/server/process/deployment.js';
import { castGenesis } from '../../src/proving/sim/world.js';
import { streamDefinitions } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { spawnInstance, writeInstanceFiles } from '../support/proc.js';

describe('<P>_DEPLOYMENT: one genesis per prefix', () => {
  let fx: NatsFixture | undefined;
  let nc: NatsConnection | undefined;

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url });
  });

  afterAll(async () => {
    await nc?.close();
    await fx?.close();
  });

  function need(): { fx: NatsFixture; nc: NatsConnection } {
    if (fx === undefined || nc === undefined) throw new Error('no NATS fixture: beforeAll failed');
    return { fx, nc };
  }

  it('Given a new prefix, When two instances claim it at once with the same genesis, Then one config is written and both read it', async () => {
    const { fx: f, nc: c } = need();
    const prefix = `${f.prefix}a`;
    const defs = streamDefinitions({ prefix, replicas: 1 });
    await applyStreams(c, defs, { mode: 'apply' });
    const bucket = defs.subjects.deploymentBucket;
    const kv = await new Kvm(jetstream(c)).open(bucket);
    const want = { bucket, genesisHash: `sha256-${'a'.repeat(64)}`, chartHash: `sha256-${'c'.repeat(64)}`, prefix };
    const [x, y] = await Promise.all([claimDeployment(kv, want), claimDeployment(kv, want)]);
    expect(x).toEqual(y);
    expect(x).toMatchObject({ genesis_hash: want.genesisHash, chart_hash: want.chartHash, buckets: 64 });
    const stored = await kv.get('config');
    expect(stored?.revision).toBe(1);
    await expect(claimDeployment(kv, { ...want, genesisHash: `sha256-${'b'.repeat(64)}` })).rejects.toSatisfy(
      (e: unknown) => isSwooshError(e, 'genesis_mismatch') && e.message.includes('a'.repeat(64)) && e.message.includes('b'.repeat(64)),
    );
    await expect(claimDeployment(kv, { ...want, chartHash: `sha256-${'d'.repeat(64)}` })).rejects.toSatisfy(
      (e: unknown) => isSwooshError(e, 'genesis_mismatch') && e.message.includes('d'.repeat(64)),
    );
    expect((await kv.get('config'))?.revision).toBe(1); // nothing was overwritten
  });

  it('Given a deployment created with writers by bucket, When instances claim it, Then one naming no mode follows it, one naming lease is refused, and a config without the field is lease', async () => {
    const { fx: f, nc: c } = need();
    const prefix = `${f.prefix}w`;
    const defs = streamDefinitions({ prefix, replicas: 1 });
    await applyStreams(c, defs, { mode: 'apply' });
    const bucket = defs.subjects.deploymentBucket;
    const kv = await new Kvm(jetstream(c)).open(bucket);
    const want = { bucket, genesisHash: `sha256-${'a'.repeat(64)}`, chartHash: `sha256-${'c'.repeat(64)}`, prefix };
    expect(await claimDeployment(kv, { ...want, writers: 'buckets' })).toMatchObject({ writers: 'buckets' });
    expect(await claimDeployment(kv, want)).toMatchObject({ writers: 'buckets' });
    await expect(claimDeployment(kv, { ...want, writers: 'lease' })).rejects.toSatisfy(
      (e: unknown) => isSwooshError(e, 'invalid_config') && e.message.includes('SWOOSH_WRITERS=buckets'),
    );
    // A config written before the field existed is a one-writer deployment.
    const old = { genesis_hash: want.genesisHash, chart_hash: want.chartHash, buckets: 64, created: '2026-12-01T00:00:00.000Z' };
    await kv.put('config', JSON.stringify(old));
    expect(await claimDeployment(kv, want)).toMatchObject({ writers: 'lease' });
    await expect(claimDeployment(kv, { ...want, writers: 'buckets' })).rejects.toSatisfy(
      (e: unknown) => isSwooshError(e, 'invalid_config'),
    );
  });

  it('Given a deployment, When an instance starts on its prefix with another genesis, Then it exits with genesis_mismatch naming both hashes', async () => {
    const { fx: f } = need();
    const prefix = `${f.prefix}b`;
    const first = writeInstanceFiles(castGenesis());
    const a = await spawnInstance({ natsUrl: f.url, prefix, name: 'first', genesisFile: first.genesisFile, keyFile: first.keyFile('first') });
    await a.stop();
    const other = writeInstanceFiles(castGenesis({ instance_id: 'another' }));
    const err = await spawnInstance({ natsUrl: f.url, prefix, name: 'second', genesisFile: other.genesisFile, keyFile: other.keyFile('second') })
      .then(async (p) => {
        await p.stop();
        return null;
      }, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const text = (err as Error).message;
    expect(text).toContain('"code":"genesis_mismatch"');
    expect(text).toMatch(/created with genesis sha256-[0-9a-f]{64}; this instance was started with genesis sha256-[0-9a-f]{64}/);
    expect(text).toContain('SWOOSH_PREFIX');
  });
});
