/** `swoosh chaos`: a seeded, reproducible fault-injection run against real local processes. */
import { InvalidArgumentError, type Command } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import {
  chaosOptions,
  CLUSTER_PROCESS_FAULTS,
  defaultFaultCount,
  effectiveRates,
  CHAOS_PROJECTS_DEFAULT,
  CHAOS_WRITERS_DEFAULT,
  LICENSE_GRACE_MS_DEFAULT,
  PROCESS_FAULTS,
  processFaultsFor,
  runChaos,
} from '../../proving/chaos/run.js';
import { RATE_KEYS, renderSummary, type RateKey } from '../../proving/chaos/report.js';
import type { DecideMode, ProcessFaultKind, WritersMode } from '../../proving/chaos/types.js';
import { CHAOS, DISRUPT_SHARES, DISRUPTIVE_KINDS, NO_FAULTS } from '../../proving/sim/stream.js';
import { SwooshError } from '../../protocol/errors.js';
import { fail, parsePositive } from '../options.js';
import { INSTANCE_DEFAULTS } from '../../server/process/instance.js';

const ALL_PROCESS_FAULTS = [...new Set([...PROCESS_FAULTS, ...CLUSTER_PROCESS_FAULTS])];

function parseSeed(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffff_ffff) {
    throw new InvalidArgumentError('expected an integer 0..4294967295');
  }
  return n;
}

function parseNonNegative(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError('expected a non-negative integer');
  }
  return n;
}

function parseDecide(v: string): DecideMode {
  if (v !== 'all' && v !== 'held') throw new InvalidArgumentError('expected all or held');
  return v;
}

function parseWriters(v: string): WritersMode {
  if (v !== 'lease' && v !== 'buckets') throw new InvalidArgumentError('expected lease or buckets');
  return v;
}

function parseKinds(v: string): ProcessFaultKind[] {
  const out = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const k of out) {
    if (!ALL_PROCESS_FAULTS.includes(k as ProcessFaultKind)) {
      throw new InvalidArgumentError(`unknown fault ${k}; one of ${ALL_PROCESS_FAULTS.join(', ')}`);
    }
  }
  return out as ProcessFaultKind[];
}

function parseRates(v: string): Partial<Record<RateKey, number>> {
  const out: Partial<Record<RateKey, number>> = {};
  for (const part of v.split(',').filter((p) => p !== '')) {
    const [k, x] = part.split('=');
    const n = Number(x);
    if (!RATE_KEYS.includes(k as RateKey) || !Number.isFinite(n) || n < 0 || n > 0.5) {
      throw new InvalidArgumentError(`${part}: expected <${RATE_KEYS.join('|')}>=<0..0.5>`);
    }
    out[k as RateKey] = n;
  }
  return out;
}

interface Opts {
  seed?: number;
  transitions: number;
  projects: number;
  writers: WritersMode;
  decide: DecideMode;
  residentProjects: number;
  replicas: number;
  out: string;
  faults?: number;
  rate: number;
  disable?: ProcessFaultKind[];
  streamRates?: Partial<Record<RateKey, number>>;
  noStreamFaults?: boolean;
  leaseTtlMs: number;
  snapshotEvery: number;
  convergeTimeoutMs: number;
  cluster?: boolean;
  json?: boolean;
  licenseGraceMs: number;
}

const pct = (x: number): string => `${Number((x * 100).toFixed(2))}%`;
const DEFAULTED_RATES = [
  'dup', 'reorder', 'drop', 'stale', 'badsig', 'stranger', 'skew', 'resubmit', 'disrupt',
] as const;
const RATE_DEFAULTS = DEFAULTED_RATES.map((k) => `${k}=${CHAOS[k]}`).join(',');
const RATE_HELP =
  `stream fault rates per entry (0..0.5 each, at most 1 in all): ${RATE_KEYS.join(',')}. ` +
  `Defaults ${RATE_DEFAULTS}; ` +
  `disrupt is the shorthand for every disruptive kind not given its own rate ` +
  `(${DISRUPTIVE_KINDS.map((k) => `${k} ${pct(DISRUPT_SHARES[k])}`).join(', ')} of it)`;

/** Register the command. */
export function registerChaos(program: Command): void {
  program
    .command('chaos')
    .description(
      'Seeded, reproducible chaos run on loopback: a local nats-server (or, with --cluster, a ' +
        '3-node JetStream cluster and R3 streams), ' +
        'a writer and followers as separate SWOOSH processes (with --writers buckets, members ' +
        'sharing the bucket leases), seeded load with stream faults ' +
        '(dup/reorder/drop/stale/badsig/stranger/skew/resubmit; ' +
        'control steps, KACHING licence grace/hard stop/restore, policy quarantine/release, MCP ' +
        'flaps, capacity churn, BACKBEAT tempo changes and missed beats), ' +
        'process faults (SIGKILL writer/follower, SIGSTOP writer past its lease, nats-server or ' +
        'cluster-node restart, snapshot corruption/rollback); ' +
        'then convergence, liveness and every check a downstream service could make. Writes ' +
        'report.json, summary.txt, timeline.svg. Exit 1 on any violation.',
    )
    .option('--seed <n>', 'the seed (default: random, printed)', parseSeed)
    .option('--transitions <n>', 'WAL entries the producer publishes', parsePositive, 10_000)
    .option(
      '--replicas <n>',
      'SWOOSH processes: one writer, the rest followers (>= 3)',
      parsePositive,
      3,
    )
    .option(
      '--projects <n>',
      'projects the load drives (default, p1, p2, …), each its own lifecycle and stream faults',
      parsePositive,
      CHAOS_PROJECTS_DEFAULT,
    )
    .option(
      '--writers <mode>',
      'writers mode of the deployment: lease (one writer process for every chain, the others ' +
        'follow) or buckets (SWOOSH_WRITERS=buckets: every process a member holding some ' +
        'bucket leases; records checked per chain)',
      parseWriters,
      CHAOS_WRITERS_DEFAULT,
    )
    .option(
      '--decide <mode>',
      'with --writers buckets: held (each member decides only the chains it holds) or all ' +
        '(every member decides every chain); SWOOSH_DECIDE',
      parseDecide,
      INSTANCE_DEFAULTS.decide,
    )
    .option(
      '--resident-projects <n>',
      'deciding held chains: project documents each member keeps in memory (small values make ' +
        'members evict and load projects all through the run); SWOOSH_RESIDENT_PROJECTS',
      parsePositive,
      INSTANCE_DEFAULTS.residentProjects,
    )
    .option('--out <dir>', 'directory for the reports', 'chaos-report')
    .option(
      '--faults <n>',
      'process faults to inject (default: one per 250 entries, at least one of each kind)',
      parseNonNegative,
    )
    .option('--rate <n>', 'producer pace, entries per second', parsePositive, 100)
    .option(
      '--disable <kinds>',
      `process faults to leave out, comma-separated: ${PROCESS_FAULTS.join(',')} (with ` +
        `--cluster nats_node_restart instead of nats_restart)`,
      parseKinds,
    )
    .option('--stream-rates <k=v,...>', RATE_HELP, parseRates)
    .option('--no-stream-faults', 'no stream faults at all (the happy-path load)')
    .option('--lease-ttl-ms <ms>', 'writer lease TTL of the processes', parsePositive, 1500)
    .option('--snapshot-every <n>', 'snapshot every n decisions', parsePositive, 50)
    .option(
      '--converge-timeout-ms <ms>',
      'bound on convergence after faults stop',
      parsePositive,
      60_000,
    )
    .option(
      '--license-grace-ms <ms>',
      'genesis licence grace of the run (short, so a licence outage reaches HARD_STOP)',
      parsePositive,
      LICENSE_GRACE_MS_DEFAULT,
    )
    .option(
      '--cluster',
      'run against a local 3-node JetStream cluster (free loopback ports) with replicas-3 ' +
        'streams; the nats_restart fault becomes nats_node_restart (one node, drawn from the ' +
        'seed, SIGTERM or SIGKILL, restarted on its ports and store)',
    )
    .option('--json', 'print the JSON report on stdout instead of the summary')
    .addHelpText(
      'after',
      `
Examples:
  $ swoosh chaos --seed 7 --transitions 400 --faults 6 --rate 40
  $ swoosh chaos --seed 1 --transitions 10000 --replicas 3 --projects 20  # the acceptance run
  $ swoosh chaos --seed 7 --disable nats_restart --stream-rates dup=0.1,drop=0.01
  $ swoosh chaos --seed 7 --transitions 2000 --cluster                # 3-node cluster, R3 streams
  $ swoosh chaos --seed 7 --transitions 1000 --projects 5 --writers buckets  # writers by bucket
  $ swoosh chaos --seed 7 --transitions 600 --stream-rates ` +
        'disrupt=0,license=0.02,tempo=0.03,missed_beat=0.03',
    )
    .action(async (o: Opts & { streamFaults?: boolean }) => {
      try {
        if (o.replicas < 3) {
          throw new SwooshError(
            'invalid_config',
            '--replicas: must be at least 3 (a writer and two followers)',
          );
        }
        const cluster = o.cluster === true;
        const all = processFaultsFor(cluster);
        const foreign = (o.disable ?? []).find((k) => !all.includes(k));
        if (foreign !== undefined) {
          throw new SwooshError(
            'invalid_config',
            `--disable: ${foreign} is not a fault of a ${cluster ? 'cluster' : 'single-server'} ` +
              `run; one of ${all.join(', ')}`,
          );
        }
        const seed = o.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
        const kinds = all.filter((k) => !(o.disable ?? []).includes(k));
        const base = o.streamFaults === false ? NO_FAULTS : {};
        const rates = { ...CHAOS, advance: 0, ...base, ...(o.streamRates ?? {}) };
        const sum = Object.values(effectiveRates(rates)).reduce((a, b) => a + b, 0);
        if (sum > 1) {
          throw new SwooshError(
            'invalid_config',
            `--stream-rates: the rates add up to ${sum.toFixed(3)}; ` +
              'at most 1 (one fault per entry)',
          );
        }
        const tty = process.stderr.isTTY && o.json !== true;
        const bar = tty
          ? new SingleBar(
              {
                format:
                  'chaos {phase} {bar} {value}/{total} entries | decided {decided} | faults ' +
                  '{faults}',
                stream: process.stderr,
              },
              Presets.shades_classic,
            )
          : null;
        let lastLine = 0;
        process.stderr.write(`swoosh chaos: seed ${seed}\n`);
        bar?.start(o.transitions, 0, { phase: 'start', decided: 0, faults: 0 });
        const report = await runChaos(
          chaosOptions({
            seed,
            transitions: o.transitions,
            projects: o.projects,
            writers: o.writers,
            decide: o.decide,
            residentProjects: o.residentProjects,
            replicas: o.replicas,
            outDir: o.out,
            cluster,
            licenseGraceMs: o.licenseGraceMs,
            rates,
            processFaults: kinds,
            faultCount: o.faults ?? defaultFaultCount(o.transitions, kinds.length),
            ratePerSec: o.rate,
            leaseTtlMs: o.leaseTtlMs,
            snapshotEvery: o.snapshotEvery,
            convergeTimeoutMs: o.convergeTimeoutMs,
            onProgress: (p) => {
              if (bar !== null) {
                bar.update(Math.min(p.published, p.total), {
                  phase: p.phase,
                  decided: p.decided,
                  faults: p.faults,
                });
              } else if (o.json !== true && (Date.now() - lastLine > 5000 || p.phase !== 'load')) {
                lastLine = Date.now();
                process.stderr.write(
                  `chaos ${p.phase}: ${p.published}/${p.total} entries, ${p.decided} decided, ` +
                    `${p.faults} faults\n`,
                );
              }
            },
          }),
        );
        bar?.stop();
        if (o.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else {
          process.stdout.write(
            `${renderSummary(report)}reports in ${o.out}/ (report.json, summary.txt, ` +
              `timeline.svg)\n`,
          );
        }
        if (!report.ok) process.exitCode = 1;
      } catch (err) {
        fail(err);
      }
    });
}
