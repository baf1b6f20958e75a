/** Options and report of a chaos run (`swoosh chaos`). */
import type { WritersMode } from '../../server/process/deployment.js';
import type { DecideMode } from '../../server/process/instance.js';
import type { FaultRates } from '../sim/stream.js';

export type { DecideMode, WritersMode };

/**
 * Faults done to processes and storage (the stream faults are rates, see FaultRates).
 * `nats_restart` restarts the single nats-server; in a cluster run (`--cluster`) it is
 * replaced by `nats_node_restart`, which restarts one node of the cluster. With writers by
 * bucket, `writer_kill` and `writer_stop` hit a member drawn among the lease holders, and
 * `follower_kill` a member holding no lease or else not the deployment chain's (inject.ts).
 */
export type ProcessFaultKind =
  | 'writer_kill'
  | 'follower_kill'
  | 'writer_stop'
  | 'nats_restart'
  | 'nats_node_restart'
  | 'snapshot_corrupt'
  | 'snapshot_rollback';

/** Every process fault of a single-server run, in the order the schedule first draws them. */
export const PROCESS_FAULTS: readonly ProcessFaultKind[] = [
  'writer_kill',
  'follower_kill',
  'writer_stop',
  'nats_restart',
  'snapshot_corrupt',
  'snapshot_rollback',
];

/** The same for a cluster run: one node restarted instead of the whole server. */
export const CLUSTER_PROCESS_FAULTS: readonly ProcessFaultKind[] = [
  'writer_kill',
  'follower_kill',
  'writer_stop',
  'nats_node_restart',
  'snapshot_corrupt',
  'snapshot_rollback',
];

/** The process faults of a run. */
export function processFaultsFor(cluster: boolean): readonly ProcessFaultKind[] {
  return cluster ? CLUSTER_PROCESS_FAULTS : PROCESS_FAULTS;
}

/**
 * The chaos run's genesis licence grace: short enough for a licence outage to reach HARD_STOP live.
 */
export const LICENSE_GRACE_MS_DEFAULT = 750;

/** Projects a run drives unless told otherwise (contract v2: several). */
export const CHAOS_PROJECTS_DEFAULT = 3;

/** The writers mode of a run's deployment unless told otherwise (one writer for every chain). */
export const CHAOS_WRITERS_DEFAULT: WritersMode = 'lease';

/** Everything a run is made of; the same options and seed give the same load and schedule. */
export interface ChaosOptions {
  readonly seed: number;
  /** WAL entries the producer publishes (proposals and facts, junk included). */
  readonly transitions: number;
  /** SWOOSH processes: one writer, the rest followers (at least 3); with `buckets`, members. */
  readonly replicas: number;
  /** Directory for report.json, summary.txt and timeline.svg; null writes nothing. */
  readonly outDir: string | null;
  /** Stream fault rates per generated entry. */
  readonly rates: FaultRates;
  /** Process faults that may be drawn. */
  readonly processFaults: readonly ProcessFaultKind[];
  /** How many process faults to inject. */
  readonly faultCount: number;
  /** Producer pace, entries per second. */
  readonly ratePerSec: number;
  readonly leaseTtlMs: number;
  readonly snapshotEvery: number;
  /** Bound on convergence after faults stop; exceeding it is a violation. */
  readonly convergeTimeoutMs: number;
  /** Entries published after convergence to show the system still accepts (liveness). */
  readonly probeEntries: number;
  /** Run against a local 3-node JetStream cluster with replicas-3 streams instead of one server. */
  readonly cluster: boolean;
  /**
   * The genesis `license_grace_ms` of the run: short, so a licence outage reaches HARD_STOP
   * within a live run (the stream waits it out entry by entry).
   */
  readonly licenseGraceMs: number;
  /**
   * Projects the load drives, each walking its own lifecycle with its own stream faults: the
   * default project and `p1`, `p2`, … (contract v2). Their entries interleave by the seed.
   */
  readonly projects: number;
  /**
   * The deployment's writers mode: `lease`, one writer process for every chain (the others
   * follow); `buckets`, every process a member holding the leases of some buckets
   * (SWOOSH_WRITERS=buckets), so DECISIONS seq != WAL seq and the checks work per chain.
   */
  readonly writers: WritersMode;
  /**
   * With writers by bucket: `all`, every member decides every chain; `held`, each decides only
   * the chains it holds (SWOOSH_DECIDE=held, docs/adr/0006-deciding-held-chains.md).
   */
  readonly decide: DecideMode;
  /**
   * Deciding held chains: project documents each member keeps in memory
   * (SWOOSH_RESIDENT_PROJECTS, docs/adr/0007-resident-projects.md); small values make members
   * evict and load projects all through the run.
   */
  readonly residentProjects: number;
  /** Progress (TTY bar or plain lines). */
  readonly onProgress?: (p: ChaosProgress) => void;
}

/** One progress tick. */
export interface ChaosProgress {
  readonly phase: 'start' | 'load' | 'converge' | 'check' | 'done';
  readonly published: number;
  readonly total: number;
  readonly faults: number;
  readonly decided: number;
}

/** One injected process fault. */
export interface FaultEvent {
  readonly t_ms: number;
  readonly kind: ProcessFaultKind;
  readonly target: string;
  /** Time until a writer decided again (failover) or the target was back. */
  readonly recovery_ms: number | null;
  readonly detail: string;
  /** Nothing to fault at that moment (e.g. no older snapshot yet): not counted. */
  readonly skipped: boolean;
}

/** A broken promise found by the checks. */
export interface Violation {
  readonly kind: string;
  readonly seq: number | null;
  readonly detail: string;
}

/** One timeline sample. */
export interface TimelinePoint {
  readonly t_ms: number;
  readonly wal_last: number;
  readonly decided: number;
  readonly lag: number;
  /** Decisions per second since the previous sample. */
  readonly throughput: number;
}

/** The JSON report. */
export interface ChaosReport {
  readonly ok: boolean;
  readonly seed: number;
  readonly options: Omit<ChaosOptions, 'onProgress'>;
  readonly started_at: string;
  readonly duration_ms: number;
  /** The server, or in a cluster run the cluster's client URLs comma-separated. */
  readonly nats_server: { readonly url: string; readonly version: string };
  /** The cluster topology of a `--cluster` run; null for a single server. */
  readonly nats_cluster: {
    readonly name: string;
    readonly stream_replicas: number;
    readonly nodes: readonly {
      readonly name: string;
      readonly server_name: string;
      readonly url: string;
      readonly route_port: number;
    }[];
  } | null;
  readonly instances: readonly string[];
  readonly wal_entries: number;
  /**
   * Entries the load published past `transitions` because process faults were still running
   * (the load goes on until the last fault is injected and recovered).
   */
  readonly overrun_entries: number;
  readonly applied_transitions: number;
  /** Decision records per chain: each project's and the deployment's (`_deployment`). */
  readonly records_by_chain: Readonly<Record<string, number>>;
  /**
   * Decision records by the process whose key signed them (one writer at a time with `lease`,
   * several at once with `buckets`).
   */
  readonly records_by_writer: Readonly<Record<string, number>>;
  /**
   * Most processes one status sample saw in the writer role at once: with writers by bucket, the
   * members holding leases together; with one writer 1, or 2 when a resumed writer still
   * reported its old role beside its successor before stepping down (its records are fenced).
   */
  readonly writers_at_once_max: number;
  readonly decisions_by_outcome: Readonly<Record<string, number>>;
  readonly rejections_by_code: Readonly<Record<string, number>>;
  readonly facts_by_kind: Readonly<Record<string, number>>;
  /** Every fault injected, by kind: the process faults and the stream faults together. */
  readonly faults_by_kind: Readonly<Record<string, number>>;
  readonly process_faults_by_kind: Readonly<Record<string, number>>;
  /**
   * Stream faults injected, by kind (dup … resubmit, the disruptive kinds, and
   * `license_hard_stop`: licence episodes whose grace ran out).
   */
  readonly stream_faults_by_kind: Readonly<Record<string, number>>;
  /** The stream fault rates in effect (the `disrupt` shorthand resolved per kind). */
  readonly stream_rates: Readonly<Record<string, number>>;
  /** BACKBEAT as the log shows it (src/proving/chaos/windows.ts). */
  readonly backbeat: {
    readonly frames: number;
    readonly tempo_changes: number;
    readonly beat_gaps: number;
    readonly beats_skipped: number;
    readonly windowed_accepted: number;
    readonly window_rejections: Readonly<Record<string, number>>;
  };
  /**
   * Transitions the reducer fired by itself (licence grace/expired/restored, quarantine,
   * auto-release).
   */
  readonly automatic_transitions: Readonly<Record<string, number>>;
  /**
   * Members deciding held chains, from each process's final status (counts since its last
   * start): projects taken up, documents evicted from memory, loaded back, not loadable, and
   * resident and cold at the end (docs/adr/0007-resident-projects.md). Empty otherwise.
   */
  readonly held_projects: Readonly<Record<string, {
    readonly taken_up: number;
    readonly evicted: number;
    readonly loaded: number;
    readonly load_failed: number;
    readonly resident: number;
    readonly cold: number;
  }>>;
  readonly faults: readonly FaultEvent[];
  readonly failovers: readonly FaultEvent[];
  readonly publish_retries: number;
  /**
   * Processes that refused to start and were started again (not safety violations, but
   * findings: e.g. the recovery race that reads the WAL's last seq before DECISIONS').
   */
  readonly startup_failures: readonly {
    readonly t_ms: number;
    readonly name: string;
    readonly attempt: number;
    readonly detail: string;
  }[];
  readonly divergences: readonly Violation[];
  readonly violations: readonly Violation[];
  readonly checks: Readonly<Record<string, number>>;
  readonly converged: boolean;
  readonly time_to_converge_ms: number | null;
  /** Time from the first probe entry to every replica having decided all of them. */
  readonly liveness_probe_ms: number | null;
  /** Of which: publishing the probe entries (closed loop, one at a time). */
  readonly liveness_probe_publish_ms: number | null;
  readonly final_state_hash: string;
  readonly timeline: readonly TimelinePoint[];
  readonly fault_marks: readonly { readonly t_ms: number; readonly kind: ProcessFaultKind }[];
  readonly reproduce: string;
}
