/**
 * Where commands connect: a flag, else the environment, else the `dev.json` that `swoosh dev`
 * writes into its data directory, so commands work against `npm start` with no flags at all.
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
import { env, natsAuthFromOptions, unlockNatsFiles } from './options.js';
import { natsConnectOptions, redactNatsUrl } from '../protocol/nats-auth.js';

/** What `swoosh dev` records for other commands. */
export interface DevConnection {
  readonly http: string;
  readonly nats: string;
  readonly prefix: string;
  readonly dev_keys: string | null;
  readonly genesis: string | null;
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

/** Connect for a command. */
export async function connectFor(
  natsUrl: string | undefined,
  prefix: string | undefined,
  flags: Readonly<Record<string, unknown>> = {},
): Promise<Connected> {
  const url = natsUrlOf(natsUrl);
  await unlockNatsFiles(flags);
  const parts = natsConnectOptions(parseNatsUrls(url), natsAuthFromOptions(flags));
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
