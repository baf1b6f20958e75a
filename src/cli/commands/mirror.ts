/**
 * `swoosh mirror`: WHOOSH's `POST /webhooks/gitea`, mirrored into a (shadow) SWOOSH deployment
 * through migration/whoosh-map.yaml (docs/migration.md).
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCore } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { loadWhooshMap } from '../../migration/map.js';
import { createMirrorServer } from '../../migration/mirror.js';
import { readSecretFile } from '../../protocol/files.js';
import { SwooshError } from '../../protocol/errors.js';
import { createLogger } from '../../server/observability/log.js';
import { HttpClient, Producer } from '../../sdk/index.js';
import { httpUrlOf } from '../connect.js';
import { env, fail, jsonLine } from '../options.js';
import { identityOf } from './propose.js';

/** The map shipped with this build: migration/whoosh-map.yaml above this file (src or dist). */
export function defaultWhooshMap(): string {
  const rel = join('migration', 'whoosh-map.yaml');
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    dir = dirname(dir);
  }
  return rel;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0 || n > 65_535) {
    throw new SwooshError('invalid_config', `--http-port: expected 0..65535, got ${v}`);
  }
  return n;
}

/** Register the command. */
export function registerMirror(program: Command): void {
  program
    .command('mirror')
    .description(
      "Mirror WHOOSH's Gitea webhooks (POST /webhooks/gitea: HMAC checked, delivery id kept) " +
      'into a SWOOSH deployment as signed proposals, through the WHOOSH mapping file.',
    )
    .option('--url <url>', 'the SWOOSH HTTP API proposals go to [env SWOOSH_URL; default: ' +
      '.swoosh/dev.json]')
    .option('--key <file>', 'key file of the mirror (operator role in that deployment) ' +
      '[env SWOOSH_KEY_FILE; default: the dev key]')
    .option('--webhook-secret-file <file>', "the Gitea hook's secret (mode 0600 or .age) " +
      '[env SWOOSH_GITEA_SECRET_FILE]', env('SWOOSH_GITEA_SECRET_FILE'))
    .option('--forward <url>', "tee mode: WHOOSH's base URL; every delivery is forwarded to it " +
      "unchanged and answered with WHOOSH's answer [env SWOOSH_WHOOSH_URL]",
    env('SWOOSH_WHOOSH_URL'))
    .option('--map <file>', 'the WHOOSH mapping file [env SWOOSH_WHOOSH_MAP]',
      env('SWOOSH_WHOOSH_MAP') ?? defaultWhooshMap())
    .option('--http-port <port>', 'port to serve on, 0 for any free one [env SWOOSH_MIRROR_PORT]',
      env('SWOOSH_MIRROR_PORT') ?? '8090')
    .option('--http-host <host>', 'bind address [env SWOOSH_MIRROR_HOST]',
      env('SWOOSH_MIRROR_HOST') ?? '127.0.0.1')
    .option('--log-level <level>', 'log level [env SWOOSH_LOG_LEVEL]',
      env('SWOOSH_LOG_LEVEL') ?? 'info')
    .addHelpText('after', `
Prints one {"event":"ready",...} line once serving. Point Gitea's webhook (issues events) at
http://<host>:<port>/webhooks/gitea with the same secret. See docs/migration.md.

Example:
  $ swoosh mirror --url http://shadow:8080 --key mirror.key.json \\
      --webhook-secret-file gitea-hook.secret --http-host 0.0.0.0`)
    .action(async (o: {
      url?: string; key?: string; webhookSecretFile?: string; forward?: string; map: string;
      httpPort: string;
      httpHost: string; logLevel: string;
    }) => {
      try {
        if (o.webhookSecretFile === undefined) {
          throw new SwooshError('invalid_config', '--webhook-secret-file (or ' +
            'SWOOSH_GITEA_SECRET_FILE) is required: the mirror refuses unsigned deliveries');
        }
        const secret = new TextEncoder().encode(
          readSecretFile(o.webhookSecretFile, '--webhook-secret-file'));
        const map = loadWhooshMap(createCore(nodeHasher).chart, o.map);
        const log = createLogger({ name: 'mirror', level: o.logLevel });
        const producer = new Producer({
          identity: await identityOf(o.key), http: new HttpClient(httpUrlOf(o.url)),
        });
        const app = await createMirrorServer({
          map, secret, proposer: producer, log,
          ...(o.forward === undefined ? {} : { forward: o.forward }),
        });
        const url = await app.listen({ port: port(o.httpPort), host: o.httpHost });
        jsonLine({
          event: 'ready', url, map: o.map, map_version: map.version, map_hash: map.hash,
          forward: o.forward ?? null,
        });
        const stop = (): void => {
          app.close().then(() => process.exit(0), (err: unknown) => {
            log.error({ err }, 'mirror: closing failed');
            process.exit(1);
          });
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      } catch (err) {
        fail(err);
      }
    });
}
