/** `swoosh bench`: ceilings and the system side by side in one run (src/bench/run.ts). */
import { InvalidArgumentError, type Command } from 'commander';
import { FULL, QUICK, SECTIONS, formatReport, runBench, type Section } from '../../bench/run.js';
import { fail, parsePositive } from '../options.js';

function parseSections(v: string): Section[] {
  const out = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of out) {
    if (!(SECTIONS as readonly string[]).includes(s)) throw new InvalidArgumentError(`expected some of ${SECTIONS.join(',')}`);
  }
  return out as Section[];
}

function parseRates(v: string): number[] {
  return v.split(',').map((s) => parsePositive(s.trim()));
}

interface BenchFlags {
  quick?: boolean;
  json?: boolean;
  only?: Section[];
  decisions?: number;
  rates?: number[];
  httpSeconds?: number;
}

/** Register the command. */
export function registerBench(program: Command): void {
  program.command('bench')
    .description('Benchmark: raw JetStream and Ed25519 ceilings, end-to-end decisions/s (with ratios to the ceilings), recovery and audit replay, POST /transition latency at fixed rates, RSS. Starts its own nats-server on a free loopback port.')
    .option('--quick', 'a short run (5,000 decisions, rates 100 and 300/s for 3 s)')
    .option('--json', 'print the report as JSON')
    .option('--only <sections>', `comma-separated sections: ${SECTIONS.join(',')}`, parseSections)
    .option('--decisions <n>', 'decisions in the end-to-end run (its WAL is the recovery WAL)', parsePositive)
    .option('--rates <list>', 'HTTP request rates per second, comma-separated', parseRates)
    .option('--http-seconds <n>', 'seconds per HTTP rate', parsePositive)
    .addHelpText('after', `
Example:
  $ swoosh bench --quick
  $ swoosh bench --only ceilings,e2e --decisions 50000 --json`)
    .action(async (o: BenchFlags) => {
      try {
        const base = o.quick === true ? QUICK : FULL;
        const report = await runBench({
          ...base,
          sections: new Set(o.only ?? SECTIONS),
          decisions: o.decisions ?? base.decisions,
          httpRates: o.rates ?? base.httpRates,
          httpSeconds: o.httpSeconds ?? base.httpSeconds,
          log: (m) => {
            if (o.json !== true) process.stderr.write(`${m}\n`);
          },
        });
        process.stdout.write(o.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      } catch (err) {
        fail(err);
      }
    });
}
