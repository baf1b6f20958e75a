/**
 * The bounded chaos runs of `npm test` (docs/chaos.md): real nats-server, a writer and two
 * followers as child processes, seeded load with stream faults, and one of each process
 * fault (writer SIGKILL, follower SIGKILL, writer SIGSTOP past its lease then SIGCONT,
 * nats-server restart, snapshot corruption, snapshot rollback). The report must show zero
 * violations and convergence. A second, shorter run does the same against a local 3-node
 * JetStream cluster with R3 streams (one node restarted instead of the server), with the
 * named disruptive stream faults (licence, policy, MCP, capacity, BACKBEAT tempo and missed
 * beats) turned up. A third runs the single-server case with writers by bucket
 * (SWOOSH_WRITERS=buckets: three members sharing the bucket leases, every check per chain, the
 * process faults aimed at lease holders). The seed is fixed so `npm test` is reproducible; set
 * SWOOSH_CHAOS_SEED to try another. A seed that ever fails joins REGRESSION_SEEDS for good, in
 * the case it failed in (docs/chaos.md, Findings).
 */
import { describe, expect, it } from 'vitest';
import { chaosOptions, CLUSTER_PROCESS_FAULTS, runChaos } from '../../src/proving/chaos/run.js';
import { renderSummary } from '../../src/proving/chaos/report.js';
import { CHAOS } from '../../src/proving/sim/stream.js';
import type { ChaosReport } from '../../src/proving/chaos/types.js';

// Also a failing seed once: with the pipelined writer (96ceb6b) its single-server case found a
// stopped writer storing 20+ records after the takeover (zombie_record), about 1 run in 10.
// Fixed by 6f93d94 (the lease is trusted for ¾ of its TTL; src/server/replication/lease.ts, checked per
// batch by the writer; docs/chaos.md, Findings). It already runs in every case below, so it is
// not repeated in REGRESSION_SEEDS.
const DEFAULT_SEED = 20261122;

/** Seeds that once failed; each runs again with the same bounded options of its case, for good. */
const REGRESSION_SEEDS: readonly { readonly seed: number; readonly cluster: boolean; readonly found: string }[] = [
  {
    seed: 101, cluster: false,
    // The faults outlasted the 400 entries: writer_stop came after the load had ended, so no
    // record fell inside the zombie window and the fence went unchecked (zombie_fence 0). Seed
    // 202 failed the same way. Fixed in src/proving/chaos/run.ts: the load goes on past --transitions
    // until the last fault is injected and recovered (overrun_entries).
    found: 'zombie fence unchecked: writer_stop after the load ended',
  },
  {
    seed: 202, cluster: true,
    // First run: a process restarted ~10 s after a SIGKILLed node came back refused to start
    // (stream_apply_failed "stream info KV_CHAOS_LEASES: timeout": the leases bucket's raft
    // group was still electing). Second run: the runner itself crashed on "no responders" from
    // the snapshot bucket right after the node restart. Fixed in src/proving/chaos/run.ts: a
    // nats_node_restart waits until every raft group is led and current again before the next
    // fault, and the runner's KV operations retry transient unavailability. The instance's own
    // startup waits out a raft election for up to 20 s; past that the runner restarts it, as a
    // supervisor would (docs/chaos.md).
    found: 'startup failure and runner crash while raft groups re-elected after a node restart',
  },
];

/** What every bounded run must show: no broken promise, convergence, and the checks really ran. */
function expectSound(report: ChaosReport, minEntries: number, s: number, chainIds = ['_deployment', 'default', 'p1', 'p2']): void {
  expect(report.violations).toEqual([]);
  expect(report.divergences).toEqual([]);
  // Every restarted process must come up: a refusal to start (e.g. the spurious wal_tail_lost
  // this suite once found in recovery's read order) is a failure, not noise.
  expect(report.startup_failures).toEqual([]);
  expect(report.converged).toBe(true);
  expect(report.liveness_probe_ms).not.toBeNull();
  expect(report.wal_entries).toBeGreaterThanOrEqual(minEntries);
  expect(report.checks['audit']).toBe(1);
  expect(report.checks['replica_sample'] ?? 0).toBeGreaterThan(0);
  // Records written while the stopped writer was still waking up were checked for its key.
  expect(report.checks['zombie_fence'] ?? 0).toBeGreaterThan(0);
  expect(report.reproduce).toContain(`--seed ${s}`);
  // Several projects were driven, each in its own chain, beside the deployment chain.
  const chains = Object.entries(report.records_by_chain);
  expect(chains.map(([c]) => c).sort()).toEqual(chainIds);
  for (const [c, n] of chains) expect(n, c).toBeGreaterThan(10);
}

const raw = process.env['SWOOSH_CHAOS_SEED'];
const seed = raw === undefined || raw === '' ? DEFAULT_SEED : Number(raw);

describe('swoosh chaos (bounded)', () => {
  for (const s of [seed, ...REGRESSION_SEEDS.filter((r) => !r.cluster).map((r) => r.seed)]) {
    it(`Given seed ${s}, 400 entries, 3 processes and 6 process faults, When the run ends, Then no violation and converged`, async () => {
      console.info(`[chaos] seed ${s} (replay: SWOOSH_CHAOS_SEED=${s} npx vitest run test/chaos)`);
      const report = await runChaos(chaosOptions({
        seed: s, transitions: 400, replicas: 3, ratePerSec: 40, faultCount: 6, outDir: null, convergeTimeoutMs: 30_000,
      }));
      console.info(renderSummary(report));
      expectSound(report, 400, s);
      expect(report.ok).toBe(true);
    }, 150_000);
  }
});

describe('swoosh chaos --cluster (bounded)', () => {
  for (const s of [seed, ...REGRESSION_SEEDS.filter((r) => r.cluster).map((r) => r.seed)]) {
    it(`Given seed ${s}, a 3-node cluster with R3 streams, 300 entries with every disruptive stream fault turned up and 6 process faults, When the run ends, Then no violation and converged`, async () => {
      console.info(`[chaos --cluster] seed ${s} (replay: SWOOSH_CHAOS_SEED=${s} npx vitest run test/chaos)`);
      const report = await runChaos(chaosOptions({
        seed: s, transitions: 300, replicas: 3, ratePerSec: 40, faultCount: 6, outDir: null, convergeTimeoutMs: 30_000, cluster: true,
        processFaults: CLUSTER_PROCESS_FAULTS,
        rates: { ...CHAOS, advance: 0, license: 0.015, policy: 0.015, mcp: 0.015, capacity: 0.015, tempo: 0.03, missed_beat: 0.03 },
      }));
      console.info(renderSummary(report));
      expectSound(report, 300, s);
      // The topology: three nodes on distinct free loopback ports, every process given all three.
      const nodes = report.nats_cluster?.nodes ?? [];
      expect(nodes).toHaveLength(3);
      expect(report.nats_cluster?.stream_replicas).toBe(3);
      const ports = nodes.flatMap((n) => [Number(new URL(n.url).port), n.route_port]);
      expect(new Set(ports).size).toBe(6);
      expect(ports).not.toContain(4222);
      expect(nodes.every((n) => n.url.startsWith('nats://127.0.0.1:'))).toBe(true);
      expect(report.nats_server.url).toBe(nodes.map((n) => n.url).join(','));
      // One node restarted (the cluster form of nats_restart), and a failover after it.
      expect(report.process_faults_by_kind['nats_node_restart']).toBe(1);
      expect(report.process_faults_by_kind['nats_restart']).toBeUndefined();
      expect(report.failovers.some((f) => f.kind === 'nats_node_restart' && f.recovery_ms !== null)).toBe(true);
      // The disruptive kinds were injected and counted, and every windowed acceptance was checked
      // against the log's own beat frames.
      const streamKinds = Object.keys(report.stream_faults_by_kind);
      expect(streamKinds.filter((k) => ['license', 'policy', 'mcp', 'capacity', 'tempo', 'missed_beat'].includes(k)).length).toBeGreaterThanOrEqual(4);
      expect(report.faults_by_kind['nats_node_restart']).toBe(1);
      expect(report.checks['window_witness'] ?? 0).toBeGreaterThan(0);
      expect(report.backbeat.frames).toBeGreaterThan(0);
      expect(report.reproduce).toContain('--cluster');
      expect(report.reproduce).toContain(`--seed ${s}`);
      expect(report.ok).toBe(true);
    }, 120_000);
  }
});

describe.each(['all', 'held'] as const)('swoosh chaos --writers buckets --decide %s (bounded)', (decide) => {
  it(`Given seed ${seed}, writers by bucket deciding ${decide} chains, 400 entries over 6 projects, 3 member processes and 6 process faults, When the run ends, Then no violation, converged, and several members wrote records`, async () => {
    console.info(`[chaos --writers buckets] seed ${seed} (replay: SWOOSH_CHAOS_SEED=${seed} npx vitest run test/chaos)`);
    const report = await runChaos(chaosOptions({
      seed, transitions: 400, replicas: 3, ratePerSec: 40, faultCount: 6, outDir: null, convergeTimeoutMs: 30_000,
      projects: 6, writers: 'buckets', decide,
      // Held: room for two documents of seven, so members evict and load all through the run.
      ...(decide === 'held' ? { residentProjects: 2 } : {}),
    }));
    console.info(renderSummary(report));
    expectSound(report, 400, seed, ['_deployment', 'default', 'p1', 'p2', 'p3', 'p4', 'p5']);
    expect(report.options.writers).toBe('buckets');
    expect(report.reproduce).toContain('--writers buckets');
    // The default (held) is left out of the reproduce line; the other is named.
    if (decide === 'all') expect(report.reproduce).toContain('--decide all');
    else expect(report.reproduce).not.toContain('--decide');
    if (decide === 'held') {
      expect(report.reproduce).toContain('--resident-projects 2');
      const held = Object.values(report.held_projects);
      expect(held.length).toBe(3);
      // Members evicted and loaded projects (counts since each one's last start), none was lost.
      expect(held.reduce((n, h) => n + h.evicted, 0)).toBeGreaterThan(0);
      expect(held.reduce((n, h) => n + h.loaded, 0)).toBeGreaterThan(0);
      expect(held.every((h) => h.load_failed === 0)).toBe(true);
    }
    // The faults whose victims are lease holders (writer kill and stop) or other members
    // (follower kill) found one (snapshot_rollback may be skipped when it comes first, as with
    // one writer: no older snapshot yet).
    for (const k of ['writer_kill', 'writer_stop', 'follower_kill', 'nats_restart']) {
      expect(report.process_faults_by_kind[k], k).toBe(1);
    }
    // Records stored out of WAL order were matched to their entries, and more than one member
    // signed records (the chains are spread over the members' buckets).
    expect(report.checks['told_outcome'] ?? 0).toBeGreaterThanOrEqual(400);
    expect(Object.keys(report.records_by_writer).length).toBeGreaterThan(1);
    expect(report.writers_at_once_max).toBeGreaterThan(1);
    expect(report.ok).toBe(true);
  }, 120_000);
});
