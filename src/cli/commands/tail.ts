/** `swoosh tail`: follow decision records as they are stored. */
import type { Command } from 'commander';
import { NatsClient, type DecisionRecord, type Outcome } from '../../sdk/index.js';
import { natsAuthFor, natsUrlOf, prefixOf } from '../connect.js';
import { parseNatsUrls } from '../../server/process/nats-urls.js';
import { fail, unlockNatsFiles, withNatsAuthOptions } from '../options.js';

const OUTCOMES: readonly Outcome[] = ['accepted', 'rejected', 'duplicate', 'quarantined', 'fact'];

const short = (h: string | null): string => (h === null ? '-' : h.slice(7, 19));

/** One human-readable line per record. */
export function humanLine(r: DecisionRecord): string {
  const who = r.signer === null ? '' : ` by ${r.signer.slice(12, 20)}…`;
  const why =
    r.code === null ? '' : ` ${r.code}${r.failing_guard !== null ? ` (${r.failing_guard})` : ''}`;
  const applied =
    r.applied.length > 0 && (r.applied.length > 1 || r.applied[0] !== r.transition)
      ? ` → ${r.applied.join(', ')}`
      : '';
  return `#${r.wal_seq} ${r.outcome.padEnd(11)} ${r.transition ?? '-'}${why}${applied}${who} ` +
    `state ${short(r.state_post_hash)}`;
}

/** Register the command. */
export function registerTail(program: Command): void {
  withNatsAuthOptions(program
    .command('tail'))
    .description(
      'Follow decision records from the DECISIONS stream: human-readable lines, or JSON with ' +
      '--json.',
    )
    .option('--from-seq <n>', 'first WAL sequence (default 1)', '1')
    .option('--project <id>', 'only this project\'s chain (`_deployment`: facts and control)')
    .option('--outcome <outcome>', `only this outcome (${OUTCOMES.join('|')})`)
    .option('--transition <name>', 'only this transition or fact kind')
    .option('--limit <n>', 'stop after this many records')
    .option('--json', 'one JSON record per line')
    .option('--nats-url <url>', 'NATS server [env NATS_URL, or .swoosh/dev.json]')
    .option('--prefix <prefix>', 'subject prefix [env SWOOSH_PREFIX]')
    .addHelpText(
      'after',
      `
Examples:
  $ swoosh tail --outcome rejected
  $ swoosh tail --project chorus-api
  $ swoosh tail --from-seq 1 --limit 20 --json`,
    )
    .action(
      async (o: {
        fromSeq: string;
        project?: string;
        outcome?: string;
        transition?: string;
        limit?: string;
        json?: boolean;
        natsUrl?: string;
        prefix?: string;
      }) => {
        try {
          const from = Number(o.fromSeq);
          if (!Number.isSafeInteger(from) || from < 1) {
            throw new Error('--from-seq: expected a positive integer');
          }
          if (o.outcome !== undefined && !OUTCOMES.includes(o.outcome as Outcome)) {
            throw new Error(`--outcome: expected ${OUTCOMES.join('|')}`);
          }
          const limit = o.limit === undefined ? Infinity : Number(o.limit);
          if (!(limit > 0)) throw new Error('--limit: expected a positive integer');
          await unlockNatsFiles(o);
          const client = await NatsClient.connect(parseNatsUrls(natsUrlOf(o.natsUrl)), {
            prefix: prefixOf(o.prefix),
            // Reading DECISIONS is the reader's job (against swoosh dev: its reader user).
            auth: natsAuthFor(o, o.natsUrl, 'reader'),
          });
          const stop = new AbortController();
          process.once('SIGINT', () => stop.abort());
          let n = 0;
          try {
            for await (const r of client.follow({
              fromSeq: from,
              signal: stop.signal,
              ...(o.project !== undefined ? { chain: o.project } : {}),
              ...(o.outcome !== undefined ? { outcome: o.outcome as Outcome } : {}),
              ...(o.transition !== undefined ? { transition: o.transition } : {}),
            })) {
              process.stdout.write(`${o.json === true ? JSON.stringify(r) : humanLine(r)}\n`);
              n += 1;
              if (n >= limit) break;
            }
          } finally {
            await client.close();
          }
        } catch (err) {
          fail(err);
        }
      },
    );
}
