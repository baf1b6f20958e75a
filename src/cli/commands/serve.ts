/** `swoosh serve`: production — connect to NATS_URL with a genesis and a writer key. */
import { parseRate } from '../../http/rate-limit.js';
import type { Command } from 'commander';
import { hostname } from 'node:os';
import { createCore } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { createHttpServer } from '../../http/server.js';
import { parseRedactionKey } from '../../http/redact.js';
import { SwooshError } from '../../protocol/errors.js';
import { loadGenesisFile, loadKeyFile, readSecretFile } from '../../protocol/files.js';
import { INSTANCE_DEFAULTS, Instance, parseDecideMode } from '../../server/process/instance.js';
import { createLogger } from '../../server/observability/log.js';
import { firstReachable, parseNatsUrls } from '../../server/process/nats-urls.js';
import { createTracing, parseTracingExporter } from '../../server/observability/tracing.js';
import {
  env,
  fail,
  jsonLine,
  unlockNatsFiles,
  parsePort,
  parsePositive,
  withNatsAuthOptions,
} from '../options.js';
import { natsAuthFor, natsUrlOf } from '../connect.js';

/** Register the command. */
export function registerServe(program: Command): void {
  withNatsAuthOptions(program
    .command('serve'))
    .description(
      'Run one SWOOSH instance against an existing NATS cluster: writer while it holds the ' +
      'lease (or, with --writers buckets, of the chains whose bucket leases it holds), ' +
      'follower otherwise, HTTP API on every instance.',
    )
    .option('--nats-url <url>', 'NATS server or cluster [env NATS_URL]', env('NATS_URL'))
    .option(
      '--genesis <file>',
      'genesis file (JSON or YAML) [env SWOOSH_GENESIS]',
      env('SWOOSH_GENESIS'),
    )
    .option(
      '--key-file <file>',
      'key file that signs decision records [env SWOOSH_KEY_FILE]',
      env('SWOOSH_KEY_FILE'),
    )
    .option(
      '--name <name>',
      "this instance's name [env SWOOSH_NAME]",
      env('SWOOSH_NAME') ?? `${hostname()}-${process.pid}`,
    )
    .option(
      '--prefix <prefix>',
      'subject prefix [env SWOOSH_PREFIX]',
      env('SWOOSH_PREFIX') ?? 'swoosh',
    )
    .option(
      '--http-port <n>',
      'HTTP port [env SWOOSH_HTTP_PORT]',
      parsePort,
      Number(env('SWOOSH_HTTP_PORT') ?? 8080),
    )
    .option(
      '--http-host <host>',
      'HTTP bind address [env SWOOSH_HTTP_HOST]',
      env('SWOOSH_HTTP_HOST') ?? '127.0.0.1',
    )
    .option(
      '--replicas <n>',
      'stream replicas, 1 or 3 [env SWOOSH_REPLICAS]',
      env('SWOOSH_REPLICAS') ?? '1',
    )
    .option(
      '--snapshot-every <n>',
      'decisions between snapshots [env SWOOSH_SNAPSHOT_EVERY]',
      parsePositive,
      Number(env('SWOOSH_SNAPSHOT_EVERY') ?? 1000),
    )
    .option(
      '--writers <mode>',
      'lease (one writer for every chain) or buckets (writers by bucket lease); fixed when the ' +
      "deployment is created, unset: the deployment's (a new one: buckets) [env SWOOSH_WRITERS]",
      env('SWOOSH_WRITERS'),
    )
    .option(
      '--decide <mode>',
      'with writers by bucket: held (this process decides only the chains it holds; other ' +
        'projects wait queued until it takes their bucket) or all (it decides every chain) ' +
        '[env SWOOSH_DECIDE]',
      env('SWOOSH_DECIDE') ?? INSTANCE_DEFAULTS.decide,
    )
    .option(
      '--resident-projects <n>',
      'deciding held chains: project documents kept in memory at most; idle ones past it are ' +
        'evicted and loaded again from their snapshot [env SWOOSH_RESIDENT_PROJECTS]',
      parsePositive,
      Number(env('SWOOSH_RESIDENT_PROJECTS') ?? INSTANCE_DEFAULTS.residentProjects),
    )
    .option(
      '--http-read-token-file <file>',
      'bearer token every GET but /health needs (mode 0600) [env SWOOSH_HTTP_READ_TOKEN_FILE]',
      env('SWOOSH_HTTP_READ_TOKEN_FILE'),
    )
    .option(
      '--http-admin-token-file <file>',
      'bearer token that also sees the identity registry (mode 0600) ' +
      '[env SWOOSH_HTTP_ADMIN_TOKEN_FILE]',
      env('SWOOSH_HTTP_ADMIN_TOKEN_FILE'),
    )
    .option(
      '--redaction-key-file <file>',
      'key (64 hex characters, mode 0600 or .age) sensitive values are shown under in ' +
        'projections, as redacted:hmac-sha256-<hex>; without it they show as `redacted` ' +
        '[env SWOOSH_REDACTION_KEY_FILE]',
      env('SWOOSH_REDACTION_KEY_FILE'),
    )
    .option(
      '--http-rate-client <rate>',
      'proposals per second[:burst] per client address, 0 for no limit ' +
      '[env SWOOSH_HTTP_RATE_CLIENT]',
      env('SWOOSH_HTTP_RATE_CLIENT') ?? '1000:2000',
    )
    .option(
      '--http-rate-signer <rate>',
      'proposals per second[:burst] per signer, 0 for no limit [env SWOOSH_HTTP_RATE_SIGNER]',
      env('SWOOSH_HTTP_RATE_SIGNER') ?? '500:1000',
    )
    .option(
      '--log-level <level>',
      'log level [env SWOOSH_LOG_LEVEL]',
      env('SWOOSH_LOG_LEVEL') ?? 'info',
    )
    .option(
      '--trace-exporter <name>',
      'OpenTelemetry spans: none | console [env SWOOSH_TRACE_EXPORTER]',
      env('SWOOSH_TRACE_EXPORTER') ?? 'none',
    )
    .addHelpText(
      'after',
      `
Example:
  $ NATS_URL=nats://nats-1:4222,nats://nats-2:4222 swoosh serve --genesis genesis.yaml \\
      --key-file writer.key.json --replicas 3 --http-host 0.0.0.0`,
    )
    .action(async (o: Record<string, string | number | undefined>) => {
      const log = createLogger({ name: String(o['name']), level: String(o['logLevel']) });
      try {
        if (o['genesis'] === undefined) {
          throw new Error('--genesis (or SWOOSH_GENESIS) is required');
        }
        if (o['keyFile'] === undefined) {
          throw new Error('--key-file (or SWOOSH_KEY_FILE) is required');
        }
        if (o['replicas'] !== '1' && o['replicas'] !== '3') {
          throw new Error('--replicas: expected 1 or 3');
        }
        const decide = parseDecideMode(String(o['decide']), '--decide');
        const writers = o['writers'];
        if (writers !== undefined && writers !== 'lease' && writers !== 'buckets') {
          throw new Error(`--writers: expected lease or buckets, got ${JSON.stringify(writers)}`);
        }
        // Age-encrypted secrets are opened once, here (docs/security.md, "Secrets at rest").
        await unlockNatsFiles(o, [
          o['genesis'] as string | undefined, o['keyFile'] as string | undefined,
          o['httpReadTokenFile'] as string | undefined,
          o['httpAdminTokenFile'] as string | undefined,
          o['redactionKeyFile'] as string | undefined,
        ]);
        const redactionKey = redactionKeyOf(o['redactionKeyFile'] as string | undefined);
        const core = createCore(nodeHasher);
        const instance = new Instance({
          // A cluster's comma-separated URLs: the first reachable node; the client learns the rest
          // from it.
          natsUrl: await firstReachable(
            parseNatsUrls(natsUrlOf(o['natsUrl'] as string | undefined)),
          ),
          // Against swoosh dev (its URL from dev.json): the dev's instance user.
          natsAuth: natsAuthFor(o, o['natsUrl'] as string | undefined, 'instance'),
          prefix: String(o['prefix']),
          name: String(o['name']),
          genesis: loadGenesisFile(core, String(o['genesis'])),
          signerSeed: loadKeyFile(String(o['keyFile'])).seed,
          replicas: o['replicas'] === '3' ? 3 : 1,
          snapshotEvery: o['snapshotEvery'] as number,
          ...(writers === undefined ? {} : { writers }),
          decide,
          residentProjects: o['residentProjects'] as number,
          log,
          tracing: createTracing({ exporter: parseTracingExporter(String(o['traceExporter'])) }),
        });
        await instance.start();
        const tokenOf = (k: string, what: string, flag: string): { [x: string]: string } => {
          const f = o[k];
          return typeof f === 'string' ? { [what]: readSecretFile(f, flag) } : {};
        };
        const http = await createHttpServer({
          instance, log,
          rateLimits: {
            client: parseRate(String(o['httpRateClient']), '--http-rate-client'),
            signer: parseRate(String(o['httpRateSigner']), '--http-rate-signer'),
          },
          ...tokenOf('httpReadTokenFile', 'readToken', '--http-read-token-file'),
          ...tokenOf('httpAdminTokenFile', 'adminToken', '--http-admin-token-file'),
          ...(redactionKey === null ? {} : { redactionKey }),
        });
        if (o['httpReadTokenFile'] === undefined && o['httpAdminTokenFile'] === undefined) {
          log.warn('http: no read token: reads are open to anyone who reaches the port ' +
            '(the identity registry stays summarized); see docs/security.md');
        }
        const url = await http.listen({
          port: o['httpPort'] as number,
          host: String(o['httpHost']),
        });
        jsonLine({ event: 'ready', http: url, name: o['name'], prefix: o['prefix'] });
        const stop = (): void => {
          http
            .close()
            .then(() => instance.stop())
            .then(() => process.exit(0), fail);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      } catch (err) {
        fail(err);
      }
    });
}

/** The redaction key from `--redaction-key-file`, or null; invalid_config when malformed. */
function redactionKeyOf(file: string | undefined): Uint8Array | null {
  if (file === undefined) return null;
  const key = parseRedactionKey(readSecretFile(file, '--redaction-key-file'));
  if (typeof key === 'string') {
    throw new SwooshError('invalid_config', `--redaction-key-file ${file}: ${key}`);
  }
  return key;
}
