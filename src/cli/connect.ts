/**
 * Where commands connect: a flag, else the environment, else the `dev.json` that `swoosh dev`
 * writes into its data directory, so commands work against `npm start` with no flags at all.
 * A command that takes its NATS URL from dev.json and is given no NATS credentials connects as
 * the dev user of the role it needs (docs/security.md, "swoosh dev"): a flag or variable always
 * wins, and a server named by a flag or NATS_URL never gets the dev's keys.
 */
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { subjectsFor, type Subjects } from '../../streams/definitions.js';
import { SwooshError } from '../protocol/errors.js';
import { parseNatsUrls } from '../server/process/nats-urls.js';
import type { NatsRole } from '../server/process/nats-permissions.js';
import { env, natsAuthValuesOf, unlockNatsFiles } from './options.js';
import {
  natsAuthOf,
  natsConnectOptions,
  redactNatsUrl,
  type NatsAuth,
  type NatsAuthValues,
} from '../protocol/nats-auth.js';

/** What `swoosh dev` records for other commands. */
export interface DevConnection {
  readonly http: string;
  readonly nats: string;
  readonly prefix: string;
  readonly dev_keys: string | null;
  readonly genesis: string | null;
  /**
   * The nkey seed file of each NATS role when the dev's child server runs with accounts; null
   * (or absent, from an older dev) when it runs without them or the server is not the dev's.
   */
  readonly nats_auth?: Readonly<Partial<Record<NatsRole, string>>> | null;
}

/** Write `<dataDir>/dev.json`. */
export function writeDevConnection(dataDir: string, c: DevConnection): void {
  writeFileSync(join(dataDir, 'dev.json'), `${JSON.stringify(c, null, 2)}\n`);
}

/** Read `<dataDir>/dev.json` if `swoosh dev` wrote one. */
export function readDevConnection(
  dataDir = env('SWOOSH_DATA_DIR') ?? '.swoosh',
): DevConnection | null {
  const p = join(dataDir, 'dev.json');
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as DevConnection) : null;
}

/** The NATS URL: flag, NATS_URL, or dev.json; a clear error otherwise. */
export function natsUrlOf(flag: string | undefined): string {
  const url = flag ?? env('NATS_URL') ?? readDevConnection()?.nats;
  if (url === undefined) {
    throw new SwooshError(
      'invalid_config',
      'no NATS server: pass --nats-url, set NATS_URL, or run `npm start` (swoosh dev) first',
    );
  }
  return url;
}

/** The settings that are credentials: any one of them given, the dev's keys stay unused. */
const CREDENTIAL_KEYS = [
  'credsFile', 'nkeyFile', 'user', 'passwordFile', 'password', 'tokenFile', 'token',
] as const;

/**
 * The raw NATS settings of a command that needs `role`: its flags over the environment, and,
 * when its URL comes from dev.json (no `urlFlag`, no NATS_URL) and it names no credentials, the
 * dev's seed file for `role`. TLS settings pass through either way.
 */
export function natsAuthValuesFor(
  flags: Readonly<Record<string, unknown>>,
  urlFlag: string | undefined,
  role: NatsRole,
): NatsAuthValues {
  const values = natsAuthValuesOf(flags);
  if (urlFlag !== undefined || env('NATS_URL') !== undefined) return values;
  if (CREDENTIAL_KEYS.some((k) => values[k] !== undefined)) return values;
  const file = readDevConnection()?.nats_auth?.[role];
  return file === undefined ? values : { ...values, nkeyFile: file };
}

/** natsAuthValuesFor, with password and token files read (age files unlocked before). */
export function natsAuthFor(
  flags: Readonly<Record<string, unknown>>,
  urlFlag: string | undefined,
  role: NatsRole,
): NatsAuth {
  return natsAuthOf(natsAuthValuesFor(flags, urlFlag, role));
}

/** The HTTP base URL: flag, SWOOSH_URL, or dev.json. */
export function httpUrlOf(flag: string | undefined): string {
  const url = flag ?? env('SWOOSH_URL') ?? readDevConnection()?.http;
  if (url === undefined) {
    throw new SwooshError(
      'invalid_config',
      'no SWOOSH HTTP API: pass --url, set SWOOSH_URL, or run `npm start` (swoosh dev) first',
    );
  }
  return url;
}

/** The subject prefix: flag, SWOOSH_PREFIX, dev.json, or `swoosh`. */
export function prefixOf(flag: string | undefined): string {
  return flag ?? env('SWOOSH_PREFIX') ?? readDevConnection()?.prefix ?? 'swoosh';
}

/** An open connection with JetStream handles and the deployment's names. */
export interface Connected {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly subjects: Subjects;
  readonly prefix: string;
}

/** Connect for a command that needs the permissions of `role` (the dev's user of that role). */
export async function connectFor(
  natsUrl: string | undefined,
  prefix: string | undefined,
  flags: Readonly<Record<string, unknown>>,
  role: NatsRole,
): Promise<Connected> {
  const url = natsUrlOf(natsUrl);
  await unlockNatsFiles(flags);
  const parts = natsConnectOptions(parseNatsUrls(url), natsAuthFor(flags, natsUrl, role));
  let nc: NatsConnection;
  try {
    nc = await connect({ ...parts, noAsyncTraces: true, timeout: 5000 });
  } catch (err) {
    throw new SwooshError(
      'invalid_config',
      `cannot connect to NATS at ${redactNatsUrl(url)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const p = prefixOf(prefix);
  return {
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    subjects: subjectsFor(p),
    prefix: p,
  };
}
