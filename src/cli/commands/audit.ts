/** `swoosh audit verify`: walk the whole log and check every record against a replay. */
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { audit } from '../../server/replication/audit.js';
import { deploymentWritersOf } from '../../server/process/deployment.js';
import { connectFor } from '../connect.js';
import { genesisFor } from '../genesis.js';
import { fail, withNatsAuthOptions } from '../options.js';

/** Register the command. */
export function registerAudit(program: Command): void {
  const a = program.command('audit').description('Check the decision log.');
  withNatsAuthOptions(a.command('verify'))
    .description(
      'Replay the WAL from genesis; check every record exists at its sequence, matches its ' +
      'recomputation byte for byte, links to the previous one and carries a valid signature; ' +
      'check TRANSITIONS. Exit 1 on any problem.',
    )
    .option('--nats-url <url>', 'NATS server [env NATS_URL, or .swoosh/dev.json]')
    .option('--prefix <prefix>', 'subject prefix [env SWOOSH_PREFIX]')
    .option('--genesis <file>', 'the genesis the deployment started from [env SWOOSH_GENESIS]')
    .option(
      '--project <id>',
      "report one chain: this project's (and the deployment chain's, which it depends on)",
    )
    .option('--json', 'print the report as JSON')
    .option('--max-problems <n>', 'stop after this many problems', '20')
    .addHelpText(
      'after',
      `
Example:
  $ swoosh audit verify --genesis genesis.yaml
  ok: 12840 entries, 12840 records, 3121 transitions, final state sha256-9c0e…`,
    )
    .action(
      async (o: {
        natsUrl?: string;
        prefix?: string;
        genesis?: string;
        project?: string;
        json?: boolean;
        maxProblems: string;
      }) => {
        try {
          const genesis = genesisFor(o.genesis);
          // The audit reads the WAL as well as DECISIONS and TRANSITIONS: the operator's reads.
          const c = await connectFor(o.natsUrl, o.prefix, o, 'operator');
          const tty = process.stderr.isTTY && o.json !== true;
          const bar = tty
            ? new SingleBar(
                { format: 'audit {bar} {value}/{total} entries', stream: process.stderr },
                Presets.shades_classic,
              )
            : null;
          let started = false;
          try {
            // With one writer every record also sits at the DECISIONS seq of its entry, and that
            // is checked; with writers by bucket (or a mode that cannot be read) records are
            // matched to entries by the wal_seq they name.
            const mode = await deploymentWritersOf(c.jsm, c.subjects.deploymentBucket)
              .catch((err: unknown) => {
                process.stderr.write(`audit: cannot read the deployment's writers mode ` +
                  `(${(err as Error).message}); records are matched by wal_seq only\n`);
                return null;
              });
            const report = await audit({
              js: c.js,
              jsm: c.jsm,
              genesis,
              aligned: mode === 'lease',
              walName: c.subjects.walName,
              decisionsName: c.subjects.decisionsName,
              transitionsName: c.subjects.transitionsName,
              maxProblems: Number(o.maxProblems),
              ...(o.project === undefined ? {} : { chain: o.project }),
              onProgress: (done, total) => {
                if (bar !== null) {
                  if (!started) bar.start(total, 0);
                  started = true;
                  bar.update(done);
                } else if (o.json !== true) {
                  process.stderr.write(`audit: ${done}/${total} entries\n`);
                }
              },
            });
            bar?.stop();
            if (o.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
            else {
              for (const p of report.problems) {
                process.stdout.write(
                  `PROBLEM seq ${p.seq}${p.chain === undefined ? '' : ` chain ${p.chain}`} ` +
                  `${p.kind}: ${p.detail}\n`,
                );
              }
              for (const [chain, n] of Object.entries(report.chains)) {
                if (o.project === undefined || chain === o.project) {
                  process.stdout.write(`chain ${chain}: ${n} records\n`);
                }
              }
              process.stdout.write(
                `${report.ok ? 'ok' : 'FAILED'}: ${report.wal_entries} entries, ` +
                `${report.decision_records} records, ` +
                  `${report.transition_records} transitions, final state ` +
                  `${report.final_state_hash} (${report.millis} ms)\n`,
              );
            }
            if (!report.ok) process.exitCode = 1;
          } finally {
            await c.nc.close();
          }
        } catch (err) {
          fail(err);
        }
      },
    );
}
