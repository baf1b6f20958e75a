/** `swoosh dev`: the embedded default (what `npm start` runs). */
import type { Command } from 'commander';
import { runDev } from '../../proving/dev/dev.js';
import { DEV_NATS_AUTH_DIR } from '../../proving/dev/dev-accounts.js';
import { createLogger } from '../../server/observability/log.js';
import { writeDevConnection } from '../connect.js';
import { env, fail, jsonLine, parsePort, parsePositive } from '../options.js';

/** What the ready line says when `--insecure` turned the accounts off. */
export const INSECURE_WARNING =
  'NATS accounts are off (--insecure): any client that reaches the NATS port may publish ' +
  'proposals, facts and decision records, and delete or purge the streams';

/** Register the command. */
export function registerDev(program: Command): void {
  program
    .command('dev')
    .description(
      'Run SWOOSH on one machine: a local nats-server child, the writer, the HTTP API and ' +
      'simulated feeders. The child nats-server runs with one nkey user per role, seeds in ' +
      '<data-dir>/nats-auth/, which the other commands use through dev.json.',
    )
    .option(
      '--genesis <file>',
      'genesis file (JSON or YAML); default: a dev identity holding every role [env ' +
      'SWOOSH_GENESIS]',
      env('SWOOSH_GENESIS'),
    )
    .option(
      '--data-dir <dir>',
      'where state, keys and the NATS store live [env SWOOSH_DATA_DIR]',
      env('SWOOSH_DATA_DIR') ?? '.swoosh',
    )
    .option(
      '--http-port <n>',
      'HTTP port, 0 picks a free one [env SWOOSH_HTTP_PORT]',
      parsePort,
      Number(env('SWOOSH_HTTP_PORT') ?? 8080),
    )
    .option(
      '--nats-url <url>',
      'use this NATS server instead of starting one [env NATS_URL]',
      env('NATS_URL'),
    )
    // A flag only, no environment variable: security is never turned off by an inherited
    // environment, only by a switch on the command line (and the ready line says so).
    .option(
      '--insecure',
      'start the child nats-server without accounts: anonymous clients may do anything ' +
      '(no effect with --nats-url, whose server has its own settings)',
    )
    .option(
      '--prefix <prefix>',
      'subject prefix [env SWOOSH_PREFIX]',
      env('SWOOSH_PREFIX') ?? 'swoosh',
    )
    .option(
      '--tempo <bpm>',
      'tempo of the simulated BACKBEAT source [env SWOOSH_TEMPO_BPM]',
      parsePositive,
      Number(env('SWOOSH_TEMPO_BPM') ?? 60),
    )
    .option('--no-sim-license', 'do not simulate a valid licence')
    .option('--no-sim-backbeat', 'do not simulate beat frames')
    .option('--no-sim-mcp', 'do not simulate healthy MCP tools')
    .option('--no-sim-capacity', 'do not simulate capacity')
    .option('--no-sim-policy', 'do not simulate a permissive policy')
    .option('--no-sim-tick', 'do not simulate the tick clock')
    .option(
      '--sim-script <file>',
      'JSON array of {at_ms, kind, payload} facts to publish at those times',
    )
    .option(
      '--log-level <level>',
      'log level [env SWOOSH_LOG_LEVEL]',
      env('SWOOSH_LOG_LEVEL') ?? 'warn',
    )
    .addHelpText(
      'after',
      `
Example:
  $ swoosh dev --http-port 8080 --tempo 30
  {"event":"ready","http":"http://127.0.0.1:8080","nats":"nats://127.0.0.1:40123",...}
Then walk the lifecycle with the dev key (README "Five minutes with SWOOSH"). Other commands
find this instance through <data-dir>/dev.json and connect to its NATS as the role they need
(tail as reader, audit as operator, streams and snapshot as admin), unless given credentials.
Other NATS clients: --nkey <data-dir>/${DEV_NATS_AUTH_DIR}/<role>.nk (docs/security.md).`,
    )
    .action(async (o: Record<string, unknown>) => {
      const log = createLogger({ name: 'swoosh-dev', level: String(o['logLevel']) });
      // The child runs without accounts only when asked to; a server at --nats-url is not ours.
      const insecure = o['insecure'] === true && typeof o['natsUrl'] !== 'string';
      if (insecure) log.warn(INSECURE_WARNING);
      try {
        const h = await runDev({
          dataDir: String(o['dataDir']),
          httpPort: o['httpPort'] as number,
          httpHost: '127.0.0.1',
          ...(typeof o['natsUrl'] === 'string' ? { natsUrl: o['natsUrl'] } : {}),
          insecure,
          ...(typeof o['genesis'] === 'string' ? { genesisFile: o['genesis'] } : {}),
          prefix: String(o['prefix']),
          log,
          simulate: {
            license: o['simLicense'] !== false,
            backbeat: o['simBackbeat'] !== false,
            mcp: o['simMcp'] !== false,
            capacity: o['simCapacity'] !== false,
            policy: o['simPolicy'] !== false,
            tick: o['simTick'] !== false,
            tempoBpm: o['tempo'] as number,
            ...(typeof o['simScript'] === 'string' ? { scriptFile: o['simScript'] } : {}),
          },
        });
        writeDevConnection(String(o['dataDir']), {
          http: h.httpUrl,
          nats: h.natsUrl,
          prefix: String(o['prefix']),
          dev_keys: h.devKeysFile,
          genesis: typeof o['genesis'] === 'string' ? o['genesis'] : null,
          nats_auth: h.natsAuth?.files ?? null,
        });
        jsonLine({
          event: 'ready',
          http: h.httpUrl,
          nats: h.natsUrl,
          data_dir: String(o['dataDir']),
          dev_keys: h.devKeysFile,
          // The directory of the seed files, never a seed.
          nats_auth: h.natsAuth?.dir ?? null,
          prefix: o['prefix'],
          ...(insecure ? { warning: INSECURE_WARNING } : {}),
        });
        let stopping = false;
        const stop = (): void => {
          if (stopping) return;
          stopping = true;
          h.stop().then(() => {
            jsonLine({ event: 'stopped' });
            process.exit(0);
          }, fail);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      } catch (err) {
        fail(err);
      }
    });
}
