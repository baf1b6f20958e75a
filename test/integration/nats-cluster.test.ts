/**
 * The local 3-node JetStream cluster (src/proving/harness/nats-cluster.ts), the server side of
 * `swoosh chaos --cluster`: three real nats-server children on free loopback ports, an R3
 * stream that takes writes, one node (the stream's leader) killed and started again on the
 * same ports and store while writes go on, and not one acknowledged message lost.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { startNatsCluster, type NatsCluster } from '../../src/proving/harness/nats-cluster.js';
import { uniquePrefix } from '../support/nats.js';

const prefix = uniquePrefix();
const stream = `${prefix.toUpperCase()}_R3`;
let root: string;
let cluster: NatsCluster;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** What every acknowledged publish stored, by stream seq. */
const acked = new Map<number, string>();

async function publish(n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const data = `${tag}-${i}`;
    const ack = await js.publish(`${prefix}.x`, data, { msgID: data, timeout: 5_000 });
    expect(ack.duplicate).toBe(false);
    acked.set(ack.seq, data);
  }
}

/** Publish, retrying through the moments a node is away (what a producer does). */
async function publishRetrying(n: number, tag: string): Promise<number> {
  let retries = 0;
  for (let i = 0; i < n; i++) {
    const data = `${tag}-${i}`;
    for (;;) {
      try {
        const ack = await js.publish(`${prefix}.x`, data, { msgID: data, timeout: 2_000 });
        acked.set(ack.seq, data);
        break;
      } catch (err) {
        // A timeout while the leader moves: the same Nats-Msg-Id makes the retry exactly-once.
        void err;
        retries += 1;
        if (retries > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  return retries;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'swoosh-nats-cluster-'));
  cluster = await startNatsCluster({ baseDir: root });
  nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe('startNatsCluster', () => {
  it('Given no ports, Then 3 nodes on free loopback client and route ports (never 4222) with a meta leader', async () => {
    expect(cluster.nodes).toHaveLength(3);
    const ports = cluster.nodes.flatMap((n) => [n.port, n.clusterPort]);
    expect(new Set(ports).size).toBe(6);
    for (const p of ports) expect(p).not.toBe(4222);
    expect(cluster.url).toBe(cluster.nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(','));
    for (const n of cluster.nodes) {
      expect(n.pid()).toBeGreaterThan(0);
      const conf = await readFile(join(n.storeDir, 'nats-server.conf'), 'utf8');
      expect(conf).toContain(`listen: "127.0.0.1:${n.port}"`);
      expect(conf).toContain(`listen: "127.0.0.1:${n.clusterPort}"`);
      expect(conf).toContain(`name: "${cluster.name}"`);
      // Only loopback addresses anywhere in the config.
      expect(conf.match(/\d+\.\d+\.\d+\.\d+/g)?.every((a) => a === '127.0.0.1')).toBe(true);
    }
    const info = await jsm.getAccountInfo();
    expect(info.api.total).toBeGreaterThan(0);
  });

  it('Given an R3 stream, When its leader node is SIGKILLed and started again while writes go on, Then every acknowledged message is there exactly once and every replica catches up', async () => {
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], storage: 'file', num_replicas: 3, duplicate_window: 120_000_000_000 });
    await publish(100, 'before');
    const before = await jsm.streams.info(stream);
    expect(before.config.num_replicas).toBe(3);
    expect(before.state.last_seq).toBe(100);
    const leader = before.cluster?.leader;
    const victim = cluster.nodes.find((n) => n.serverName === leader);
    expect(victim, `stream leader ${String(leader)} is one of our nodes`).toBeDefined();
    const idx = victim?.index ?? 0;
    const portsBefore = [victim?.port, victim?.clusterPort];

    const writing = publishRetrying(200, 'during');
    const restart = await cluster.restartNode(idx, 'SIGKILL');
    const retries = await writing;
    expect(restart.signal).toBe('SIGKILL');
    expect(restart.downMs).toBeGreaterThan(0);
    expect([cluster.nodes[idx]?.port, cluster.nodes[idx]?.clusterPort]).toEqual(portsBefore);
    await publish(50, 'after');

    // The stream has exactly what was acknowledged, in order, nothing twice.
    const info = await jsm.streams.info(stream);
    expect(info.state.messages).toBe(350);
    expect(info.state.last_seq).toBe(350);
    expect([...acked.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 350 }, (_, i) => i + 1));
    for (const [seq, data] of acked) expect((await jsm.streams.getMessage(stream, { seq }))?.string()).toBe(data);
    console.info(`[nats-cluster] leader ${victim?.name} down ${restart.downMs} ms (stop ${restart.stopMs} ms); ${retries} publish retries; new leader ${String(info.cluster?.leader)}`);

    // The restarted node catches up: the leader reports both other replicas current at 350.
    await cluster.waitHealthy();
    let replicas: { name: string; current: boolean; lag?: number }[] = [];
    for (let i = 0; i < 100; i++) {
      const s = await jsm.streams.info(stream);
      replicas = s.cluster?.replicas ?? [];
      if (s.state.last_seq === 350 && replicas.length === 2 && replicas.every((r) => r.current && (r.lag ?? 0) === 0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(replicas.map((r) => [r.current, r.lag ?? 0])).toEqual([[true, 0], [true, 0]]);
  }, 60_000);
});
