/**
 * The shared state of one chaos run: the temporary directory and genesis, the nats-server or
 * cluster and the connection to it, the SWOOSH processes, and everything the run records
 * (violations, faults, timeline, samples, counters). The phases (load.ts, inject.ts,
 * converge.ts, build-report.ts) read and write it; run.ts strings them together.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Genesis } from '../../core/index.js';
import { startNatsCluster, type NatsCluster } from '../harness/nats-cluster.js';
import { startNatsServer, type EmbeddedNats } from '../harness/nats-server.js';
import { applyStreams, assertNoDrift } from '../../server/process/apply-streams.js';
import { DEPLOYMENT_BUCKETS_DEFAULT } from '../../server/process/deployment.js';
import type { InstanceStatus } from '../../server/process/instance.js';
import { streamDefinitions, subjectsFor, type Subjects } from '../../../streams/definitions.js';
import { Rng } from '../sim/planner.js';
import { castGenesis, parseFixtureGenesis } from '../sim/world.js';
import type { FenceWindow, Sample, Told } from './check.js';
import {
  spawnChaosInstance, statusOf, stopProc, writeKeyFile, type ChaosProc,
} from './proc.js';
import type { ChaosOptions, FaultEvent, TimelinePoint, Violation } from './types.js';

/** Nodes of a `--cluster` run (JetStream R3 needs three). */
export const CLUSTER_NODES = 3;

/** Attempts to start a process before the run gives up. */
const SPAWN_ATTEMPTS = 5;

/**
 * Writers by bucket: the leases a deployment's members share, the project buckets and the
 * deployment chain's (a chaos run always creates its deployment, with the default bucket count).
 */
export const BUCKET_LEASES = DEPLOYMENT_BUCKETS_DEFAULT + 1;

/**
 * Writers by bucket: how the live members' `buckets_held` cover the leases: `all` when every
 * lease is held by some member, `exact` when moreover none is reported by two members.
 */
export function leaseCover(
  st: Iterable<InstanceStatus>,
): { readonly all: boolean; readonly exact: boolean } {
  const seen = new Set<number>();
  let twice = false;
  for (const s of st) {
    for (const b of s.buckets_held ?? []) {
      if (seen.has(b)) twice = true;
      seen.add(b);
    }
  }
  let all = true;
  for (let b = 0; b < BUCKET_LEASES; b += 1) if (!seen.has(b)) all = false;
  return { all, exact: all && !twice };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A phase reported to `onProgress`. */
export type ChaosPhase = Parameters<NonNullable<ChaosOptions['onProgress']>>[0]['phase'];

/** A process that failed to start, and why. */
export interface StartupFailure {
  t_ms: number;
  name: string;
  attempt: number;
  detail: string;
}

/** The state one chaos run shares between its phases. */
export class ChaosRun {
  readonly o: ChaosOptions;
  readonly started: number;
  readonly dir: string;
  readonly prefix = 'chaos';
  readonly subjects: Subjects;
  readonly genesisRaw: Record<string, unknown>;
  readonly genesisFile: string;
  readonly genesis: Genesis;

  readonly violations: Violation[] = [];
  readonly faults: FaultEvent[] = [];
  readonly timeline: TimelinePoint[] = [];
  readonly samples: Sample[] = [];
  readonly observed = new Map<number, Uint8Array>();
  readonly told = new Map<number, Told>();
  readonly procs = new Map<string, ChaosProc>();
  readonly keys = new Map<string, { file: string; signer: string }>();
  published = 0;
  decided = 0;
  /** Most processes seen writing at once by one sample (several with writers by bucket). */
  writersAtOnce = 0;
  walLast = 0;
  publishRetries = 0;
  readonly fenceWindows: FenceWindow[] = [];
  readonly startupFailures: StartupFailure[] = [];
  server: EmbeddedNats | null = null;
  cluster: NatsCluster | null = null;
  nc: NatsConnection | null = null;
  readonly streamFaults: Record<string, number> = {};
  /** Environment of every SWOOSH process. */
  readonly env: Record<string, string>;

  private stopSampling = false;
  private sampler: Promise<void> = Promise.resolve();
  private readonly stoppedFlags = new Set<string>();
  private jsClient: JetStreamClient | null = null;
  private jsManager: JetStreamManager | null = null;
  /** The process faults' draws (victims, signals, snapshot damage). */
  readonly rng: Rng;

  constructor(o: ChaosOptions) {
    this.o = o;
    this.started = Date.now();
    this.dir = mkdtempSync(join(tmpdir(), 'swoosh-chaos-'));
    this.subjects = subjectsFor(this.prefix);
    this.genesisRaw = castGenesis({
      license_grace_ms: o.licenseGraceMs,
      projects: chaosProjects(o.projects),
    });
    this.genesisFile = join(this.dir, 'genesis.json');
    writeFileSync(this.genesisFile, JSON.stringify(this.genesisRaw));
    this.genesis = parseFixtureGenesis(this.genesisRaw);
    this.env = {
      // Named in both modes, so an inherited SWOOSH_WRITERS cannot change the run's mode.
      SWOOSH_WRITERS: o.writers,
      SWOOSH_DECIDE: o.decide,
      SWOOSH_RESIDENT_PROJECTS: String(o.residentProjects),
      SWOOSH_LEASE_TTL_MS: String(o.leaseTtlMs),
      SWOOSH_LEASE_RENEW_MS: String(Math.max(100, Math.floor(o.leaseTtlMs / 5))),
      SWOOSH_SNAPSHOT_EVERY: String(o.snapshotEvery),
      SWOOSH_REPLICAS: o.cluster ? '3' : '1',
    };
    this.rng = new Rng((o.seed ^ 0xfa017) >>> 0);
  }

  /** Milliseconds since the run started. */
  t(): number {
    return Date.now() - this.started;
  }

  /** Client URLs of the server or of every cluster node. */
  natsUrls(): string[] {
    if (this.cluster !== null) return [...this.cluster.urls];
    return this.server !== null ? [this.server.url] : [];
  }

  progress(phase: ChaosPhase): void {
    this.o.onProgress?.({
      phase, published: this.published, total: this.o.transitions,
      faults: this.faults.length, decided: this.decided,
    });
  }

  get conn(): NatsConnection {
    if (this.nc === null) throw new Error('not connected');
    return this.nc;
  }

  get js(): JetStreamClient {
    if (this.jsClient === null) throw new Error('not connected');
    return this.jsClient;
  }

  get jsm(): JetStreamManager {
    if (this.jsManager === null) throw new Error('not connected');
    return this.jsManager;
  }

  /**
   * Every node's URL, comma-separated, starting at a different node per process (so the
   * processes spread over the nodes and a node restart hits some of them, not all).
   */
  natsUrlFor(name: string): string {
    const urls = this.natsUrls();
    const i = Number(/(\d+)$/.exec(name)?.[1] ?? 0) % Math.max(1, urls.length);
    return [...urls.slice(i), ...urls.slice(0, i)].join(',');
  }

  /** Start (or start again) the process `name`, retrying a process that refuses to start. */
  async spawnNamed(name: string): Promise<ChaosProc> {
    if (this.natsUrls().length === 0) throw new Error('no server');
    let key = this.keys.get(name);
    if (key === undefined) {
      key = writeKeyFile(this.dir, name);
      this.keys.set(name, key);
    }
    let p: ChaosProc | null = null;
    for (let attempt = 1; p === null; attempt += 1) {
      try {
        p = await spawnChaosInstance({
          natsUrl: this.natsUrlFor(name), prefix: this.prefix, name, genesisFile: this.genesisFile,
          keyFile: key.file, signer: key.signer, env: this.env,
        });
      } catch (err) {
        // A process that refuses to start is loud, not unsafe: record it and start it again.
        const msg = (err as Error).message;
        const detail = msg.split('\n').slice(-1)[0] ?? msg;
        this.startupFailures.push({ t_ms: this.t(), name, attempt, detail });
        if (attempt >= SPAWN_ATTEMPTS) throw err;
        await sleep(300);
      }
    }
    this.procs.set(name, p);
    this.watchExit(name, p);
    return p;
  }

  /** A process that exits without us killing it is a violation. */
  private watchExit(name: string, p: ChaosProc): void {
    void p.exited.then((code) => {
      if (!p.killedByUs) {
        const last = p.output.slice(-5).join(' | ');
        this.violations.push({
          kind: 'instance_exited', seq: null,
          detail: `${name} exited on its own (${String(code)}): ${last}`,
        });
      }
    });
  }

  /**
   * The nats-server or cluster, the streams, and the SWOOSH processes (the first the writer;
   * with writers by bucket the first takes every lease, and the others their share as they join).
   */
  async startTopology(): Promise<void> {
    const o = this.o;
    if (o.cluster) {
      this.cluster = await startNatsCluster({
        baseDir: join(this.dir, 'nats-cluster'), size: CLUSTER_NODES,
      });
    } else {
      this.server = await startNatsServer({ storeDir: join(this.dir, 'nats') });
    }
    const nc = await connect({
      servers: this.natsUrls(), noAsyncTraces: true,
      maxReconnectAttempts: -1, reconnectTimeWait: 250,
    });
    this.nc = nc;
    this.jsClient = jetstream(nc, { timeout: 5000 });
    this.jsManager = await jetstreamManager(nc);
    const defs = streamDefinitions({
      prefix: this.prefix, replicas: o.cluster ? 3 : 1, leaseTtlMs: o.leaseTtlMs,
    });
    assertNoDrift(await applyStreams(nc, defs, { mode: 'apply' }));
    const names = Array.from({ length: o.replicas }, (_, i) => `swoosh-${i}`);
    // The first becomes the writer; the others follow.
    await this.spawnNamed(names[0] as string);
    await Promise.all(names.slice(1).map((n) => this.spawnNamed(n)));
  }

  /** The status of every running, not stopped process that answers. */
  async statuses(): Promise<Map<string, InstanceStatus>> {
    const out = new Map<string, InstanceStatus>();
    const running = [...this.procs.values()].filter((p) => p.alive() && !p.stopped);
    await Promise.all(running.map(async (p) => {
      const s = await statusOf(this.conn, this.prefix, p.name, 800);
      if (s !== null) out.set(p.name, s);
    }));
    return out;
  }

  async streamLast(name: string): Promise<number> {
    return (await this.jsm.streams.info(name)).state.last_seq;
  }

  /** True when the deployment's records are written by bucket lease (`--writers buckets`). */
  get buckets(): boolean {
    return this.o.writers === 'buckets';
  }

  /**
   * Records decided and stored: DECISIONS' last seq with one writer (record n at seq n); with
   * writers by bucket its message count (records are stored out of WAL order, so the last seq
   * says nothing of the gaps below it), and the last seq for reading the newest record.
   */
  async decisionsState(): Promise<{ decided: number; lastSeq: number }> {
    const st = (await this.jsm.streams.info(this.subjects.decisionsName)).state;
    return { decided: this.buckets ? st.messages : st.last_seq, lastSeq: st.last_seq };
  }

  /** Sampler: throughput, lag, every replica's (seq, hash), and records a client has seen. */
  startSampler(): void {
    this.sampler = (async () => {
      const prev = { t: this.t(), decided: 0 };
      while (!this.stopSampling) {
        try {
          await this.sampleOnce(prev);
        } catch {
          // NATS restarting: skip this sample.
        }
        this.progress(this.stopSampling ? 'check' : 'load');
        await sleep(500);
      }
    })();
  }

  private async sampleOnce(prev: { t: number; decided: number }): Promise<void> {
    const { walName, decisionsName } = this.subjects;
    this.walLast = await this.streamLast(walName);
    const dr = await this.decisionsState();
    this.decided = dr.decided;
    const now = this.t();
    const dt = Math.max(1, now - prev.t) / 1000;
    const walLast = this.walLast;
    const decided = this.decided;
    this.timeline.push({
      t_ms: now, wal_last: walLast, decided, lag: Math.max(0, walLast - decided),
      throughput: Math.max(0, decided - prev.decided) / dt,
    });
    prev.t = now;
    prev.decided = decided;
    // What a client reads: the newest record, kept by its DECISIONS seq.
    if (dr.lastSeq > 0 && !this.observed.has(dr.lastSeq)) {
      const m = await this.jsm.streams.getMessage(decisionsName, { seq: dr.lastSeq });
      if (m !== null) this.observed.set(dr.lastSeq, m.data);
    }
    const st = await this.statuses();
    const writing = [...st.values()].filter((s) => s.role === 'writer').length;
    this.writersAtOnce = Math.max(this.writersAtOnce, writing);
    for (const [name, s] of st) {
      // No state to compare: not started yet, or a member replaying towards the position its
      // snapshot's documents are at (ADR 0006 §7).
      if (s.state_hash !== '') {
        this.samples.push({ t_ms: now, name, wal_seq: s.wal_seq, state_hash: s.state_hash });
      }
      this.flagOnce(`d:${name}`, s.diverged !== null, () => ({
        kind: 'divergence', seq: s.wal_seq, detail: `${name}: ${s.diverged}`,
      }));
      this.flagOnce(`s:${name}`, s.role === 'stopped', () => ({
        kind: 'replica_stopped', seq: s.wal_seq,
        detail: `${name} stopped its role loop (invariant violation or fatal error)`,
      }));
    }
  }

  /** Record the violation `v()` the first time `cond` holds for `flag`. */
  private flagOnce(flag: string, cond: boolean, v: () => Violation): void {
    if (cond && !this.stoppedFlags.has(flag)) {
      this.stoppedFlags.add(flag);
      this.violations.push(v());
    }
  }

  /** Stop the sampler and wait for its last round. */
  async stopSampler(): Promise<void> {
    this.stopSampling = true;
    await this.sampler;
  }

  /** Run `f` until it succeeds, for at most `ms` (transient NATS unavailability). */
  async retrying<T>(what: string, f: () => Promise<T>, ms = 15_000): Promise<T> {
    const t0 = Date.now();
    for (;;) {
      try {
        return await f();
      } catch (err) {
        if (Date.now() - t0 > ms) {
          const msg = `${what} failed for ${ms} ms: ${(err as Error).message}`;
          throw new Error(msg, { cause: err });
        }
        await sleep(250);
      }
    }
  }

  /** Milliseconds until `cond` holds (errors count as not yet), or null after `ms`. */
  async waitFor(cond: () => Promise<boolean>, ms: number): Promise<number | null> {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      try {
        if (await cond()) return Date.now() - t0;
      } catch {
        // retry
      }
      await sleep(100);
    }
    return null;
  }

  async writerName(): Promise<string | null> {
    for (const [name, s] of await this.statuses()) if (s.role === 'writer') return name;
    return null;
  }

  /**
   * Records are being written again: a writer is up, or with writers by bucket every lease
   * (each bucket and the deployment chain's) is held by a live member.
   */
  async writing(): Promise<boolean> {
    if (!this.buckets) return (await this.writerName()) !== null;
    return leaseCover((await this.statuses()).values()).all;
  }

  async restart(name: string): Promise<void> {
    await sleep(200);
    await this.spawnNamed(name);
  }

  /**
   * The processes that follow. With writers by bucket, where every member usually holds some
   * buckets: the members holding none, else those not holding the deployment chain's lease (the
   * leader's), so a follower kill still kills a process other than the leader.
   */
  async liveFollowers(): Promise<string[]> {
    const st = [...(await this.statuses()).entries()];
    const fs = st.filter(([, s]) => s.role === 'follower').map(([n]) => n);
    if (!this.buckets || fs.length > 0) return fs;
    const leader = BUCKET_LEASES - 1;
    return st.filter(([, s]) => s.role === 'writer' && !(s.buckets_held ?? []).includes(leader))
      .map(([n]) => n).sort();
  }

  /**
   * A takeover from `victim`: another writer, or with writers by bucket every lease held by the
   * live members other than it (so each of its chains has a new holder).
   */
  newWriterOtherThan(victim: string): () => Promise<boolean> {
    if (this.buckets) {
      return async () => {
        const st = [...(await this.statuses()).entries()].filter(([n]) => n !== victim);
        return leaseCover(st.map(([, s]) => s)).all;
      };
    }
    return async () => {
      const w = await this.writerName();
      return w !== null && w !== victim;
    };
  }

  /** Stop everything the run started and remove its directory. */
  async close(): Promise<void> {
    this.stopSampling = true;
    await this.sampler.catch(() => undefined);
    await Promise.all([...this.procs.values()].map((p) => stopProc(p, 5000)));
    await this.nc?.close().catch(() => undefined);
    await this.server?.stop().catch(() => undefined);
    await this.cluster?.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The projects of a run: `default`, then `p1` … `p<n-1>`. */
export function chaosProjects(n: number): string[] {
  return ['default', ...Array.from({ length: Math.max(0, n - 1) }, (_, i) => `p${i + 1}`)];
}
