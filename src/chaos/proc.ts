/**
 * SWOOSH instances as child processes for the chaos run: one `src/runtime/main.ts` (through
 * tsx) or `dist/src/runtime/main.js` (built) per replica, configured by environment like
 * `swoosh serve`, so they can be SIGKILLed, SIGSTOPped and restarted for real.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from '@nats-io/nats-core';
import { keyPairFromSeed } from '../crypto/keys.js';
import type { InstanceStatus } from '../runtime/instance.js';

/** Path of the instance entry next to this module, and the node flags it needs. */
function entry(): { file: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  const file = join(here, '..', '..', 'runtime', ts ? 'main.ts' : 'main.js');
  return { file, args: ts ? ['--import', 'tsx', file] : [file] };
}

/** Write a fresh writer key for `name` into `dir`; returns the file and its signer. */
export function writeKeyFile(dir: string, name: string): { file: string; signer: string } {
  const seed = randomBytes(32);
  const file = join(dir, `${name}.key.json`);
  const signer = keyPairFromSeed(seed).signer;
  writeFileSync(file, JSON.stringify({ signer, secret_key: seed.toString('hex') }));
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

const OUTPUT_KEPT = 400;

/** Spawn an instance and wait for its ready line. */
export async function spawnChaosInstance(o: SpawnOptions): Promise<ChaosProc> {
  const e = entry();
  const child = spawn(process.execPath, e.args, {
    env: {
      ...process.env, NATS_URL: o.natsUrl, SWOOSH_PREFIX: o.prefix, SWOOSH_NAME: o.name,
      SWOOSH_GENESIS: o.genesisFile, SWOOSH_KEY_FILE: o.keyFile, SWOOSH_LOG_LEVEL: 'warn', ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (buf: Buffer): void => {
      for (const line of buf.toString().split('\n')) {
        if (line === '') continue;
        output.push(line);
        if (output.length > OUTPUT_KEPT) output.splice(0, output.length - OUTPUT_KEPT);
        if (line.includes('"event":"ready"')) resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`${o.name} exited (${String(code)}) before ready:\n${output.slice(-20).join('\n')}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([ready, new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${o.name} not ready in time:\n${output.slice(-20).join('\n')}`)), o.readyTimeoutMs ?? 30_000);
    })]);
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    name: o.name, signer: o.signer, child, exited, output, stopped: false, killedByUs: false,
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}

/** Ask one instance for its status over the admin subject; null when it does not answer. */
export async function statusOf(nc: NatsConnection, prefix: string, name: string, timeoutMs = 1000): Promise<InstanceStatus | null> {
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
