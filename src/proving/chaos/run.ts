/**
 * The chaos runner: a real nats-server on a free loopback port (or, with `cluster`, a 3-node
 * JetStream cluster on loopback with replicas-3 streams), N SWOOSH processes (one writer, the
 * rest followers), a seeded closed-loop producer walking full lifecycles with signed proposals
 * and facts (with stream faults at seeded rates), and a seeded schedule of process faults
 * (SIGKILL of writer and followers, SIGSTOP of the writer past its lease then SIGCONT,
 * nats-server restart or one cluster node's restart, snapshot corruption and rollback). Then
 * faults stop, the run waits for convergence, probes liveness and checks everything a
 * downstream service could read (see check.ts). Same seed and options, same load and same fault sequence (the timing
 * of process faults relative to the log varies a little with machine speed).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { WalEntry } from '../../core/index.js';
import { encodeEnvelope, msgIdOf } from '../../protocol/envelope.js';
import { SwooshError } from '../../protocol/errors.js';
import { startNatsCluster, type NatsCluster } from '../harness/nats-cluster.js';
import { startNatsServer, type EmbeddedNats } from '../harness/nats-server.js';
import { rfc3339Ms } from '../../protocol/wal-message.js';
import { applyStreams, assertNoDrift } from '../../server/process/apply-streams.js';
import type { InstanceStatus } from '../../server/process/instance.js';
import { streamDefinitions, subjectsFor } from '../../../streams/definitions.js';
// The seeded lifecycle walker and fault stream are shared with the property and integration
// tests (one planner, one definition of "a valid next step").
import { Rng } from '../sim/planner.js';
import { CHAOS, DISRUPTIVE_KINDS, NO_FAULTS, STREAM_FAULT_KINDS, disruptiveRate, streamSteps, type FaultRates } from '../sim/stream.js';
import { World, castGenesis, parseFixtureGenesis } from '../sim/world.js';
import { putRevisions } from '../../server/replication/snapshots.js';
import { runChecks, type FenceWindow, type Sample, type Told } from './check.js';
import { killProc, spawnChaosInstance, statusOf, stopProc, writeKeyFile, type ChaosProc } from './proc.js';
import { renderSummary, renderSvg, reproduceLine } from './report.js';
import {
  CLUSTER_PROCESS_FAULTS, LICENSE_GRACE_MS_DEFAULT, PROCESS_FAULTS, processFaultsFor, type ChaosOptions, type ChaosReport, type FaultEvent, type ProcessFaultKind,
  type TimelinePoint, type Violation,
} from './types.js';

export { CLUSTER_PROCESS_FAULTS, LICENSE_GRACE_MS_DEFAULT, PROCESS_FAULTS, processFaultsFor };
export type { ChaosOptions, ChaosReport };

/** Defaults: the acceptance run is `--transitions 10000 --replicas 3`. */
export function chaosOptions(over: Partial<ChaosOptions> & { seed: number }): ChaosOptions {
  return {
    transitions: 10_000, replicas: 3, outDir: null, rates: { ...CHAOS, advance: 0 }, processFaults: PROCESS_FAULTS,
    faultCount: 0, ratePerSec: 100, leaseTtlMs: 1500, snapshotEvery: 50, convergeTimeoutMs: 60_000, probeEntries: 20,
    cluster: false, licenseGraceMs: LICENSE_GRACE_MS_DEFAULT,
    ...over,
  };
}

/** Most entries the load goes on past `transitions` while process faults are still running. */
export const OVERRUN_ENTRIES_MAX = 1_000_000;

/** Nodes of a `--cluster` run (JetStream R3 needs three). */
export const CLUSTER_NODES = 3;

/** Every stream fault rate in effect, the `disrupt` shorthand resolved per disruptive kind. */
export function effectiveRates(r: FaultRates): Record<string, number> {
  const out: Record<string, number> = {
    dup: r.dup, reorder: r.reorder, drop: r.drop, stale: r.stale, badsig: r.badsig, stranger: r.stranger, skew: r.skew, resubmit: r.resubmit,
  };
  for (const k of DISRUPTIVE_KINDS) out[k] = disruptiveRate(r, k);
  out['advance'] = r.advance;
  return out;
}

/**
 * Refuse options a run cannot honour, with the field named: rates outside 0..1 or adding up to
 * more than 1 (the stream draws one fault per entry), process faults the mode does not have.
 */
export function validateChaosOptions(o: ChaosOptions): void {
  const bad = (field: string, msg: string): never => {
    throw new SwooshError('invalid_config', `${field}: ${msg}`);
  };
  if (!Number.isSafeInteger(o.replicas) || o.replicas < 3) bad('replicas', 'must be at least 3 (a writer and two followers)');
  const rates = effectiveRates(o.rates);
  for (const [k, v] of Object.entries(rates)) if (!Number.isFinite(v) || v < 0 || v > 1) bad(`rates.${k}`, `expected 0..1, got ${v}`);
  const sum = Object.values(rates).reduce((a, b) => a + b, 0);
  if (sum > 1) bad('rates', `stream fault rates add up to ${sum.toFixed(3)}; at most 1 (one fault per entry)`);
  const allowed = processFaultsFor(o.cluster);
  const foreign = o.processFaults.find((k) => !allowed.includes(k));
  if (foreign !== undefined) {
    bad('processFaults', `${foreign} is not a fault of a ${o.cluster ? 'cluster' : 'single-server'} run; one of ${allowed.join(', ')}`);
  }
  if (!Number.isSafeInteger(o.licenseGraceMs) || o.licenseGraceMs < 0) bad('licenseGraceMs', 'expected a non-negative integer');
}

/** Default number of process faults for a run length: one per ~250 entries, at least one of each kind. */
export function defaultFaultCount(transitions: number, kinds: number): number {
  return Math.max(kinds, Math.round(transitions / 250));
}

/** Attempts to start a process before the run gives up. */
const SPAWN_ATTEMPTS = 5;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The seeded schedule: which fault, after how many published entries. */
export function faultSchedule(o: ChaosOptions): { at: number; kind: ProcessFaultKind }[] {
  const kinds = o.processFaults;
  if (kinds.length === 0 || o.faultCount <= 0) return [];
  const rng = new Rng((o.seed ^ 0xc4a05) >>> 0);
  const order = [...kinds];
  for (let i = order.length - 1; i > 0; i -= 1) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j] as ProcessFaultKind, order[i] as ProcessFaultKind];
  }
  const drawn: ProcessFaultKind[] = [];
  for (let i = 0; i < o.faultCount; i += 1) drawn.push(i < order.length ? order[i] as ProcessFaultKind : rng.pick(kinds));
  // Faults land between 5% and 80% of the load: the rest shows the system settling under load.
  const at = drawn.map(() => Math.floor(o.transitions * (0.05 + 0.75 * rng.next()))).sort((a, b) => a - b);
  return drawn.map((kind, i) => ({ at: at[i] ?? 0, kind }));
}

/** Run one chaos experiment end to end. */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  validateChaosOptions(o);
  const started = Date.now();
  const t = (): number => Date.now() - started;
  const dir = mkdtempSync(join(tmpdir(), 'swoosh-chaos-'));
  const prefix = 'chaos';
  const subjects = subjectsFor(prefix);
  const genesisRaw = castGenesis({ license_grace_ms: o.licenseGraceMs });
  const genesisFile = join(dir, 'genesis.json');
  writeFileSync(genesisFile, JSON.stringify(genesisRaw));
  const genesis = parseFixtureGenesis(genesisRaw);

  const violations: Violation[] = [];
  const faults: FaultEvent[] = [];
  const timeline: TimelinePoint[] = [];
  const samples: Sample[] = [];
  const observed = new Map<number, Uint8Array>();
  const told = new Map<number, Told>();
  const procs = new Map<string, ChaosProc>();
  const keys = new Map<string, { file: string; signer: string }>();
  let published = 0;
  let decided = 0;
  let walLast = 0;
  let publishRetries = 0;
  const fenceWindows: FenceWindow[] = [];
  const startupFailures: { t_ms: number; name: string; attempt: number; detail: string }[] = [];
  let server: EmbeddedNats | null = null;
  let cluster: NatsCluster | null = null;
  let nc: NatsConnection | null = null;
  const streamFaults: Record<string, number> = {};
  /** Client URLs of the server or of every cluster node. */
  const natsUrls = (): string[] => (cluster !== null ? [...cluster.urls] : server !== null ? [server.url] : []);
  const progress = (phase: Parameters<NonNullable<ChaosOptions['onProgress']>>[0]['phase']): void =>
    o.onProgress?.({ phase, published, total: o.transitions, faults: faults.length, decided });

  const env = {
    SWOOSH_LEASE_TTL_MS: String(o.leaseTtlMs), SWOOSH_LEASE_RENEW_MS: String(Math.max(100, Math.floor(o.leaseTtlMs / 5))),
    SWOOSH_SNAPSHOT_EVERY: String(o.snapshotEvery), SWOOSH_REPLICAS: o.cluster ? '3' : '1',
  };
  /**
   * Every node's URL, comma-separated, starting at a different node per process (so the
   * processes spread over the nodes and a node restart hits some of them, not all).
   */
  const natsUrlFor = (name: string): string => {
    const urls = natsUrls();
    const i = Number(/(\d+)$/.exec(name)?.[1] ?? 0) % Math.max(1, urls.length);
    return [...urls.slice(i), ...urls.slice(0, i)].join(',');
  };
  const spawnNamed = async (name: string): Promise<ChaosProc> => {
    if (natsUrls().length === 0) throw new Error('no server');
    let key = keys.get(name);
    if (key === undefined) {
      key = writeKeyFile(dir, name);
      keys.set(name, key);
    }
    let p: ChaosProc | null = null;
    for (let attempt = 1; p === null; attempt += 1) {
      try {
        p = await spawnChaosInstance({ natsUrl: natsUrlFor(name), prefix, name, genesisFile, keyFile: key.file, signer: key.signer, env });
      } catch (err) {
        // A process that refuses to start is loud, not unsafe: record it and start it again.
        const msg = (err as Error).message;
        startupFailures.push({ t_ms: t(), name, attempt, detail: msg.split('\n').slice(-1)[0] ?? msg });
        if (attempt >= SPAWN_ATTEMPTS) throw err;
        await sleep(300);
      }
    }
    procs.set(name, p);
    void p.exited.then((code) => {
      if (!p.killedByUs) {
        violations.push({ kind: 'instance_exited', seq: null, detail: `${name} exited on its own (${String(code)}): ${p.output.slice(-5).join(' | ')}` });
      }
    });
    return p;
  };

  let stopSampler = false;
  let sampler: Promise<void> = Promise.resolve();
  try {
    progress('start');
    if (o.cluster) cluster = await startNatsCluster({ baseDir: join(dir, 'nats-cluster'), size: CLUSTER_NODES });
    else server = await startNatsServer({ storeDir: join(dir, 'nats') });
    nc = await connect({ servers: natsUrls(), noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const js = jetstream(nc, { timeout: 5000 });
    const jsm = await jetstreamManager(nc);
    assertNoDrift(await applyStreams(nc, streamDefinitions({ prefix, replicas: o.cluster ? 3 : 1, leaseTtlMs: o.leaseTtlMs }), { mode: 'apply' }));
    const names = Array.from({ length: o.replicas }, (_, i) => `swoosh-${i}`);
    // The first becomes the writer; the others follow.
    await spawnNamed(names[0] as string);
    await Promise.all(names.slice(1).map((n) => spawnNamed(n)));

    const conn = nc;
    const statuses = async (): Promise<Map<string, InstanceStatus>> => {
      const out = new Map<string, InstanceStatus>();
      await Promise.all([...procs.values()].filter((p) => p.alive() && !p.stopped).map(async (p) => {
        const s = await statusOf(conn, prefix, p.name, 800);
        if (s !== null) out.set(p.name, s);
      }));
      return out;
    };
    const streamLast = async (jsmx: JetStreamManager, name: string): Promise<number> => (await jsmx.streams.info(name)).state.last_seq;

    // Sampler: throughput, lag, every replica's (seq, hash), and records a client has seen.
    const stoppedFlags = new Set<string>();
    sampler = (async () => {
      let prevT = t();
      let prevDecided = 0;
      while (!stopSampler) {
        try {
          walLast = await streamLast(jsm, subjects.walName);
          decided = await streamLast(jsm, subjects.decisionsName);
          const now = t();
          const dt = Math.max(1, now - prevT) / 1000;
          timeline.push({ t_ms: now, wal_last: walLast, decided, lag: Math.max(0, walLast - decided), throughput: Math.max(0, decided - prevDecided) / dt });
          prevT = now;
          prevDecided = decided;
          if (decided > 0 && !observed.has(decided)) {
            const m = await jsm.streams.getMessage(subjects.decisionsName, { seq: decided });
            if (m !== null) observed.set(decided, m.data);
          }
          for (const [name, s] of await statuses()) {
            samples.push({ t_ms: now, name, wal_seq: s.wal_seq, state_hash: s.state_hash });
            if (s.diverged !== null && !stoppedFlags.has(`d:${name}`)) {
              stoppedFlags.add(`d:${name}`);
              violations.push({ kind: 'divergence', seq: s.wal_seq, detail: `${name}: ${s.diverged}` });
            }
            if (s.role === 'stopped' && !stoppedFlags.has(`s:${name}`)) {
              stoppedFlags.add(`s:${name}`);
              violations.push({ kind: 'replica_stopped', seq: s.wal_seq, detail: `${name} stopped its role loop (invariant violation or fatal error)` });
            }
          }
        } catch {
          // NATS restarting: skip this sample.
        }
        progress(stopSampler ? 'check' : 'load');
        await sleep(500);
      }
    })();

    /** Run `f` until it succeeds, for at most `ms` (transient NATS unavailability). */
    const retrying = async <T>(what: string, f: () => Promise<T>, ms = 15_000): Promise<T> => {
      const t0 = Date.now();
      for (;;) {
        try {
          return await f();
        } catch (err) {
          if (Date.now() - t0 > ms) throw new Error(`${what} failed for ${ms} ms: ${(err as Error).message}`, { cause: err });
          await sleep(250);
        }
      }
    };
    const waitFor = async (cond: () => Promise<boolean>, ms: number): Promise<number | null> => {
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
    };
    const writerName = async (): Promise<string | null> => {
      for (const [name, s] of await statuses()) if (s.role === 'writer') return name;
      return null;
    };
    const restart = async (name: string): Promise<void> => {
      await sleep(200);
      await spawnNamed(name);
    };
    const rng = new Rng((o.seed ^ 0xfa017) >>> 0);
    const liveFollowers = async (): Promise<string[]> => [...(await statuses()).entries()].filter(([, s]) => s.role === 'follower').map(([n]) => n);
    const newWriterOtherThan = (victim: string) => async (): Promise<boolean> => {
      const w = await writerName();
      return w !== null && w !== victim;
    };

    const inject = async (kind: ProcessFaultKind): Promise<void> => {
      const at = t();
      const record = (target: string, recovery: number | null, detail: string): void => {
        faults.push({ t_ms: at, kind, target, recovery_ms: recovery, detail, skipped: target === '-' });
      };
      const ttlBound = o.leaseTtlMs * 4 + 10_000;
      if (kind === 'writer_kill' || kind === 'writer_stop') {
        const victim = await waitFor(async () => (await writerName()) !== null, 10_000) === null ? null : await writerName();
        const p = victim === null ? undefined : procs.get(victim);
        if (victim === null || p === undefined) {
          record('-', null, 'no writer to fault');
          return;
        }
        if (kind === 'writer_kill') {
          await killProc(p);
          const t0 = Date.now();
          await restart(victim);
          // Failover: any writer deciding again (another process, or the restarted one).
          const more = await waitFor(async () => (await writerName()) !== null, ttlBound);
          record(victim, more === null ? null : Date.now() - t0, more === null ? 'no writer after the kill' : 'SIGKILL, restarted');
          if (more === null) violations.push({ kind: 'no_failover', seq: null, detail: `no writer within ${ttlBound} ms of killing ${victim}` });
          return;
        }
        p.child.kill('SIGSTOP');
        p.stopped = true;
        const t0 = Date.now();
        const took = await waitFor(newWriterOtherThan(victim), ttlBound);
        const failover = took === null ? null : Date.now() - t0;
        // From here until the zombie reports follower, no record may carry its signature.
        const fromSeq = took === null ? null : await retrying('reading DECISIONS', () => streamLast(jsm, subjects.decisionsName), 5_000).catch(() => null);
        await sleep(Math.max(0, o.leaseTtlMs + 1000 - (Date.now() - t0)));
        p.child.kill('SIGCONT');
        p.stopped = false;
        const fenced = await waitFor(async () => (await statusOf(conn, prefix, victim, 800))?.role === 'follower', 15_000);
        const toSeq = await retrying('reading DECISIONS', () => streamLast(jsm, subjects.decisionsName), 5_000).catch(() => null);
        if (fromSeq !== null && toSeq !== null) fenceWindows.push({ signer: p.signer, name: victim, fromSeq, toSeq });
        record(victim, failover, `SIGSTOP ${Date.now() - t0} ms; zombie ${fenced === null ? 'NOT fenced' : `back to follower ${fenced} ms after SIGCONT`}`);
        if (failover === null) violations.push({ kind: 'no_failover', seq: null, detail: `no new writer while ${victim} was stopped` });
        if (fenced === null) violations.push({ kind: 'zombie_not_fenced', seq: null, detail: `${victim} still not a follower 15 s after SIGCONT` });
        return;
      }
      if (kind === 'follower_kill') {
        const fs = await liveFollowers();
        if (fs.length === 0) {
          record('-', null, 'no follower to kill');
          return;
        }
        const victim = rng.pick(fs);
        const p = procs.get(victim);
        if (p !== undefined) await killProc(p);
        const t0 = Date.now();
        await restart(victim);
        // Back when it serves again: as a follower, or as the writer when it won the lease
        // (the writer may have lost it meanwhile, e.g. to an earlier fault).
        let last: InstanceStatus | null = null;
        const back = await waitFor(async () => {
          last = await statusOf(conn, prefix, victim, 800);
          return last?.role === 'follower' || last?.role === 'writer';
        }, 30_000);
        const seen = last as InstanceStatus | null;
        record(victim, back === null ? null : Date.now() - t0, back !== null ? `SIGKILL, restarted, back as ${seen?.role ?? '?'}`
          : `SIGKILL, restarted; not serving within 30 s (last status: ${seen === null ? 'no answer' : `${seen.role} at WAL ${seen.wal_seq}`})`);
        return;
      }
      if (kind === 'nats_node_restart') {
        if (cluster === null) return;
        // One node stopped cleanly or killed, its store kept, restarted on the same ports. The
        // seed draws the signal and whether it is the node leading the WAL's raft group (a
        // leader election under load) or a node drawn by index.
        const drawn = rng.int(cluster.nodes.length);
        const signal = rng.chance(0.5) ? 'SIGKILL' : 'SIGTERM';
        const wantLeader = rng.chance(0.5);
        const leaderOf = async (stream: string): Promise<string | null> =>
          (await jsm.streams.info(stream).catch(() => null))?.cluster?.leader ?? null;
        const walLeader = await leaderOf(subjects.walName);
        const leader = wantLeader ? cluster.nodes.find((n) => n.serverName === walLeader) : undefined;
        const node = leader ?? cluster.nodes[drawn];
        if (node === undefined) return;
        // Which raft groups lose their leader with it (information for the report).
        const leads: string[] = [];
        if (walLeader === node.serverName) leads.push(subjects.walName);
        if ((await leaderOf(subjects.decisionsName)) === node.serverName) leads.push(subjects.decisionsName);
        const t0 = Date.now();
        const r = await cluster.restartNode(node.index, signal);
        const back = await waitFor(async () => (await writerName()) !== null, ttlBound);
        const recovery = back === null ? null : Date.now() - t0;
        // Before the next fault: every raft group of the deployment has a leader and both
        // followers current again (the restarted node caught up), so faults do not pile up on
        // a cluster still electing. How long that took is in the detail.
        const healed = await waitFor(async () => {
          const streams = [subjects.walName, subjects.decisionsName, subjects.transitionsName, `KV_${subjects.snapshotsBucket}`, `KV_${subjects.leasesBucket}`];
          for (const name of streams) {
            const c = (await jsm.streams.info(name)).cluster;
            const rs = c?.replicas ?? [];
            if (c?.leader === undefined || rs.length !== CLUSTER_NODES - 1 || !rs.every((x) => x.current)) return false;
          }
          return (await jsm.consumers.info(subjects.walName, subjects.writerDurable)).cluster?.leader !== undefined;
        }, 30_000);
        record(node.name, recovery,
          `${signal} ${leader !== undefined ? 'the WAL leader' : 'a node drawn by index'}, back in the cluster after ${r.downMs} ms (${node.url}); ` +
          `it led ${leads.length === 0 ? 'neither WAL nor DECISIONS' : leads.join(' and ')}; ` +
          `${healed === null ? 'raft groups NOT all healed within 30 s' : `every raft group led and current ${Date.now() - t0} ms after the signal`}`);
        if (back === null) violations.push({ kind: 'no_writer_after_nats_restart', seq: null, detail: `no writer within ${ttlBound} ms of restarting ${node.name}` });
        return;
      }
      if (kind === 'nats_restart') {
        if (server === null) return;
        const t0 = Date.now();
        await server.restart();
        const down = Date.now() - t0;
        const back = await waitFor(async () => (await writerName()) !== null, ttlBound);
        record('nats-server', back === null ? null : Date.now() - t0, `restarted (down ${down} ms)`);
        if (back === null) violations.push({ kind: 'no_writer_after_nats_restart', seq: null, detail: `no writer within ${ttlBound} ms` });
        return;
      }
      // Snapshot faults: write a bad `head` revision, then restart a process so it must recover past it.
      // The KV operations retry through transient unavailability (a raft election in a cluster
      // after a node restart answers "no responders" for a moment); the seed's draws come first.
      const kv = await retrying('opening the snapshot bucket', () => new Kvm(js).open(subjects.snapshotsBucket));
      let detail: string;
      if (kind === 'snapshot_corrupt') {
        const truncated = rng.chance(0.5);
        const garbage = truncated ? '{"v":1,"encoding":"inline","corrupt":true' : JSON.stringify({ v: 1, encoding: 'inline', state_hash: 'sha256-00', wal_seq: 1 });
        await retrying('putting a garbage head', () => kv.put('head', new TextEncoder().encode(garbage)));
        detail = 'garbage head revision';
      } else {
        const revs = await retrying('reading the head history', () => putRevisions(kv, 'head'));
        const old = revs.length >= 2 ? revs[1 + rng.int(revs.length - 1)] : undefined;
        const e = old === undefined ? null : await retrying('reading an older head', () => kv.get('head', { revision: old }));
        if (e === null) {
          record('-', null, 'no older snapshot to roll back to');
          return;
        }
        await retrying('putting the older head back', () => kv.put('head', e.value));
        detail = `head rolled back to revision ${String(old)}`;
      }
      const victims = [...procs.values()].filter((p) => p.alive() && !p.stopped).map((p) => p.name);
      const victim = rng.pick(victims);
      const p = procs.get(victim);
      if (p !== undefined) await killProc(p);
      const t0 = Date.now();
      await restart(victim);
      const back = await waitFor(async () => {
        const s = await statusOf(conn, prefix, victim, 800);
        return s !== null && s.role !== 'starting';
      }, 30_000);
      record(victim, back === null ? null : Date.now() - t0, `${detail}; ${victim} SIGKILLed and restarted over it`);
    };

    // Producer and fault injector run together.
    const schedule = faultSchedule(o);
    const w = new World(genesisRaw, undefined, { baseMs: Date.now() });
    const loggedIds = new Set<string>();
    const publishOne = async (e: WalEntry, jsx: JetStreamClient, jsmx: JetStreamManager): Promise<WalEntry | null> => {
      if (e.type !== 'signed') return null;
      const sig = w.sigs.get(e.body);
      if (sig === undefined) throw new Error(`no signature recorded for entry ${e.seq}`);
      const body = new TextEncoder().encode(e.body);
      const id = msgIdOf(body);
      const knownBefore = loggedIds.has(id);
      const family = e.channel === 'fact' ? 'facts' : 'proposals';
      const t0 = Date.now();
      for (;;) {
        try {
          const ack = await jsx.publish(`${prefix}.${family}.${e.name}`, encodeEnvelope(body, sig), { msgID: id, timeout: 3000 });
          // A duplicate of an earlier entry is deduplicated; a duplicate of our own failed attempt is ours.
          if (ack.duplicate && knownBefore) return null;
          const stored = await jsmx.streams.getMessage(subjects.walName, { seq: ack.seq });
          if (stored === null) throw new Error(`WAL entry ${ack.seq} vanished`);
          loggedIds.add(id);
          const got = { ...e, seq: ack.seq as WalEntry['seq'], log_ms: rfc3339Ms(stored.timestamp) };
          w.seq = ack.seq;
          w.logMs = got.log_ms;
          return got;
        } catch (err) {
          if (Date.now() - t0 > 120_000) throw new Error(`publish failed for 120 s: ${(err as Error).message}`, { cause: err });
          publishRetries += 1;
          await sleep(250);
        }
      }
    };
    const produce = async (
      steps: Generator<WalEntry, void, WalEntry | null>, paced: boolean, count: (n: number) => void, stop: () => boolean = () => false,
    ): Promise<void> => {
      const t0 = Date.now();
      let i = 0;
      let next = steps.next(null);
      while (next.done !== true && !stop()) {
        if (paced) {
          const due = t0 + (i * 1000) / o.ratePerSec;
          if (Date.now() < due) await sleep(due - Date.now());
        }
        i += 1;
        const got = await publishOne(next.value, js, jsm);
        next = steps.next(got);
        if (got !== null) {
          const d = w.results[w.results.length - 1]?.decision;
          if (d !== undefined) told.set(got.seq, { outcome: d.outcome, transition: d.transition, code: d.code });
          count(1);
        }
      }
    };
    // The load is `transitions` entries, and goes on (the overrun, reported) until the last
    // process fault has been injected and recovered: every fault happens under load.
    let loadDone = false;
    let faultsDone = schedule.length === 0;
    const length = schedule.length === 0 ? o.transitions : o.transitions + OVERRUN_ENTRIES_MAX;
    const producer = produce(streamSteps(w, o.seed, length, o.rates, { counts: streamFaults }), true, (n) => {
      published += n;
    }, () => published >= o.transitions && faultsDone).finally(() => {
      loadDone = true;
    });
    const injector = (async () => {
      for (const f of schedule) {
        while (published < f.at && !loadDone) await sleep(50);
        await inject(f.kind);
        progress('load');
      }
    })().finally(() => {
      faultsDone = true;
    });
    await Promise.all([producer, injector]);
    const overrun = Math.max(0, published - o.transitions);

    // Faults stop: everything running and resumed, then wait for convergence.
    progress('converge');
    for (const p of procs.values()) {
      if (p.stopped) {
        p.child.kill('SIGCONT');
        p.stopped = false;
      }
    }
    // Measured from the last fault's injection (or from now when there were none).
    const lastFault = faults.filter((f) => !f.skipped).at(-1);
    const c0 = lastFault === undefined ? Date.now() : started + lastFault.t_ms;
    const converged = async (): Promise<boolean> => {
      const wl = await streamLast(jsm, subjects.walName);
      const dl = await streamLast(jsm, subjects.decisionsName);
      const st = await statuses();
      const hs = new Set([...st.values()].map((s) => s.state_hash));
      const writers = [...st.values()].filter((s) => s.role === 'writer').length;
      return dl === wl && st.size === o.replicas && hs.size === 1 && writers === 1 && [...st.values()].every((s) => s.wal_seq === wl);
    };
    const convergeMs = await waitFor(converged, o.convergeTimeoutMs);
    let probeMs: number | null = null;
    let probePublishMs: number | null = null;
    if (convergeMs === null) {
      violations.push({ kind: 'not_converged', seq: null, detail: `replicas did not agree within ${o.convergeTimeoutMs} ms after faults stopped` });
    } else {
      // Liveness: new proposals are accepted and every replica applies them.
      const p0 = Date.now();
      const before = told.size;
      await produce(streamSteps(w, (o.seed ^ 0x1f0be) >>> 0, o.probeEntries, NO_FAULTS), false, (n) => {
        published += n;
      });
      probePublishMs = Date.now() - p0;
      const waited = await waitFor(converged, o.convergeTimeoutMs);
      probeMs = waited === null ? null : Date.now() - p0;
      const accepted = [...told.entries()].filter(([seq, x]) => seq > 0 && x.outcome === 'accepted').length;
      if (probeMs === null) violations.push({ kind: 'not_live', seq: null, detail: `probe entries not decided by every replica within ${o.convergeTimeoutMs} ms` });
      else if (told.size > before && accepted === 0) violations.push({ kind: 'not_live', seq: null, detail: 'no proposal accepted' });
    }
    const timeToConverge = convergeMs === null ? null : Date.now() - c0 - (probeMs ?? 0);

    stopSampler = true;
    await sampler;
    progress('check');
    const final = await statuses();
    const checked = await runChecks({
      js, jsm, genesis, subjects, told, observed, samples,
      finalStatuses: final, producerHead: w.head(), fenceWindows,
    });
    violations.push(...checked.violations);
    for (const [name, p] of procs) {
      for (const line of p.output) {
        if (line.includes('InvariantViolation') || line.includes('"level":60') || line.includes('"level":"fatal"')) {
          violations.push({ kind: 'fatal_log', seq: null, detail: `${name}: ${line.slice(0, 300)}` });
          break;
        }
      }
    }
    const processFaultsByKind: Record<string, number> = {};
    for (const f of faults) if (!f.skipped) processFaultsByKind[f.kind] = (processFaultsByKind[f.kind] ?? 0) + 1;
    const streamFaultsByKind: Record<string, number> = {};
    for (const k of [...STREAM_FAULT_KINDS, 'license_hard_stop']) if ((streamFaults[k] ?? 0) > 0) streamFaultsByKind[k] = streamFaults[k] ?? 0;
    const faultsByKind = { ...processFaultsByKind, ...streamFaultsByKind };
    const divergences = violations.filter((v) => v.kind === 'divergence' || v.kind === 'replica_hash_mismatch');
    const { onProgress: _p, ...opts } = o;
    const report: ChaosReport = {
      ok: violations.length === 0,
      seed: o.seed,
      options: opts,
      started_at: new Date(started).toISOString(),
      duration_ms: t(),
      nats_server: { url: natsUrls().join(','), version: cluster?.version ?? server?.version ?? '' },
      nats_cluster: cluster === null ? null : {
        name: cluster.name, stream_replicas: 3,
        nodes: cluster.nodes.map((n) => ({ name: n.name, server_name: n.serverName, url: n.url, route_port: n.clusterPort })),
      },
      instances: [...procs.keys()],
      wal_entries: checked.walEntries,
      overrun_entries: overrun,
      applied_transitions: checked.applied,
      decisions_by_outcome: checked.outcomes,
      rejections_by_code: checked.rejections,
      facts_by_kind: checked.facts,
      faults_by_kind: faultsByKind,
      process_faults_by_kind: processFaultsByKind,
      stream_faults_by_kind: streamFaultsByKind,
      stream_rates: effectiveRates(o.rates),
      backbeat: checked.backbeat,
      automatic_transitions: checked.automatic,
      faults,
      failovers: faults.filter((f) => f.kind === 'writer_kill' || f.kind === 'writer_stop' || f.kind === 'nats_restart' || f.kind === 'nats_node_restart'),
      publish_retries: publishRetries,
      startup_failures: startupFailures,
      divergences,
      violations,
      checks: checked.counts,
      converged: convergeMs !== null,
      time_to_converge_ms: timeToConverge,
      liveness_probe_ms: probeMs,
      liveness_probe_publish_ms: probePublishMs,
      final_state_hash: checked.finalHash,
      timeline,
      fault_marks: faults.filter((f) => !f.skipped).map((f) => ({ t_ms: f.t_ms, kind: f.kind })),
      reproduce: reproduceLine(o),
    };
    if (o.outDir !== null) writeReport(o.outDir, report);
    progress('done');
    return report;
  } finally {
    stopSampler = true;
    await sampler.catch(() => undefined);
    await Promise.all([...procs.values()].map((p) => stopProc(p, 5000)));
    await nc?.close().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Write report.json, summary.txt and timeline.svg into `dir`. */
export function writeReport(dir: string, r: ChaosReport): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, 'summary.txt'), renderSummary(r));
  writeFileSync(join(dir, 'timeline.svg'), renderSvg(r));
}
