/**
 * Prometheus metrics of one SWOOSH process. Every instance owns its registry (never the
 * prom-client global one), so several instances in one process — tests, a writer and a
 * follower side by side — never collide. The series names are a contract with dashboards and
 * alerts: they are listed in METRIC_NAMES and a test checks each one with its type.
 */
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Decision, Outcome, RejectionCode } from '../../core/index.js';

/** Every series this module defines, by name, with its Prometheus type. */
export const METRIC_NAMES = {
  swoosh_transition_total: 'counter',
  swoosh_guard_fail_total: 'counter',
  swoosh_state_advance_latency_seconds: 'histogram',
  swoosh_retry_count: 'counter',
  swoosh_quarantine_total: 'counter',
  swoosh_recovery_time_seconds: 'gauge',
  swoosh_wal_lag_records: 'gauge',
  swoosh_decisions_total: 'counter',
  swoosh_batch_size: 'histogram',
  swoosh_publish_latency_seconds: 'histogram',
  swoosh_fence_rejections_total: 'counter',
  swoosh_divergences_total: 'counter',
  swoosh_snapshot_age_seconds: 'gauge',
  swoosh_snapshot_bytes: 'gauge',
  swoosh_snapshots_total: 'counter',
  swoosh_role: 'gauge',
  swoosh_replay_mismatch_total: 'counter',
  swoosh_chain_decisions_total: 'counter',
  swoosh_stray_records_total: 'counter',
  swoosh_project_snapshots_total: 'counter',
  swoosh_projects: 'gauge',
  swoosh_resident_projects: 'gauge',
  swoosh_project_residency_total: 'counter',
} as const satisfies Record<string, 'counter' | 'gauge' | 'histogram'>;

/** A series name of the contract. */
export type MetricName = keyof typeof METRIC_NAMES;

/**
 * Rejection codes a producer is expected to retry: each says "not now", not "never". The same
 * proposal (same idem key) can succeed after the producer re-reads the state hash
 * (stale_state_hash), advances its HLC (hlc_regression), waits for the right BACKBEAT window
 * or phase (window_closed, window_mismatch, no_window, phase_not_allowed) or for the licence
 * to be restored (license_degraded). Every other code is final for those bytes: resubmitting
 * fails the same way. `swoosh_retry_count` counts these per transition, so a rise shows
 * contention or clock and window pressure rather than broken producers.
 */
export const RETRYABLE_CODES = [
  'stale_state_hash',
  'hlc_regression',
  'window_closed',
  'window_mismatch',
  'no_window',
  'phase_not_allowed',
  'license_degraded',
] as const satisfies readonly RejectionCode[];

const RETRYABLE: ReadonlySet<string> = new Set(RETRYABLE_CODES);

/** The roles a process can hold; `swoosh_role` is 1 for the current one. */
export const ROLES = ['writer', 'follower'] as const;
/** A process role (docs/glossary.md). */
export type Role = (typeof ROLES)[number];

/** Outcomes of a snapshot attempt, the `result` label of `swoosh_snapshots_total`. */
export const SNAPSHOT_RESULTS = ['ok', 'cas_conflict', 'error'] as const;
/** What `swoosh_project_residency_total` counts (docs/adr/0007-resident-projects.md). */
export const RESIDENCY_EVENTS = ['evicted', 'loaded', 'load_failed'] as const;
/** One snapshot attempt's result. */
export type SnapshotResult = (typeof SNAPSHOT_RESULTS)[number];

const OUTCOMES: readonly Outcome[] = ['accepted', 'rejected', 'duplicate', 'quarantined', 'fact'];

/** Label value for a decision field the entry did not carry (malformed entries). */
const NONE = 'none';

/**
 * Latency buckets from 1 ms to 10 s: a decision normally lands in milliseconds; seconds mean a
 * backlog, and anything past 10 s is an incident whatever its exact value.
 */
const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Batch sizes in powers of two up to 1024, past any batch size a pull would request. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** The typed prom-client handles, for callers that need more than the helpers below. */
export interface MetricSeries {
  readonly transitionTotal: Counter<'transition'>;
  readonly guardFailTotal: Counter<'guard'>;
  readonly stateAdvanceLatency: Histogram<'region'>;
  readonly retryCount: Counter<'transition'>;
  readonly quarantineTotal: Counter;
  readonly recoveryTime: Gauge;
  readonly walLag: Gauge;
  readonly decisionsTotal: Counter<'outcome'>;
  readonly batchSize: Histogram;
  readonly publishLatency: Histogram;
  readonly fenceRejectionsTotal: Counter;
  readonly divergencesTotal: Counter;
  readonly snapshotAge: Gauge;
  readonly snapshotBytes: Gauge;
  readonly snapshotsTotal: Counter<'result'>;
  readonly role: Gauge<'role'>;
  readonly replayMismatchTotal: Counter;
  readonly chainDecisionsTotal: Counter<'bucket'>;
  readonly strayRecordsTotal: Counter<'kind'>;
  readonly projects: Gauge;
  readonly projectSnapshotsTotal: Counter<'outcome'>;
  readonly residentProjects: Gauge;
  readonly projectResidencyTotal: Counter<'event'>;
}

/** Options of createMetrics. Names are a contract, so there is deliberately no prefix. */
export interface MetricsOptions {
  readonly prefix?: never;
  /** Wall clock in ms for the collect-time snapshot age; `Date.now` unless a test injects one. */
  readonly nowMs?: () => number;
  /** Collect Node.js process metrics into the same registry (default true). */
  readonly defaultMetrics?: boolean;
}

/** One process's metrics: its own registry, the typed series and the update helpers. */
export interface Metrics {
  readonly registry: Registry;
  /** Content-Type header value for `metricsText()`. */
  readonly contentType: string;
  readonly series: MetricSeries;
  /**
   * Updates every series one decision affects. `latencySeconds` is log time to decision record
   * stored; pass null when it means nothing (replay of old entries during recovery).
   */
  recordDecision(d: Decision, latencySeconds: number | null): void;
  /**
   * One decision record of a chain, by the bucket of its project (`deployment` for the
   * deployment chain): 64 values by default, never one per project.
   */
  recordChainDecision(bucket: string): void;
  /** Projects in the deployment's registry. */
  setProjects(n: number): void;
  /** Marks `role` as the current role (1) and every other role 0. */
  setRole(role: Role): void;
  /** One pulled batch of `size` WAL entries. */
  observeBatch(size: number): void;
  /** Publishing one batch's outputs until every ack arrived. */
  observePublishLatency(seconds: number): void;
  /** The stream refused an append because its expected sequence (the fence) was stale. */
  recordFenceRejection(): void;
  /** A message on a record subject that is not a record of this deployment was set aside. */
  recordStrayRecord(kind: string): void;
  /** A per-project snapshot was written, adopted (its queue dropped) or failed. */
  recordProjectSnapshot(outcome: 'written' | 'adopted' | 'failed'): void;
  /** A project's document was evicted from memory, loaded again, or could not be loaded. */
  recordResidency(event: (typeof RESIDENCY_EVENTS)[number]): void;
  /** Project documents in this process's memory now. */
  setResidentProjects(n: number): void;
  /** A follower's recomputed decision or hash differed from the published one. */
  recordDivergence(): void;
  /** Replaying the WAL gave another state hash than the one recorded. */
  recordReplayMismatch(): void;
  /** One snapshot attempt and its result. */
  recordSnapshot(result: SnapshotResult): void;
  /** The newest snapshot known to this process: when it was taken and its size. */
  setSnapshot(atMs: number, bytes: number): void;
  /** Duration of the recovery that just finished; set once per recovery. */
  setRecoveryTime(seconds: number): void;
  /** WAL last sequence minus the last decided sequence (never below zero). */
  setWalLag(walLastSeq: number, decidedSeq: number): void;
  /** The registry in the Prometheus text format. */
  metricsText(): Promise<string>;
}

/** Creates the metrics of one process, in a registry of its own. */
export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const nowMs = opts.nowMs ?? Date.now;
  const snap: SnapshotClock = { atMs: nowMs(), nowMs };
  const series = createSeries(registry, snap);
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    contentType: registry.contentType,
    series,
    recordDecision: (d, latencySeconds) => recordDecision(series, d, latencySeconds),
    recordChainDecision: (bucket) => series.chainDecisionsTotal.inc({ bucket }),
    recordStrayRecord: (kind) => series.strayRecordsTotal.inc({ kind }),
    recordProjectSnapshot: (outcome) => series.projectSnapshotsTotal.inc({ outcome }),
    recordResidency: (event) => series.projectResidencyTotal.inc({ event }),
    setResidentProjects: (n) => series.residentProjects.set(n),
    setProjects: (n) => series.projects.set(n),
    setRole: (role) => {
      for (const r of ROLES) series.role.set({ role: r }, r === role ? 1 : 0);
    },
    observeBatch: (size) => {
      assert(Number.isInteger(size) && size >= 0, `batch size ${size}`);
      series.batchSize.observe(size);
    },
    observePublishLatency: (seconds) => series.publishLatency.observe(nonNegative(seconds)),
    recordFenceRejection: () => series.fenceRejectionsTotal.inc(),
    recordDivergence: () => series.divergencesTotal.inc(),
    recordReplayMismatch: () => series.replayMismatchTotal.inc(),
    recordSnapshot: (result) => series.snapshotsTotal.inc({ result }),
    setSnapshot: (atMs, bytes) => {
      assert(Number.isFinite(atMs) && Number.isInteger(bytes) && bytes >= 0, 'snapshot');
      snap.atMs = atMs;
      series.snapshotBytes.set(bytes);
    },
    setRecoveryTime: (seconds) => series.recoveryTime.set(nonNegative(seconds)),
    setWalLag: (walLastSeq, decidedSeq) => {
      assert(Number.isInteger(walLastSeq) && Number.isInteger(decidedSeq), 'wal lag');
      // The two sequences are read at different moments; a decided sequence seen after a
      // stale last sequence means no lag, not a negative one.
      series.walLag.set(Math.max(0, walLastSeq - decidedSeq));
    },
    metricsText: () => registry.metrics(),
  };
}

/** Applies one decision to the series. Order does not matter: each series is independent. */
function recordDecision(s: MetricSeries, d: Decision, latencySeconds: number | null): void {
  s.decisionsTotal.inc({ outcome: d.outcome });
  for (const name of d.applied) s.transitionTotal.inc({ transition: name });
  if (d.failing_guard !== null) s.guardFailTotal.inc({ guard: d.failing_guard });
  if (d.outcome === 'quarantined') s.quarantineTotal.inc();
  if (d.outcome === 'rejected' && d.code !== null && RETRYABLE.has(d.code)) {
    s.retryCount.inc({ transition: d.transition ?? NONE });
  }
  if (latencySeconds !== null) {
    s.stateAdvanceLatency.observe({ region: d.region ?? NONE }, nonNegative(latencySeconds));
  }
}

/**
 * Durations measured across two clocks (JetStream's log time and ours) can come out slightly
 * negative under skew; that is zero latency, not an error. A non-finite value is a bug.
 */
function nonNegative(seconds: number): number {
  assert(Number.isFinite(seconds), `duration ${seconds} is not finite`);
  return Math.max(0, seconds);
}

/**
 * The newest snapshot known to this process. Before any is known the age counts from the
 * creation of the metrics, so "no snapshot for an hour" alerts the same either way.
 */
interface SnapshotClock {
  atMs: number;
  readonly nowMs: () => number;
}

/** Creates and registers every series in `registry`, with known label values set to zero. */
function createSeries(registry: Registry, snap: SnapshotClock): MetricSeries {
  const registers = [registry];
  const counter = <L extends string>(name: MetricName, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  const gauge = <L extends string>(name: MetricName, help: string, labelNames: L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers });
  const histogram = <L extends string>(name: MetricName, help: string, buckets: number[],
    labelNames: L[] = []) => new Histogram<L>({ name, help, buckets, labelNames, registers });
  const s: MetricSeries = {
    transitionTotal: counter('swoosh_transition_total', 'Transitions applied (proposed and '
      + 'automatic), one per name a decision applied.', ['transition']),
    guardFailTotal: counter('swoosh_guard_fail_total', 'Rejections per failing guard or check.',
      ['guard']),
    stateAdvanceLatency: histogram('swoosh_state_advance_latency_seconds',
      'WAL entry log time to its decision record being stored, per region.',
      LATENCY_BUCKETS_S, ['region']),
    retryCount: counter('swoosh_retry_count', 'Rejections a producer is expected to retry '
      + '(RETRYABLE_CODES), per transition.', ['transition']),
    quarantineTotal: counter('swoosh_quarantine_total', 'Decisions with outcome quarantined.'),
    recoveryTime: gauge('swoosh_recovery_time_seconds', 'Duration of the last recovery.'),
    walLag: gauge('swoosh_wal_lag_records', 'WAL last sequence minus last decided sequence.'),
    decisionsTotal: counter('swoosh_decisions_total', 'Decisions per outcome.', ['outcome']),
    batchSize: histogram('swoosh_batch_size', 'WAL entries per pulled batch.', BATCH_BUCKETS),
    publishLatency: histogram('swoosh_publish_latency_seconds',
      'Publishing one batch\'s outputs until every ack.', LATENCY_BUCKETS_S),
    fenceRejectionsTotal: counter('swoosh_fence_rejections_total',
      'Appends refused because the expected sequence (fence) was stale.'),
    divergencesTotal: counter('swoosh_divergences_total',
      'Follower recomputations that differed from the published decision record.'),
    // Computed on every scrape from the stored timestamp, so it never goes stale.
    snapshotAge: new Gauge({ name: 'swoosh_snapshot_age_seconds',
      help: 'Seconds since the newest snapshot.', registers,
      collect() { this.set(Math.max(0, (snap.nowMs() - snap.atMs) / 1000)); } }),
    snapshotBytes: gauge('swoosh_snapshot_bytes', 'Size of the newest snapshot.'),
    snapshotsTotal: counter('swoosh_snapshots_total', 'Snapshot attempts per result.',
      ['result']),
    role: gauge('swoosh_role', '1 for the current role of this process, 0 otherwise.', ['role']),
    replayMismatchTotal: counter('swoosh_replay_mismatch_total',
      'Replays whose state hash differed from the recorded one.'),
    strayRecordsTotal: counter('swoosh_stray_records_total',
      'Messages on a decision-record subject set aside (not a record of this deployment, ' +
        'a bad signature, a repeated index).',
      ['kind']),
    chainDecisionsTotal: counter('swoosh_chain_decisions_total',
      'Decision records per bucket of projects (`deployment`: facts and control).', ['bucket']),
    projects: gauge('swoosh_projects', 'Projects in the deployment registry.'),
    projectSnapshotsTotal: counter('swoosh_project_snapshots_total',
      'Per-project snapshots: written by a chain\'s holder, adopted by a member that queues the ' +
        'project (dropping the entries it covers), or failed.', ['outcome']),
    residentProjects: gauge('swoosh_resident_projects',
      'Project documents in this process\'s memory (bounded by SWOOSH_RESIDENT_PROJECTS).'),
    projectResidencyTotal: counter('swoosh_project_residency_total',
      'Project documents evicted from memory, loaded again from their snapshot, or that could ' +
        'not be loaded (load_failed: the project waits; see docs/operations.md).', ['event']),
  };
  // Known label values start at zero so rate() has a starting point and dashboards show the
  // series before the first event.
  for (const outcome of OUTCOMES) s.decisionsTotal.inc({ outcome }, 0);
  for (const result of SNAPSHOT_RESULTS) s.snapshotsTotal.inc({ result }, 0);
  for (const role of ROLES) s.role.set({ role }, 0);
  for (const event of RESIDENCY_EVENTS) s.projectResidencyTotal.inc({ event }, 0);
  return s;
}
