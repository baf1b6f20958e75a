/** `swoosh streams apply|status`: the stream definitions of streams/ against a live server. */
import type { Command } from 'commander';
import { streamDefinitions } from '../../../streams/definitions.js';
import { applyStreams, assertNoDrift } from '../../server/process/apply-streams.js';
import { connectFor, prefixOf } from '../connect.js';
import { fail, withNatsAuthOptions } from '../options.js';

function register(parent: Command, mode: 'apply' | 'check', name: string, about: string): void {
  withNatsAuthOptions(parent.command(name))
    .description(about)
    .option('--nats-url <url>', 'NATS server [env NATS_URL, or .swoosh/dev.json]')
    .option('--prefix <prefix>', 'subject prefix [env SWOOSH_PREFIX]')
    .option('--replicas <n>', 'stream replicas: 1 (dev) or 3 (production)', '1')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', `
Example:
  $ swoosh streams ${name} --nats-url nats://127.0.0.1:4222 --replicas 3`)
    .action(async (o: { natsUrl?: string; prefix?: string; replicas: string; json?: boolean }) => {
      try {
        if (o.replicas !== '1' && o.replicas !== '3') {
          throw new Error('--replicas: expected 1 or 3');
        }
        // Stream management is the admin's job (against swoosh dev: its admin user).
        const c = await connectFor(o.natsUrl, o.prefix, o, 'admin');
        try {
          const defs = streamDefinitions({
            prefix: prefixOf(o.prefix),
            replicas: o.replicas === '3' ? 3 : 1,
          });
          const report = await applyStreams(c.nc, defs, { mode });
          if (o.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          else {
            process.stdout.write(`server ${report.server_version}\n`);
            for (const i of report.items) {
              process.stdout.write(`${i.action.padEnd(9)} ${i.kind.padEnd(8)} ${i.name}\n`);
              for (const d of i.drift) {
                process.stdout.write(
                  `          drift ${d.field}: want ${JSON.stringify(d.want)}, have ` +
                  `${JSON.stringify(d.have)}\n`,
                );
              }
            }
          }
          assertNoDrift(report);
        } finally {
          await c.nc.close();
        }
      } catch (err) {
        fail(err);
      }
    });
}

/** Register `streams apply` and `streams status`. */
export function registerStreams(program: Command): void {
  const streams = program
    .command('streams')
    .description('Create or inspect the WAL, DECISIONS, TRANSITIONS streams and KV buckets.');
  register(
    streams,
    'apply',
    'apply',
    'Create what is missing; report (never overwrite) drift; exit 1 on drift.',
  );
  register(
    streams,
    'check',
    'status',
    'Report what exists, what is missing and what drifted; create nothing.',
  );
}
