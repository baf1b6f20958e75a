/** `swoosh state`: read the current state (or a projection of it). */
import type { Command } from 'commander';
import { HttpClient } from '../../sdk/index.js';
import { httpUrlOf } from '../connect.js';
import { fail } from '../options.js';

/** Register the command. */
export function registerState(program: Command): void {
  program
    .command('state')
    .description(
      'Print the state hash, facts hash, last HLC, WAL position, region hashes and the ' +
      'requested sections.',
    )
    .option(
      '--projection <sections>',
      'comma-separated sections, e.g. Council,Ingestion (default: all)',
    )
    .option('--url <url>', 'SWOOSH HTTP API [env SWOOSH_URL; default: .swoosh/dev.json]')
    .option('--project <id>', 'the project [default: default]')
    .option('--hash', 'print only the HEAD hash')
    .addHelpText(
      'after',
      `
Examples:
  $ swoosh state --projection Control,Execution
  $ swoosh state --hash
  $ swoosh state --project chorus-api --projection Control`,
    )
    .action(async (o: { projection?: string; url?: string; hash?: boolean; project?: string }) => {
      try {
        const s = await new HttpClient(httpUrlOf(o.url)).state(o.projection, o.project);
        if (s.kind !== 'ok') {
          // An error is not the state: to stderr, with its stable code, like every failure.
          process.stderr.write(`swoosh: ${s.code ?? `http_${s.httpStatus}`}: ${s.message}\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(
          o.hash === true ? `${s.body.hash}\n` : `${JSON.stringify(s.body, null, 2)}\n`,
        );
      } catch (err) {
        fail(err);
      }
    });
}
