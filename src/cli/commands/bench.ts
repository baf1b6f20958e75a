/** `swoosh bench`: ceilings and the system side by side in one run (src/proving/bench/run.ts). */
import { InvalidArgumentError, type Command } from 'commander';
import {
  FULL,
  MIN_ENTRIES,
  QUICK,
  SECTIONS,
  formatReport,
  runBench,
  type BenchOptions,
  type BenchReport,
  type Section,
} from '../../proving/bench/run.js';
import { fail, parsePositive } from '../options.js';
import { projectsReport } from '../../proving/bench/projects.js';
import { writersReport } from '../../proving/bench/writers.js';

/** Parse `--only`: a comma-separated, non-empty subset of the sections. */
export function parseSections(v: string): Section[] {
  const out = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (out.length === 0) throw new InvalidArgumentError(`expected some of ${SECTIONS.join(',')}`);
  for (const s of out) {
    if (!(SECTIONS as readonly string[]).includes(s)) {
      throw new InvalidArgumentError(
        `unknown section "${s}"; expected some of ${SECTIONS.join(',')}`,
      );
    }
  }
  return out as Section[];
}

/** Parse `--rates`: comma-separated positive integers. */
export function parseRates(v: string): number[] {
  return v.split(',').map((s) => parsePositive(s.trim()));
}

/** A positive integer of at least `min` (sizes below it cannot run the workload). */
export function parseAtLeast(min: number): (v: string) => number {
  return (v) => {
    const n = parsePositive(v);
    if (n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}`);
    return n;
  };
}

/** Parse `--memory-node-options`: node flags only (each starts with `--`), space-separated. */
export function parseNodeOptions(v: string): string {
  const flags = v.split(/\s+/).filter((f) => f !== '');
  const bad = flags.find((f) => !/^--[a-z0-9][a-z0-9-]*(=[^\s]+)?$/i.test(f));
  if (flags.length === 0 || bad !== undefined) {
    throw new InvalidArgumentError(
      `expected node flags such as ` +
      `--max-old-space-size=160${bad !== undefined ? `; "${bad}" is not one` : ''}`,
    );
  }
  return flags.join(' ');
}

/** The flags as commander hands them over. */
export interface BenchFlags {
  quick?: boolean;
  json?: boolean;
  only?: Section[];
  decisions?: number;
  rates?: number[];
  httpSeconds?: number;
  snapshotEvery?: number;
  recoveryEntries?: number;
  memoryDecisions?: number;
  memoryNodeOptions?: string;
  scaleDecisions?: number;
}

/**
 * The run's options from the flags: `--quick` picks the quick defaults, each flag overrides one.
 */
export function benchOptionsFrom(o: BenchFlags, log: (m: string) => void): BenchOptions {
  const base = o.quick === true ? QUICK : FULL;
  return {
    ...base,
    sections: new Set(o.only ?? SECTIONS),
    decisions: o.decisions ?? base.decisions,
    httpRates: o.rates ?? base.httpRates,
    httpSeconds: o.httpSeconds ?? base.httpSeconds,
    snapshotEvery: o.snapshotEvery ?? base.snapshotEvery,
    recoveryEntries: o.recoveryEntries ?? base.recoveryEntries,
    memoryDecisions: o.memoryDecisions ?? base.memoryDecisions,
    memoryNodeOptions: o.memoryNodeOptions ?? base.memoryNodeOptions,
    scaleDecisions: o.scaleDecisions ?? base.scaleDecisions,
    log,
  };
}

/** What the command does with the options; tests replace it to check parsing alone. */
export type BenchRunner = (o: BenchOptions, flags: BenchFlags) => Promise<void>;

async function runAndPrint(options: BenchOptions, flags: BenchFlags): Promise<void> {
  const report: BenchReport = await runBench(options);
  process.stdout.write(
    flags.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report),
  );
}

/** Register the command. */
export function registerBench(program: Command, run: BenchRunner = runAndPrint): void {
  const q = QUICK;
  const f = FULL;
  program
    .command('bench')
    .description(
      "Benchmark: raw JetStream and Ed25519 ceilings, end-to-end decisions/s (with ratios to " +
      "the ceilings), recovery at size and audit replay, POST /transition latency at fixed " +
      "rates, the writer's RSS over a long run in a process of its own, decisions/s with 10 KB " +
      "and 10 MB of state. Starts its own nats-server on a free loopback port. Progress goes to " +
      "stderr.",
    )
    .option(
      '--quick',
      `a short run (${q.decisions} decisions, rates ${q.httpRates.join(' and ')}/s for ` +
      `${q.httpSeconds} s, recovery WAL ${q.recoveryEntries}, memory ${q.memoryDecisions}, scale ` +
      `${q.scaleDecisions})`,
    )
    .option('--json', 'print the report as JSON on stdout')
    .option('--only <sections>', `comma-separated sections: ${SECTIONS.join(',')}`, parseSections)
    .option(
      '--decisions <n>',
      `decisions in the end-to-end runs (full ${f.decisions}, quick ${q.decisions})`,
      parseAtLeast(MIN_ENTRIES.decisions),
    )
    .option('--rates <list>', 'HTTP request rates per second, comma-separated', parseRates)
    .option('--http-seconds <n>', 'seconds per HTTP rate', parsePositive)
    .option(
      '--snapshot-every <n>',
      `snapshot every n decisions (default ${f.snapshotEvery})`,
      parsePositive,
    )
    .option(
      '--recovery-entries <n>',
      `entries in the recovery WAL (full ${f.recoveryEntries}, quick ${q.recoveryEntries})`,
      parseAtLeast(MIN_ENTRIES.recoveryEntries),
    )
    .option(
      '--memory-decisions <n>',
      `decisions in the memory run (full ${f.memoryDecisions}, quick ${q.memoryDecisions})`,
      parseAtLeast(MIN_ENTRIES.memoryDecisions),
    )
    .option(
      '--memory-node-options <flags>',
      'NODE_OPTIONS for the memory run\'s writer child, e.g. "--max-old-space-size=160"',
      parseNodeOptions,
    )
    .option(
      '--scale-decisions <n>',
      `decisions per state size in the scale run (full ${f.scaleDecisions}, quick ` +
      `${q.scaleDecisions})`,
      parseAtLeast(MIN_ENTRIES.scaleDecisions),
    )
    .addHelpText(
      'after',
      `
Example:
  $ swoosh bench --quick
  $ swoosh bench --projects
  $ swoosh bench --writers --quick
  $ swoosh bench --only ceilings,e2e --decisions 50000 --json
  $ swoosh bench --only recovery,memory --recovery-entries 100000 --memory-decisions 500000`,
    )
    .option(
      '--projects',
      'only the many-projects figures, in the core: µs per decision at 100, 1,000 and 10,000 ' +
      'projects and the heap of 1,000 and 10,000 idle ones (run with node --expose-gc for ' +
      'exact heap figures: npm run bench:projects)',
    )
    .option(
      '--writers',
      'only the writers figures, end to end through nats-server and writer child processes: ' +
      'decisions/s and CPU per decision for one writer and writers by bucket (deciding every ' +
      'chain, and only the chains each holds), at 1, 100 and ' +
      '10,000 projects and 1 to 3 processes (npm run bench:writers)',
    )
    .action(async (o: BenchFlags & { projects?: boolean; writers?: boolean }) => {
      try {
        if (o.writers === true) {
          const cases = await writersReport({
            entries: o.quick === true ? 2000 : 6000,
            projects: [1, 100, 10_000],
            processes: [1, 2, 3],
            modes: ['lease', 'buckets', 'held'],
            log: (m) => process.stderr.write(`${m}\n`),
          });
          if (o.json === true) process.stdout.write(`${JSON.stringify(cases, null, 2)}\n`);
          return;
        }
        if (o.projects === true) {
          const r = projectsReport();
          process.stdout.write(o.json === true
            ? `${JSON.stringify({ cost: r.cost, idle: r.idle }, null, 2)}\n`
            : `${r.lines.join('\n')}\n`);
          return;
        }
        await run(
          benchOptionsFrom(o, (m) => process.stderr.write(`${m}\n`)),
          o,
        );
      } catch (err) {
        fail(err);
      }
    });
}
