/**
 * The chaos runner: a real nats-server on a free loopback port (or, with `cluster`, a 3-node
 * JetStream cluster on loopback with replicas-3 streams), N SWOOSH processes (one writer, the
 * rest followers; with `writers: 'buckets'`, N members sharing the bucket leases), a seeded
 * closed-loop producer walking full lifecycles with signed proposals and facts (with stream
 * faults at seeded rates), and a seeded schedule of process faults (SIGKILL of writer and
 * followers, SIGSTOP of the writer past its lease then SIGCONT, nats-server restart or one
 * cluster node's restart, snapshot corruption and rollback). Then faults stop, the run waits
 * for convergence, probes liveness and checks everything a downstream service could read (see
 * check.ts). Same seed and options, same load and same fault sequence (the timing of process
 * faults relative to the log varies a little with machine speed).
 *
 * The phases live beside it: chaos-run.ts (the shared state, the topology, the processes and
 * the sampler), load.ts (producer, injector loop, convergence and liveness), inject.ts (one
 * function per process fault), schedule.ts (the seeded schedule), build-report.ts (the report).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SwooshError } from '../../protocol/errors.js';
import { CHAOS } from '../sim/stream.js';
import { buildReport, effectiveRates, fatalLogViolations } from './build-report.js';
import { runChecks } from './check.js';
import { ChaosRun, CLUSTER_NODES } from './chaos-run.js';
import { OVERRUN_ENTRIES_MAX, runLoad, settle } from './load.js';
import { renderSummary, renderSvg } from './report.js';
import { defaultFaultCount, faultSchedule } from './schedule.js';
import {
  CHAOS_PROJECTS_DEFAULT, CHAOS_WRITERS_DEFAULT, CLUSTER_PROCESS_FAULTS, LICENSE_GRACE_MS_DEFAULT,
  PROCESS_FAULTS, processFaultsFor,
  type ChaosOptions, type ChaosReport,
} from './types.js';
import { INSTANCE_DEFAULTS } from '../../server/process/instance.js';

export {
  CHAOS_PROJECTS_DEFAULT,
  CHAOS_WRITERS_DEFAULT,
  CLUSTER_PROCESS_FAULTS,
  LICENSE_GRACE_MS_DEFAULT,
  PROCESS_FAULTS,
  processFaultsFor,
};
export { CLUSTER_NODES, OVERRUN_ENTRIES_MAX, defaultFaultCount, effectiveRates, faultSchedule };
export type { ChaosOptions, ChaosReport };

/** Defaults: the acceptance run is `--transitions 10000 --replicas 3`. */
export function chaosOptions(over: Partial<ChaosOptions> & { seed: number }): ChaosOptions {
  return {
    transitions: 10_000, replicas: 3, outDir: null, rates: { ...CHAOS, advance: 0 },
    processFaults: PROCESS_FAULTS, faultCount: 0, ratePerSec: 100, leaseTtlMs: 1500,
    snapshotEvery: 50, convergeTimeoutMs: 60_000, probeEntries: 20,
    cluster: false, licenseGraceMs: LICENSE_GRACE_MS_DEFAULT, projects: CHAOS_PROJECTS_DEFAULT,
    writers: CHAOS_WRITERS_DEFAULT,
    decide: INSTANCE_DEFAULTS.decide,
    residentProjects: INSTANCE_DEFAULTS.residentProjects,
    ...over,
  };
}

/**
 * Refuse options a run cannot honour, with the field named: rates outside 0..1 or adding up to
 * more than 1 (the stream draws one fault per entry), process faults the mode does not have.
 */
export function validateChaosOptions(o: ChaosOptions): void {
  const bad = (field: string, msg: string): never => {
    throw new SwooshError('invalid_config', `${field}: ${msg}`);
  };
  if (!Number.isSafeInteger(o.replicas) || o.replicas < 3) {
    bad('replicas', 'must be at least 3 (a writer and two followers)');
  }
  const rates = effectiveRates(o.rates);
  for (const [k, v] of Object.entries(rates)) {
    if (!Number.isFinite(v) || v < 0 || v > 1) bad(`rates.${k}`, `expected 0..1, got ${v}`);
  }
  const sum = Object.values(rates).reduce((a, b) => a + b, 0);
  if (sum > 1) {
    bad('rates', `stream fault rates add up to ${sum.toFixed(3)}; at most 1 (one fault per entry)`);
  }
  const allowed = processFaultsFor(o.cluster);
  const foreign = o.processFaults.find((k) => !allowed.includes(k));
  if (foreign !== undefined) {
    const mode = o.cluster ? 'cluster' : 'single-server';
    const kinds = allowed.join(', ');
    bad('processFaults', `${foreign} is not a fault of a ${mode} run; one of ${kinds}`);
  }
  if (!Number.isSafeInteger(o.licenseGraceMs) || o.licenseGraceMs < 0) {
    bad('licenseGraceMs', 'expected a non-negative integer');
  }
  if (!Number.isSafeInteger(o.projects) || o.projects < 1 || o.projects > 1000) {
    bad('projects', 'expected an integer in 1..1000');
  }
  if (o.writers !== 'lease' && o.writers !== 'buckets') {
    bad('writers', `expected lease or buckets, got ${String(o.writers)}`);
  }
}

/** Run one chaos experiment end to end. */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  validateChaosOptions(o);
  const run = new ChaosRun(o);
  try {
    run.progress('start');
    await run.startTopology();
    run.startSampler();
    // Producer and fault injector run together; then faults stop and the run settles.
    const { producer, overrun } = await runLoad(run);
    const settled = await settle(run, producer);
    await run.stopSampler();
    run.progress('check');
    const final = await run.statuses();
    const checked = await runChecks({
      js: run.js, jsm: run.jsm, genesis: run.genesis, subjects: run.subjects,
      told: run.told, observed: run.observed, samples: run.samples,
      finalStatuses: final, producerHead: producer.w.head(), fenceWindows: run.fenceWindows,
      writers: o.writers,
    });
    run.violations.push(...checked.violations);
    run.violations.push(...fatalLogViolations(run));
    const report = buildReport(run, checked, overrun, settled, final);
    if (o.outDir !== null) writeReport(o.outDir, report);
    run.progress('done');
    return report;
  } finally {
    await run.close();
  }
}

/** Write report.json, summary.txt and timeline.svg into `dir`. */
export function writeReport(dir: string, r: ChaosReport): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, 'summary.txt'), renderSummary(r));
  writeFileSync(join(dir, 'timeline.svg'), renderSvg(r));
}
