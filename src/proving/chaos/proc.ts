/**
 * SWOOSH instances as child processes for the chaos run: one `src/server/process/main.ts` (through
 * tsx) or `dist/src/server/process/main.js` (built) per replica, configured by environment like
 * `swoosh serve`, so they can be SIGKILLed, SIGSTOPped and restarted for real.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { keyPairFromSeed } from '../../crypto/keys.js';
import type { InstanceStatus } from '../../server/process/instance.js';
import { spawnReadyInstance } from '../harness/proc.js';

/** Write a fresh writer key for `name` into `dir`; returns the file and its signer. */
export function writeKeyFile(dir: string, name: string): { file: string; signer: string } {
  const seed = randomBytes(32);
  const file = join(dir, `${name}.key.json`);
  const signer = keyPairFromSeed(seed).signer;
  const text = JSON.stringify({ signer, secret_key: seed.toString('hex') });
  writeFileSync(file, text, { mode: 0o600 });
  return { file, signer };
}

/** A running (or dead) child instance. */
export interface ChaosProc {
  readonly name: string;
  readonly signer: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly output: string[];
  /** True while we have it SIGSTOPped. */
  stopped: boolean;
  /** True when we killed it on purpose (so its exit is not a failure). */
  killedByUs: boolean;
  alive(): boolean;
}

/** What spawnChaosInstance needs. */
export interface SpawnOptions {
  readonly natsUrl: string;
  readonly prefix: string;
  readonly name: string;
  readonly genesisFile: string;
  readonly keyFile: string;
  readonly signer: string;
  readonly env: Record<string, string>;
  readonly readyTimeoutMs?: number;
}

/** Spawn an instance and wait for its ready line. */
export async function spawnChaosInstance(o: SpawnOptions): Promise<ChaosProc> {
  const { child, exited, output } = await spawnReadyInstance(o);
  return {
    name: o.name, signer: o.signer, child, exited, output, stopped: false, killedByUs: false,
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}

/** Ask one instance for its status over the admin subject; null when it does not answer. */
export async function statusOf(
  nc: NatsConnection,
  prefix: string,
  name: string,
  timeoutMs = 1000,
): Promise<InstanceStatus | null> {
  try {
    const m = await nc.request(`${prefix}.admin.${name}.status`, '', { timeout: timeoutMs });
    return JSON.parse(m.string()) as InstanceStatus;
  } catch {
    return null;
  }
}

/** Stop a child: SIGCONT (in case it is stopped), SIGTERM, SIGKILL after `graceMs`. */
export async function stopProc(p: ChaosProc, graceMs = 10_000): Promise<void> {
  if (!p.alive()) return;
  p.killedByUs = true;
  p.child.kill('SIGCONT');
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(t);
}

/** SIGKILL a child and wait for it to be gone. */
export async function killProc(p: ChaosProc): Promise<void> {
  if (!p.alive()) return;
  p.killedByUs = true;
  p.child.kill('SIGKILL');
  await p.exited;
}
