/**
 * Option helpers for the CLI: every flag can also come from an environment variable, and
 * numbers are validated with a message naming the flag.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { unlockAgeFiles } from '../protocol/age-secrets.js';
import {
  NATS_AUTH_SETTINGS,
  natsAuthEnv,
  natsAuthFiles,
  natsAuthOf,
  type NatsAuth,
  type NatsAuthValues,
} from '../protocol/nats-auth.js';

/** Parse a port: 0 (pick a free one) to 65535. */
export function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError('expected a port number 0..65535');
  }
  return n;
}

/** Parse a positive integer. */
export function parsePositive(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive integer');
  }
  return n;
}

/** An environment variable, or undefined when unset or empty. */
export function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Print one JSON line (the machine-readable output of long-running commands). */
export function jsonLine(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Report a failure as one clear line on stderr and exit non-zero. */
export function fail(err: unknown): never {
  const e = err as Error & { code?: string };
  process.stderr.write(`swoosh: ${e.code !== undefined ? `${e.code}: ` : ''}${e.message}\n`);
  process.exit(1);
}

/** The commander attribute of a flag: `--nats-ca <file>` → `natsCa`. */
function attrOf(flag: string): string {
  const name = flag.replace(/^--/, '').split(' ')[0] ?? '';
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Add the NATS credential and TLS flags (src/protocol/nats-auth.ts) to a command that
 * connects to NATS; each also comes from its environment variable.
 */
export function withNatsAuthOptions(cmd: Command): Command {
  for (const s of NATS_AUTH_SETTINGS) {
    if (s.flag === null) continue;
    cmd.addOption(new Option(s.flag, `NATS: ${s.doc}`).env(s.env));
  }
  return cmd;
}

/** The raw NATS settings of a command: its flags over the environment (files not read). */
export function natsAuthValuesOf(o: Readonly<Record<string, unknown>>): NatsAuthValues {
  const values: NatsAuthValues = { ...natsAuthEnv() };
  for (const s of NATS_AUTH_SETTINGS) {
    if (s.flag === null) continue;
    const v = o[attrOf(s.flag)];
    if (typeof v === 'string' || typeof v === 'boolean') values[s.key] = v;
  }
  return values;
}

/**
 * The NATS settings of a command: its flags over the environment. Age-encrypted files among
 * them must have been unlocked (unlockNatsFiles) before.
 */
export function natsAuthFromOptions(o: Readonly<Record<string, unknown>>): NatsAuth {
  return natsAuthOf(natsAuthValuesOf(o));
}

/** Unlock the age-encrypted NATS files a command names (and `more` secret paths). */
export async function unlockNatsFiles(
  o: Readonly<Record<string, unknown>>,
  more: readonly (string | undefined)[] = [],
): Promise<void> {
  await unlockAgeFiles([...natsAuthFiles(natsAuthValuesOf(o)), ...more]);
}
