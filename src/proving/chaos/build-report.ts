/** The chaos report: counts by fault kind, the log scan, and the report document itself. */
import {
  DISRUPTIVE_KINDS, STREAM_FAULT_KINDS, disruptiveRate, type FaultRates,
} from '../sim/stream.js';
import type { CheckResult } from './check.js';
import type { ChaosRun } from './chaos-run.js';
import type { Settled } from './load.js';
import { reproduceLine } from './report.js';
import type { ChaosReport, Violation } from './types.js';
import type { InstanceStatus } from '../../server/process/instance.js';

/** Every stream fault rate in effect, the `disrupt` shorthand resolved per disruptive kind. */
export function effectiveRates(r: FaultRates): Record<string, number> {
  const out: Record<string, number> = {
    dup: r.dup, reorder: r.reorder, drop: r.drop, stale: r.stale, badsig: r.badsig,
    stranger: r.stranger, skew: r.skew, resubmit: r.resubmit,
  };
  for (const k of DISRUPTIVE_KINDS) out[k] = disruptiveRate(r, k);
  out['advance'] = r.advance;
  return out;
}

/** The first fatal line of each process's log, if any. */
export function fatalLogViolations(run: ChaosRun): Violation[] {
  const out: Violation[] = [];
  for (const [name, p] of run.procs) {
    const line = p.output.find((l) => l.includes('InvariantViolation') ||
      l.includes('"level":60') || l.includes('"level":"fatal"'));
    if (line !== undefined) {
      out.push({ kind: 'fatal_log', seq: null, detail: `${name}: ${line.slice(0, 300)}` });
    }
  }
  return out;
}

/** Injected process faults and drawn stream faults, by kind. */
function faultCounts(run: ChaosRun): {
  process: Record<string, number>;
  stream: Record<string, number>;
} {
  const process: Record<string, number> = {};
  for (const f of run.faults) if (!f.skipped) process[f.kind] = (process[f.kind] ?? 0) + 1;
  const stream: Record<string, number> = {};
  for (const k of [...STREAM_FAULT_KINDS, 'license_hard_stop']) {
    if ((run.streamFaults[k] ?? 0) > 0) stream[k] = run.streamFaults[k] ?? 0;
  }
  return { process, stream };
}

/** The nats-server or cluster the run used, for the report. */
function natsOf(run: ChaosRun): Pick<ChaosReport, 'nats_server' | 'nats_cluster'> {
  const { cluster, server } = run;
  return {
    nats_server: {
      url: run.natsUrls().join(','), version: cluster?.version ?? server?.version ?? '',
    },
    nats_cluster: cluster === null ? null : {
      name: cluster.name, stream_replicas: 3,
      nodes: cluster.nodes.map((n) => ({
        name: n.name, server_name: n.serverName, url: n.url, route_port: n.clusterPort,
      })),
    },
  };
}

/** Counts by signer renamed to the process holding that key (an unknown signer stays as is). */
function byProcess(
  run: ChaosRun, bySigner: Readonly<Record<string, number>>,
): Record<string, number> {
  const names = new Map([...run.keys].map(([name, k]) => [k.signer, name]));
  const out: Record<string, number> = {};
  for (const [signer, n] of Object.entries(bySigner)) {
    const name = names.get(signer) ?? signer;
    out[name] = (out[name] ?? 0) + n;
  }
  return out;
}

const FAILOVER_KINDS: readonly string[] = [
  'writer_kill', 'writer_stop', 'nats_restart', 'nats_node_restart',
];

/** The report of a finished run (violations include the checks'). */
export function buildReport(
  run: ChaosRun, checked: CheckResult, overrun: number, settled: Settled,
  finalStatuses: ReadonlyMap<string, InstanceStatus> = new Map(),
): ChaosReport {
  const { o, faults, violations } = run;
  const counts = faultCounts(run);
  const divergences = violations.filter(
    (v) => v.kind === 'divergence' || v.kind === 'replica_hash_mismatch');
  const { onProgress: _p, ...opts } = o;
  return {
    ok: violations.length === 0,
    seed: o.seed,
    options: opts,
    started_at: new Date(run.started).toISOString(),
    duration_ms: run.t(),
    ...natsOf(run),
    instances: [...run.procs.keys()],
    wal_entries: checked.walEntries,
    overrun_entries: overrun,
    applied_transitions: checked.applied,
    records_by_chain: checked.chains,
    records_by_writer: byProcess(run, checked.writers),
    writers_at_once_max: run.writersAtOnce,
    decisions_by_outcome: checked.outcomes,
    rejections_by_code: checked.rejections,
    facts_by_kind: checked.facts,
    faults_by_kind: { ...counts.process, ...counts.stream },
    process_faults_by_kind: counts.process,
    stream_faults_by_kind: counts.stream,
    stream_rates: effectiveRates(o.rates),
    backbeat: checked.backbeat,
    automatic_transitions: checked.automatic,
    held_projects: heldProjects(finalStatuses),
    faults,
    failovers: faults.filter((f) => FAILOVER_KINDS.includes(f.kind)),
    publish_retries: run.publishRetries,
    startup_failures: run.startupFailures,
    divergences,
    violations,
    checks: checked.counts,
    converged: settled.convergeMs !== null,
    time_to_converge_ms: settled.timeToConverge,
    liveness_probe_ms: settled.probeMs,
    liveness_probe_publish_ms: settled.probePublishMs,
    final_state_hash: checked.finalHash,
    timeline: run.timeline,
    fault_marks: faults.filter((f) => !f.skipped).map((f) => ({ t_ms: f.t_ms, kind: f.kind })),
    reproduce: reproduceLine(o),
  };
}

/** What members deciding held chains did with their projects (their final statuses). */
function heldProjects(statuses: ReadonlyMap<string, InstanceStatus>): ChaosReport['held_projects'] {
  const out: Record<string, ChaosReport['held_projects'][string]> = {};
  for (const [name, s] of [...statuses].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const c = s.held_counts;
    if (c === undefined) continue;
    out[name] = {
      taken_up: c.taken_up, evicted: c.evicted, loaded: c.loaded, load_failed: c.load_failed,
      resident: s.resident_projects ?? 0, cold: s.cold_projects ?? 0,
    };
  }
  return out;
}
