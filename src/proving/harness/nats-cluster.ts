/**
 * A local JetStream cluster of `nats-server` children on loopback: the `--cluster` mode of
 * `swoosh chaos` and the cluster integration test. Every node listens on 127.0.0.1 only, on a
 * client port and a route port picked free at start (never a fixed port), keeps its store in
 * its own directory, and can be stopped (SIGTERM or SIGKILL) and started again on the same
 * ports and store. startNatsCluster returns once the cluster has a JetStream meta leader and
 * can place a replicas-3 stream.
 *
 * Built on nats-server.ts: the same binary discovery, version check, config rendering (with a
 * `cluster {}` block per node), child registry (children are SIGKILLed if this process exits
 * without stopping them) and readiness probe per node.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { SwooshError } from '../../protocol/errors.js';
import {
  LocalNatsServer,
  pickFreePort,
  readServerVersion,
  resolveNatsServerBin,
  serverNameFor,
  supportsSyncInterval,
} from './nats-server.js';

/** Options of startNatsCluster. */
export interface StartNatsClusterOptions {
  /** Node i keeps its config, log and store in `<baseDir>/node-<i>`; created if absent. */
  readonly baseDir: string;
  /**
   * Nodes; default 3 (JetStream needs a majority of the nodes for its meta group and R3 streams).
   */
  readonly size?: number;
  /** Ask for `sync_interval: always` when the server supports it (2.10+). */
  readonly syncAlways?: boolean;
  /** Bound on the whole start (nodes ready, meta leader, an R3 stream placed); default 30 s. */
  readonly startTimeoutMs?: number;
  /** How long a stop waits after SIGTERM before SIGKILL; default 5 s. */
  readonly stopTimeoutMs?: number;
}

/** One node of the cluster. */
export interface ClusterNode {
  readonly index: number;
  /** `nats-<index>` (the server_name is a hash of the store dir, see serverNameFor). */
  readonly name: string;
  readonly serverName: string;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Route port on 127.0.0.1. */
  readonly clusterPort: number;
  readonly storeDir: string;
  /** The child's pid while it runs. */
  pid(): number | undefined;
}

/** What restartNode measured. */
export interface NodeRestart {
  readonly node: string;
  readonly signal: 'SIGTERM' | 'SIGKILL';
  /** From the signal until the node answered JetStream requests again. */
  readonly downMs: number;
  /** Of which: until the process was gone. */
  readonly stopMs: number;
}

/** A running local cluster. */
export interface NatsCluster {
  /** The `cluster.name` of every node. */
  readonly name: string;
  /** nats-server version, e.g. `2.9.10`. */
  readonly version: string;
  readonly nodes: readonly ClusterNode[];
  /** Client URLs in node order. */
  readonly urls: readonly string[];
  /** The same, comma-separated: the NATS_URL form SWOOSH processes take. */
  readonly url: string;
  /**
   * Stop node `index` with `signal` (SIGTERM: clean shutdown; SIGKILL: crash), keep its store,
   * start it again on the same client and route ports, and wait until it answers JetStream
   * requests again with its routes to the other nodes up.
   */
  restartNode(index: number, signal?: 'SIGTERM' | 'SIGKILL'): Promise<NodeRestart>;
  /** Wait until every running node answers JetStream requests and sees the others. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stop every node (SIGTERM, SIGKILL after the stop timeout). Idempotent. */
  stop(): Promise<void>;
}

const startTimeoutMsDefault = 30_000;
const stopTimeoutMsDefault = 5_000;
/** Fresh port sets tried when a picked port was taken before a node could bind it. */
const portAttemptsMax = 3;
const pollMs = 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `n` distinct free loopback ports. */
async function distinctFreePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await pickFreePort());
  return [...out];
}

/** The cluster name for a base dir: stable across restarts, distinct between clusters. */
export function clusterNameFor(baseDir: string): string {
  return `swoosh_${createHash('sha256').update(resolve(baseDir)).digest('hex').slice(0, 12)}`;
}

interface NodeHandle extends ClusterNode {
  readonly server: LocalNatsServer;
}

/**
 * One health probe of a node: it is ours (server name), it knows every other node's client
 * URL (routes up: the server gossips the cluster's client URLs once routed) and its JetStream
 * answers `$JS.API.INFO` (which needs a meta leader). Throws while it does not hold.
 */
async function probeNode(node: ClusterNode, all: readonly ClusterNode[]): Promise<void> {
  const nc = await connect({
    servers: node.url,
    reconnect: false,
    timeout: 1_000,
    ignoreClusterUpdates: true,
  });
  try {
    const info = nc.info;
    if (info?.server_name !== node.serverName) {
      throw new Error(`${node.url} is answered by ${String(info?.server_name)}, not ${node.name}`);
    }
    const known = new Set((info.connect_urls ?? []).map((u) => u.replace(/^nats:\/\//, '')));
    const missing = all.filter((o) => o.index !== node.index && !known.has(`127.0.0.1:${o.port}`));
    if (missing.length > 0) {
      throw new Error(`${node.name} has no route to ${missing.map((m) => m.name).join(', ')} yet`);
    }
    const jsm = await jetstreamManager(nc, { timeout: 1_000 });
    await jsm.getAccountInfo();
  } finally {
    await nc.close();
  }
}

/** Poll `probe` until it holds or `timeoutMs` passes; the last error explains a timeout. */
async function pollUntil(
  what: string,
  timeoutMs: number,
  probe: () => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      await probe();
      return;
    } catch (err) {
      // Not there yet (routes, meta leader election, stream placement): poll again.
      last = err;
    }
    await sleep(pollMs);
  }
  throw new SwooshError(
    'nats_server_start_failed',
    `${what} within ${timeoutMs} ms: ${last instanceof Error ? last.message : String(last)}`,
    {
      retryable: true,
      cause: last,
    },
  );
}

/**
 * Prove the cluster can place a replicas-3 stream: create a small memory stream with
 * `num_replicas` = size, publish nothing, delete it. Until every node's JetStream has joined
 * the meta group this fails with "insufficient resources".
 */
async function placeProbeStream(jsm: JetStreamManager, size: number): Promise<void> {
  const name = `SWOOSH_CLUSTER_PROBE_${randomBytes(4).toString('hex')}`;
  await jsm.streams.add({
    name,
    subjects: [`swoosh_cluster_probe.${name}`],
    storage: 'memory',
    num_replicas: size,
    max_msgs: 1,
  });
  await jsm.streams.delete(name);
}

class LocalNatsCluster implements NatsCluster {
  readonly #nodes: NodeHandle[];
  readonly #startTimeoutMs: number;

  constructor(
    readonly name: string,
    readonly version: string,
    nodes: NodeHandle[],
    startTimeoutMs: number,
  ) {
    this.#nodes = nodes;
    this.#startTimeoutMs = startTimeoutMs;
  }

  get nodes(): readonly ClusterNode[] {
    return this.#nodes;
  }
  get urls(): readonly string[] {
    return this.#nodes.map((n) => n.url);
  }
  get url(): string {
    return this.urls.join(',');
  }

  async waitHealthy(timeoutMs = this.#startTimeoutMs): Promise<void> {
    const running = this.#nodes.filter((n) => n.pid() !== undefined);
    await Promise.all(
      running.map((n) =>
        pollUntil(
          `${n.name} (${n.url}) not routed to the others and answering JetStream`,
          timeoutMs,
          () => probeNode(n, running),
        ),
      ),
    );
  }

  async restartNode(
    index: number,
    signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
  ): Promise<NodeRestart> {
    const node = this.#nodes[index];
    if (node === undefined) {
      throw new SwooshError(
        'invalid_config',
        `restartNode: index ${index} is not a node (0..${this.#nodes.length - 1})`,
      );
    }
    const t0 = Date.now();
    await node.server.kill(signal);
    const stopMs = Date.now() - t0;
    await node.server.start(node.port);
    await pollUntil(
      `${node.name} (${node.url}) not back in the cluster`,
      this.#startTimeoutMs,
      () => probeNode(node, this.#nodes),
    );
    return { node: node.name, signal, downMs: Date.now() - t0, stopMs };
  }

  async stop(): Promise<void> {
    // Each server applies the stop timeout of its settings (SIGKILL after it).
    await Promise.all(this.#nodes.map((n) => n.server.stop()));
  }
}

/** Start every node on pre-picked ports; throws (after stopping what started) on failure. */
async function startOnce(o: {
  bin: string;
  version: string;
  baseDir: string;
  size: number;
  syncAlways: boolean;
  startTimeoutMs: number;
  stopTimeoutMs: number;
}): Promise<LocalNatsCluster> {
  const ports = await distinctFreePorts(o.size * 2);
  const clientPorts = ports.slice(0, o.size);
  const routePorts = ports.slice(o.size);
  const name = clusterNameFor(o.baseDir);
  const nodes: NodeHandle[] = [];
  for (let i = 0; i < o.size; i++) {
    const storeDir = join(o.baseDir, `node-${i}`);
    await mkdir(storeDir, { recursive: true });
    const port = clientPorts[i] as number;
    const clusterPort = routePorts[i] as number;
    const serverName = serverNameFor(storeDir);
    const server = new LocalNatsServer({
      bin: o.bin,
      version: o.version,
      serverName,
      storeDir,
      logFile: join(storeDir, 'nats-server.log'),
      syncAlways: o.syncAlways,
      startTimeoutMs: o.startTimeoutMs,
      stopTimeoutMs: o.stopTimeoutMs,
      cluster: { name, port: clusterPort, routes: routePorts.filter((_, j) => j !== i) },
    });
    nodes.push({
      index: i,
      name: `nats-${i}`,
      serverName,
      url: `nats://127.0.0.1:${port}`,
      port,
      clusterPort,
      storeDir,
      server,
      pid: () => server.pid(),
    });
  }
  const cluster = new LocalNatsCluster(name, o.version, nodes, o.startTimeoutMs);
  try {
    // All at once: a node's JetStream is ready only once a meta leader exists, which needs the
    // others.
    const started = await Promise.allSettled(nodes.map((n) => n.server.start(n.port)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const deadline = Date.now() + o.startTimeoutMs;
    await cluster.waitHealthy(o.startTimeoutMs);
    let nc: NatsConnection | null = null;
    try {
      nc = await connect({ servers: [...cluster.urls], timeout: 2_000 });
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      await pollUntil(
        `cluster ${name} could not place a replicas-${o.size} stream`,
        Math.max(1_000, deadline - Date.now()),
        () => placeProbeStream(jsm, o.size),
      );
    } finally {
      await nc?.close();
    }
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/**
 * Start a `size`-node JetStream cluster on loopback and wait until it has a meta leader and
 * can place a stream with `size` replicas. Ports are picked free; when one was taken before
 * the node bound it, the whole start is tried again on fresh ports (and fresh stores).
 */
export async function startNatsCluster(opts: StartNatsClusterOptions): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  if (!Number.isSafeInteger(size) || size < 1 || size > 9) {
    throw new SwooshError('invalid_config', `size: expected 1..9 nodes, got ${String(opts.size)}`);
  }
  const bin = resolveNatsServerBin();
  const version = await readServerVersion(bin);
  const settings = {
    bin, version, baseDir: opts.baseDir, size,
    syncAlways: (opts.syncAlways ?? false) && supportsSyncInterval(version),
    startTimeoutMs: opts.startTimeoutMs ?? startTimeoutMsDefault,
    stopTimeoutMs: opts.stopTimeoutMs ?? stopTimeoutMsDefault,
  };
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(settings);
    } catch (err) {
      if (attempt >= portAttemptsMax) throw err;
      // A picked port taken in the meantime makes a node exit; start over on fresh ports and
      // stores.
      for (let i = 0; i < size; i++) {
        await rm(join(opts.baseDir, `node-${i}`), { recursive: true, force: true });
      }
    }
  }
}
