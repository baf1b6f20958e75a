/**
 * Process entry for one SWOOSH instance, configured from the environment (the CLI's `serve`
 * and `dev` commands build on it). Prints one JSON line with "event":"ready" when it is up;
 * SIGTERM/SIGINT stop it cleanly.
 *
 *   NATS_URL                 server to use (required here; `swoosh dev` starts one); a cluster
 *                            as comma-separated URLs: the instance connects to the first that
 *                            accepts a connection and learns the other nodes from it
 *   SWOOSH_REPLICAS          stream replicas, 1 (default) or 3 (a cluster), as `swoosh serve`
 *   SWOOSH_PREFIX            subject prefix (default swoosh)
 *   SWOOSH_NAME              this process's name (default <hostname>-<pid>)
 *   SWOOSH_GENESIS           genesis file (JSON or YAML)
 *   SWOOSH_KEY_FILE          key file that signs decision records
 *   SWOOSH_SNAPSHOT_EVERY, SWOOSH_PROJECT_SNAPSHOT_EVERY, SWOOSH_RESIDENT_PROJECTS,
 *   SWOOSH_BATCH_MAX, SWOOSH_LEASE_TTL_MS, SWOOSH_LEASE_RENEW_MS
 *   SWOOSH_CRYPTO_THREADS    verification/signing worker threads (0: on the writer's thread)
 *   SWOOSH_WRITERS           buckets (default for a new deployment: writers by bucket lease,
 *                            docs/architecture.md "Writers by bucket") or lease (one writer
 *                            for every chain); fixed when the deployment is created
 *   SWOOSH_DECIDE            writers by bucket: held (default: a member decides only the
 *                            chains it holds; docs/adr/0006-deciding-held-chains.md) or all
 *                            (every member decides every chain)
 *   NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASSWORD(_FILE), NATS_TOKEN(_FILE), NATS_CA,
 *   NATS_CERT, NATS_KEY, NATS_TLS_FIRST
 *                            credentials and TLS for NATS (docs/security.md, "Connecting to
 *                            NATS"); a tls:// URL or a CA makes TLS required
 *   SWOOSH_CRASH_AT          test-only fault injection: point:seq[,point:seq…]
 */
import { writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { createCore } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { SwooshError } from '../../protocol/errors.js';
import { loadGenesisFile, loadKeyFile } from '../../protocol/files.js';
import { Instance, parseCryptoThreads, parseDecideMode } from './instance.js';
import { firstReachable, parseNatsUrls } from './nats-urls.js';
import { createLogger } from '../observability/log.js';
import type { CrashPoint } from '../replication/writer.js';
import type { WritersMode } from './deployment.js';
import {
  natsAuthEnv,
  natsAuthFiles,
  natsAuthOf,
  redactNatsUrl,
} from '../../protocol/nats-auth.js';
import { unlockAgeFiles } from '../../protocol/age-secrets.js';

const CRASH_POINTS: readonly CrashPoint[] = [
  'before_publish',
  'between_dr_and_transitions',
  'before_ack',
  'during_snapshot',
];

/** SWOOSH_WRITERS: `lease` or `buckets`, else invalid_config. */
function writersEnv(name: string): WritersMode {
  const v = env(name);
  if (v === 'lease' || v === 'buckets') return v;
  throw new SwooshError('invalid_config',
    `${name}: expected lease or buckets, got ${JSON.stringify(v)}`);
}

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

function intEnv(name: string): number | undefined {
  const v = env(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new SwooshError('invalid_config', `${name}: expected a positive integer, got ${v}`);
  }
  return n;
}

function replicasEnv(name: string): 1 | 3 {
  const v = env(name);
  if (v === undefined || v === '1') return 1;
  if (v === '3') return 3;
  throw new SwooshError('invalid_config', `${name}: expected 1 or 3, got ${v}`);
}

function crashPlan(): Map<CrashPoint, number> {
  const out = new Map<CrashPoint, number>();
  for (const part of (env('SWOOSH_CRASH_AT') ?? '').split(',').filter((p) => p !== '')) {
    const [point, seq] = part.split(':');
    if (!CRASH_POINTS.includes(point as CrashPoint) || !Number.isSafeInteger(Number(seq))) {
      throw new SwooshError(
        'invalid_config',
        `SWOOSH_CRASH_AT: ${part}: expected <${CRASH_POINTS.join('|')}>:<seq>`,
      );
    }
    out.set(point as CrashPoint, Number(seq));
  }
  return out;
}

function required(name: string): string {
  const v = env(name);
  if (v === undefined) throw new SwooshError('invalid_config', `${name} is required`);
  return v;
}

/** Start an instance from the environment; resolves once it is ready. */
export async function runFromEnv(): Promise<Instance> {
  const log = createLogger({
    name: env('SWOOSH_NAME') ?? 'swoosh',
    level: env('SWOOSH_LOG_LEVEL') ?? 'info',
  });
  const core = createCore(nodeHasher);
  const name = env('SWOOSH_NAME') ?? `${hostname()}-${process.pid}`;
  const natsValues = natsAuthEnv();
  await unlockAgeFiles([
    ...natsAuthFiles(natsValues), required('SWOOSH_KEY_FILE'), required('SWOOSH_GENESIS'),
  ]);
  const key = loadKeyFile(required('SWOOSH_KEY_FILE'));
  const opt = <T>(v: T | undefined): T | undefined => v;
  const instance = new Instance({
    natsUrl: await firstReachable(parseNatsUrls(required('NATS_URL'))),
    natsAuth: natsAuthOf(natsValues),
    ...(env('SWOOSH_REPLICAS') !== undefined ? { replicas: replicasEnv('SWOOSH_REPLICAS') } : {}),
    prefix: env('SWOOSH_PREFIX') ?? 'swoosh',
    name,
    genesis: loadGenesisFile(core, required('SWOOSH_GENESIS')),
    signerSeed: key.seed,
    ...(opt(intEnv('SWOOSH_SNAPSHOT_EVERY')) !== undefined
      ? { snapshotEvery: intEnv('SWOOSH_SNAPSHOT_EVERY') as number }
      : {}),
    ...(intEnv('SWOOSH_BATCH_MAX') !== undefined
      ? { batchMax: intEnv('SWOOSH_BATCH_MAX') as number }
      : {}),
    ...(env('SWOOSH_CRYPTO_THREADS') !== undefined
      ? {
          cryptoThreads: parseCryptoThreads(
            env('SWOOSH_CRYPTO_THREADS') ?? '',
            'SWOOSH_CRYPTO_THREADS',
          ),
        }
      : {}),
    ...(intEnv('SWOOSH_LEASE_TTL_MS') !== undefined
      ? { leaseTtlMs: intEnv('SWOOSH_LEASE_TTL_MS') as number }
      : {}),
    ...(intEnv('SWOOSH_LEASE_RENEW_MS') !== undefined
      ? { leaseRenewMs: intEnv('SWOOSH_LEASE_RENEW_MS') as number }
      : {}),
    ...(env('SWOOSH_WRITERS') !== undefined ? { writers: writersEnv('SWOOSH_WRITERS') } : {}),
    ...(env('SWOOSH_DECIDE') !== undefined
      ? { decide: parseDecideMode(env('SWOOSH_DECIDE') ?? '', 'SWOOSH_DECIDE') }
      : {}),
    ...(intEnv('SWOOSH_PROJECT_SNAPSHOT_EVERY') !== undefined
      ? { projectSnapshotEvery: intEnv('SWOOSH_PROJECT_SNAPSHOT_EVERY') as number }
      : {}),
    ...(intEnv('SWOOSH_RESIDENT_PROJECTS') !== undefined
      ? { residentProjects: intEnv('SWOOSH_RESIDENT_PROJECTS') as number }
      : {}),
    crashAt: crashPlan(),
    log,
  });
  await instance.start();
  // The ready line is the contract with supervisors and tests: printed whatever the configured
  // level (SWOOSH_LOG_LEVEL=warn must not hide it), and written synchronously, because the
  // logger writes asynchronously and a process killed right after starting (SIGKILL, a crash)
  // would lose it with its buffer.
  const ready = {
    level: 'info', time: Date.now(), pid: process.pid, hostname: hostname(), name,
    event: 'ready', nats_url: redactNatsUrl(required('NATS_URL')), writer_key: key.signer,
    msg: 'ready',
  };
  writeSync(1, `${JSON.stringify(ready)}\n`);
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'stopping');
    instance.stop().then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'stop failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return instance;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  runFromEnv().catch((err: unknown) => {
    const e = err as Error & { code?: string };
    process.stderr.write(
      `${JSON.stringify({
        level: 'fatal', event: 'failed', code: e.code ?? 'internal', msg: e.message,
      })}\n`,
    );
    process.exit(1);
  });
}
