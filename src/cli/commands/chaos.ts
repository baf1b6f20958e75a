/** `swoosh chaos`: a seeded, reproducible fault-injection run against real local processes. */
import { InvalidArgumentError, type Command } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import { chaosOptions, defaultFaultCount, PROCESS_FAULTS, runChaos } from '../../chaos/run.js';
import { renderSummary } from '../../chaos/report.js';
import type { ProcessFaultKind } from '../../chaos/types.js';
import { CHAOS } from '../../sim/stream.js';
import { fail, parsePositive } from '../options.js';

const RATE_KEYS = ['dup', 'reorder', 'drop', 'stale', 'badsig', 'stranger', 'skew', 'resubmit', 'disrupt'] as const;
type RateKey = (typeof RATE_KEYS)[number];

function parseSeed(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffff_ffff) throw new InvalidArgumentError('expected an integer 0..4294967295');
  return n;
}

function parseNonNegative(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function parseKinds(v: string): ProcessFaultKind[] {
  const out = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const k of out) {
    if (!PROCESS_FAULTS.includes(k as ProcessFaultKind)) throw new InvalidArgumentError(`unknown fault ${k}; one of ${PROCESS_FAULTS.join(', ')}`);
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
  seed?: number; transitions: number; replicas: number; out: string; faults?: number; rate: number;
  disable?: ProcessFaultKind[]; streamRates?: Partial<Record<RateKey, number>>; noStreamFaults?: boolean;
  leaseTtlMs: number; snapshotEvery: number; convergeTimeoutMs: number; cluster?: boolean; json?: boolean;
}

/** Register the command. */
export function registerChaos(program: Command): void {
  program.command('chaos')
    .description('Seeded, reproducible chaos run on loopback: a local nats-server, a writer and followers as separate SWOOSH processes, ' +
      'seeded load with stream faults (dup/reorder/drop/stale/badsig/stranger/skew/resubmit; licence, policy, MCP, capacity facts), ' +
      'process faults (SIGKILL writer/follower, SIGSTOP writer past its lease, nats-server restart, snapshot corruption/rollback); ' +
      'then convergence, liveness and every check a downstream service could make. Writes report.json, summary.txt, timeline.svg. Exit 1 on any violation.')
    .option('--seed <n>', 'the seed (default: random, printed)', parseSeed)
    .option('--transitions <n>', 'WAL entries the producer publishes', parsePositive, 10_000)
    .option('--replicas <n>', 'SWOOSH processes: one writer, the rest followers (>= 3)', parsePositive, 3)
    .option('--out <dir>', 'directory for the reports', 'chaos-report')
    .option('--faults <n>', 'process faults to inject (default: one per 250 entries, at least one of each kind)', parseNonNegative)
    .option('--rate <n>', 'producer pace, entries per second', parsePositive, 100)
    .option('--disable <kinds>', `process faults to leave out, comma-separated: ${PROCESS_FAULTS.join(',')}`, parseKinds)
    .option('--stream-rates <k=v,...>', `stream fault rates per entry (0..0.5): ${RATE_KEYS.join(',')}; defaults ${RATE_KEYS.map((k) => `${k}=${CHAOS[k]}`).join(',')}`, parseRates)
    .option('--no-stream-faults', 'no stream faults at all (the happy-path load)')
    .option('--lease-ttl-ms <ms>', 'writer lease TTL of the processes', parsePositive, 1500)
    .option('--snapshot-every <n>', 'snapshot every n decisions', parsePositive, 50)
    .option('--converge-timeout-ms <ms>', 'bound on convergence after faults stop', parsePositive, 60_000)
    .option('--cluster', 'run against a 3-node nats-server cluster (NOT IMPLEMENTED: refused)')
    .option('--json', 'print the JSON report on stdout instead of the summary')
    .addHelpText('after', `
Examples:
  $ swoosh chaos --seed 7 --transitions 400 --faults 6 --rate 40
  $ swoosh chaos --seed 1 --transitions 10000 --replicas 3        # the acceptance run
  $ swoosh chaos --seed 7 --disable nats_restart --stream-rates dup=0.1,drop=0.01`)
    .action(async (o: Opts & { streamFaults?: boolean }) => {
      try {
        if (o.cluster === true) throw new Error('--cluster is not implemented: the chaos run uses a single local nats-server');
        if (o.replicas < 3) throw new Error('--replicas must be at least 3 (a writer and two followers)');
        const seed = o.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
        const kinds = PROCESS_FAULTS.filter((k) => !(o.disable ?? []).includes(k));
        const base = o.streamFaults === false ? { dup: 0, reorder: 0, drop: 0, stale: 0, badsig: 0, stranger: 0, skew: 0, resubmit: 0, disrupt: 0 } : {};
        const tty = process.stderr.isTTY && o.json !== true;
        const bar = tty ? new SingleBar({
          format: 'chaos {phase} {bar} {value}/{total} entries | decided {decided} | faults {faults}', stream: process.stderr,
        }, Presets.shades_classic) : null;
        let lastLine = 0;
        process.stderr.write(`swoosh chaos: seed ${seed}\n`);
        bar?.start(o.transitions, 0, { phase: 'start', decided: 0, faults: 0 });
        const report = await runChaos(chaosOptions({
          seed, transitions: o.transitions, replicas: o.replicas, outDir: o.out,
          rates: { ...CHAOS, advance: 0, ...base, ...(o.streamRates ?? {}) },
          processFaults: kinds, faultCount: o.faults ?? defaultFaultCount(o.transitions, kinds.length), ratePerSec: o.rate,
          leaseTtlMs: o.leaseTtlMs, snapshotEvery: o.snapshotEvery, convergeTimeoutMs: o.convergeTimeoutMs,
          onProgress: (p) => {
            if (bar !== null) bar.update(Math.min(p.published, p.total), { phase: p.phase, decided: p.decided, faults: p.faults });
            else if (o.json !== true && (Date.now() - lastLine > 5000 || p.phase !== 'load')) {
              lastLine = Date.now();
              process.stderr.write(`chaos ${p.phase}: ${p.published}/${p.total} entries, ${p.decided} decided, ${p.faults} faults\n`);
            }
          },
        }));
        bar?.stop();
        if (o.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else process.stdout.write(`${renderSummary(report)}reports in ${o.out}/ (report.json, summary.txt, timeline.svg)\n`);
        if (!report.ok) process.exitCode = 1;
      } catch (err) {
        fail(err);
      }
    });
}
