/**
 * Option helpers for the CLI: every flag can also come from an environment variable, and
 * numbers are validated with a message naming the flag.
 */
import { InvalidArgumentError } from 'commander';

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
