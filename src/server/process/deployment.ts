/**
 * The deployment's identity (ARCHITECTURE §5, KV `<P>_DEPLOYMENT`, key `config`): written once
 * by the first instance, `{genesis_hash, chart_hash, buckets, created}`, and checked by every
 * instance that starts later. An instance started with another genesis on the same prefix
 * would decide the existing log differently and stop at its first record with a misleading
 * `replay_mismatch` ("determinism bug"), or — if its snapshots still verify — start "ready"
 * and reject everything from signers its genesis does not know. It refuses up front instead,
 * naming both hashes and what to do.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { SwooshError } from '../../protocol/errors.js';

/** The key of the record in the bucket. */
export const DEPLOYMENT_CONFIG_KEY = 'config';
/**
 * The key where instances publish the licence gate (LicenceGateRecord) for feeders: the
 * deployment's licence status and when a revoked licence's grace period ends. Not part of the
 * deployment's identity: it follows the decided licence facts.
 */
export const DEPLOYMENT_LICENCE_KEY = 'licence';

/** The value at DEPLOYMENT_LICENCE_KEY. */
export interface LicenceGateRecord {
  readonly status: 'unknown' | 'active' | 'revoked';
  /** Log time (ms) of the fact that set the status; null before any licence fact. */
  readonly since_ms: number | null;
  /** When a revoked licence's grace ends (since_ms + license_grace_ms); null otherwise. */
  readonly grace_until_ms: number | null;
}
/** Buckets of projects a new deployment is created with (docs/adr/0002). */
export const DEPLOYMENT_BUCKETS_DEFAULT = 64;

/**
 * How a deployment's records are fenced and who writes them: `lease`, one writer at a time for
 * every chain (records fenced on the WAL position, DECISIONS seq == WAL seq); `buckets`, writers
 * by bucket lease, each chain fenced on its own subject (docs/adr/0002 §2, §4). Fixed when the
 * deployment is created: a `lease` writer's fence cannot hold once records are spread.
 */
export type WritersMode = 'lease' | 'buckets';

/** The mode of a new deployment whose first instance names none. */
export const DEPLOYMENT_WRITERS_DEFAULT: WritersMode = 'buckets';

/** What the bucket holds. */
export interface DeploymentConfig {
  readonly genesis_hash: string;
  readonly chart_hash: string;
  readonly buckets: number;
  readonly created: string;
  /** Absent in configs written before it existed: `lease`. */
  readonly writers?: WritersMode;
}

function parseConfig(bytes: Uint8Array): DeploymentConfig | null {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    void err; // unreadable: reported below as a config this build cannot use
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const ok = typeof o['genesis_hash'] === 'string' && typeof o['chart_hash'] === 'string'
    && typeof o['buckets'] === 'number' && typeof o['created'] === 'string'
    && (o['writers'] === undefined || o['writers'] === 'lease' || o['writers'] === 'buckets');
  return ok ? (o as unknown as DeploymentConfig) : null;
}

/**
 * Write the config if the deployment is new, else check it: the same genesis and chart, or a
 * `genesis_mismatch` operating error naming both and the two ways out.
 */
export async function claimDeployment(
  kv: KV,
  want: {
    readonly bucket: string;
    readonly genesisHash: string;
    readonly chartHash: string;
    readonly prefix: string;
    readonly writers?: WritersMode;
  },
  now: () => Date = () => new Date(),
): Promise<DeploymentConfig> {
  const fresh: DeploymentConfig = {
    genesis_hash: want.genesisHash,
    chart_hash: want.chartHash,
    buckets: DEPLOYMENT_BUCKETS_DEFAULT,
    created: now().toISOString(),
    writers: want.writers ?? DEPLOYMENT_WRITERS_DEFAULT,
  };
  try {
    await kv.create(DEPLOYMENT_CONFIG_KEY, JSON.stringify(fresh));
    return fresh;
  } catch (err) {
    // Another instance created it first (or earlier): read what it wrote and compare.
    const entry = await kv.get(DEPLOYMENT_CONFIG_KEY);
    if (entry === null || entry.operation !== 'PUT') {
      throw new SwooshError('stream_apply_failed',
        `${want.bucket}: cannot create or read key ${DEPLOYMENT_CONFIG_KEY}`,
        { retryable: true, cause: err });
    }
    const have = parseConfig(entry.value);
    const hint = `Start with the genesis this deployment was created with, or use another prefix `
      + `(--prefix / SWOOSH_PREFIX; now ${want.prefix}) for a new deployment.`;
    if (have === null) {
      throw new SwooshError('genesis_mismatch',
        `${want.bucket} key ${DEPLOYMENT_CONFIG_KEY} is not a deployment config this build can `
        + `read. ${hint}`);
    }
    if (have.genesis_hash !== want.genesisHash) {
      throw new SwooshError('genesis_mismatch',
        `this deployment was created with genesis ${have.genesis_hash}; this instance was started `
        + `with genesis ${want.genesisHash}. ${hint}`);
    }
    if (have.chart_hash !== want.chartHash) {
      throw new SwooshError('genesis_mismatch',
        `this deployment was created with chart ${have.chart_hash}; this build runs chart `
        + `${want.chartHash}. A chart change is a new version with a written migration `
        + '(docs/upgrading.md); run the build the deployment was created with.');
    }
    // An instance that names no mode follows the deployment's; one that names another refuses.
    const mode = have.writers ?? 'lease';
    if (want.writers !== undefined && mode !== want.writers) {
      throw new SwooshError('invalid_config',
        `this deployment was created with writers "${mode}"; this instance was started with `
        + `"${want.writers}". Every instance of a deployment uses the deployment's mode `
        + `(SWOOSH_WRITERS=${mode}, or leave it unset); it cannot change once records exist.`);
    }
    return { ...have, writers: mode };
  }
}

/**
 * The writers mode of an existing deployment, read with one stream message get (no bucket
 * handle, so a reader needs only that permission): `lease` for a config written before the
 * field existed, null when there is no config or it cannot be read.
 */
export async function deploymentWritersOf(
  jsm: JetStreamManager,
  bucket: string,
): Promise<WritersMode | null> {
  const m = await jsm.streams.getMessage(`KV_${bucket}`, {
    last_by_subj: `$KV.${bucket}.${DEPLOYMENT_CONFIG_KEY}`,
  });
  const c = m === null ? null : parseConfig(m.data);
  return c === null ? null : c.writers ?? 'lease';
}
