/**
 * Snapshots stored per document (src/server/replication/snapshots.ts, `documents` encoding):
 * a state over the payload limit is stored as one content-addressed chunk set per document and
 * an index; a later snapshot in which one project changed writes that project's chunk and the
 * index only; loading verifies every chunk and gives back the same documents; a corrupt chunk
 * is named.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { SnapshotStore, snapshotMeta } from '../../src/server/replication/snapshots.js';
import { genesisPosition, worldDocOf, type WorldDoc } from '../../src/server/replication/replica.js';
import { applyStreams, assertNoDrift } from '../../src/server/process/apply-streams.js';
import { streamDefinitions, subjectsFor } from '../../streams/definitions.js';
import { castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';

const PROJECTS = 600;

describe('snapshots per document', () => {
  let fx: NatsFixture;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let kv: KV;
  const core = createCore(nodeHasher);
  const ids = Array.from({ length: PROJECTS }, (_, i) => `p${i}`);
  const genesis = parseFixtureGenesis({ ...castGenesis(), projects: ids }, core);
  const start = genesisPosition(core, nodeHasher, genesis);

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    jsm = await jetstreamManager(nc);
    assertNoDrift(await applyStreams(nc, streamDefinitions({ prefix: fx.prefix, replicas: 1 }), { mode: 'apply' }));
    kv = await new Kvm(jetstream(nc)).open(subjectsFor(fx.prefix).snapshotsBucket);
  });

  afterAll(async () => {
    await nc?.close();
    await fx?.close();
  });

  /** Messages stored in the snapshots bucket so far (every put is one). */
  const puts = async (): Promise<number> => (await jsm.streams.info(`KV_${subjectsFor(fx.prefix).snapshotsBucket}`)).state.last_seq;

  it('Given a state over the payload limit, When one project changes, Then the next snapshot writes that project and the index only, and both load back exactly', async () => {
    // A 64 KiB payload limit makes 600 projects (~1.5 KB each) far too large for one value.
    const store = new SnapshotStore(kv, 64 * 1024, 16);
    const first = worldDocOf(start);
    const before = await puts();
    const w1 = await store.write(snapshotMeta(core, start), first, 0);
    expect(w1.encoding).toBe('documents');
    const firstPuts = (await puts()) - before;
    // One chunk per distinct document (the projects' documents differ only by their id), the
    // index, the head.
    expect(firstPuts).toBeGreaterThanOrEqual(PROJECTS + 2);

    const changedDoc = { ...(first.projects['p7'] as WorldDoc['deployment']), epochs: { ...(first.projects['p7'] as WorldDoc['deployment']).epochs, council: 9 } };
    const second: WorldDoc = { ...first, projects: { ...first.projects, p7: changedDoc } };
    const mid = await puts();
    const w2 = await store.write(snapshotMeta(core, start), second, w1.revision);
    const secondPuts = (await puts()) - mid;
    // p7's chunk, the index's chunk(s) (~35 KB here: one), the head; nothing else.
    expect(secondPuts).toBeLessThanOrEqual(4);
    expect(secondPuts).toBeGreaterThanOrEqual(3);

    const reader = new SnapshotStore(kv, 64 * 1024, 16);
    const loaded = await reader.load(w2.revision);
    expect(JSON.stringify(loaded.state)).toBe(JSON.stringify(second));
    const older = await reader.load(w1.revision);
    expect(JSON.stringify(older.state)).toBe(JSON.stringify(first));
  });

  it('Given a chunk altered in the store, When the snapshot is loaded, Then the error names the corrupt chunk', async () => {
    const store = new SnapshotStore(kv, 64 * 1024, 16);
    const rev = await store.headRevision();
    const head = JSON.parse(new TextDecoder().decode((await kv.get('head'))?.value)) as { index: string[] };
    const key = head.index[0] as string;
    await kv.put(`chunk.${key}`, new TextEncoder().encode('{"tampered":true}'));
    await expect(new SnapshotStore(kv, 64 * 1024, 16).load(rev)).rejects.toThrow(`chunk ${key} is corrupt`);
  });
});
