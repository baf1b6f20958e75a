/**
 * A SWOOSH instance in a child process of its own (src/server/process/main.ts, configured by
 * environment like `swoosh serve`; spawned through src/proving/harness/proc.ts), so what is
 * measured of it
 * (its RSS, its start-up) is the instance's alone, not the bench's generators'.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { bytesToHex, keyPairFromSeed } from '../../crypto/keys.js';
import type { InstanceStatus } from '../../server/process/instance.js';
import { spawnReadyInstance, type ChildInstance } from '../harness/proc.js';

/** Files a child instance is configured with. */
export interface ChildFiles {
  readonly genesisFile: string;
  readonly keyFile: string;
}

/** Write the genesis (JSON) and a fresh writer key file into `dir`. */
export async function writeChildFiles(
  dir: string,
  name: string,
  genesis: Record<string, unknown>,
): Promise<ChildFiles> {
  const seed = randomBytes(32);
  const genesisFile = join(dir, `${name}.genesis.json`);
  const keyFile = join(dir, `${name}.key.json`);
  await writeFile(genesisFile, JSON.stringify(genesis));
  await writeFile(
    keyFile,
    JSON.stringify({ signer: keyPairFromSeed(seed).signer, secret_key: bytesToHex(seed) }),
    { mode: 0o600 },
  );
  return { genesisFile, keyFile };
}

/** A started child and when it got where. */
export interface StartedChild {
  readonly proc: ChildInstance;
  readonly pid: number;
  /** Spawn → its "ready" line (connected, streams applied, recovered once). */
  readonly readyMs: number;
  /** Spawn → its status says role "writer" (lease taken, recovered again, serving). */
  readonly writerMs: number;
}

/** Ask the child for its status over its NATS admin subject. */
export async function childStatus(
  nc: NatsConnection,
  prefix: string,
  name: string,
): Promise<InstanceStatus> {
  const m = await nc.request(`${prefix}.admin.${name}.status`, '', { timeout: 2000 });
  return JSON.parse(m.string()) as InstanceStatus;
}

/** Spawn an instance child and wait until it serves as the writer. */
export async function startChildWriter(
  nc: NatsConnection,
  o: {
    natsUrl: string;
    prefix: string;
    name: string;
    files: ChildFiles;
    env?: Record<string, string>;
  },
): Promise<StartedChild> {
  const t0 = performance.now();
  const proc = await spawnReadyInstance({
    natsUrl: o.natsUrl,
    prefix: o.prefix,
    name: o.name,
    ...o.files,
    ...(o.env !== undefined ? { env: o.env } : {}),
    readyTimeoutMs: 60_000,
  });
  const readyMs = performance.now() - t0;
  const pid = proc.child.pid;
  if (pid === undefined) throw new Error(`bench: ${o.name} has no pid`);
  try {
    const until = Date.now() + 60_000;
    for (;;) {
      let role = 'unknown';
      try {
        role = (await childStatus(nc, o.prefix, o.name)).role;
      } catch (err) {
        // Not answering yet (its admin subscription may not be flushed): ask again.
        void err;
      }
      if (role === 'writer') break;
      if (proc.child.exitCode !== null) {
        throw new Error(
          `bench: ${o.name} exited (${proc.child.exitCode}):\n${proc.output.slice(-20).join('\n')}`,
        );
      }
      if (Date.now() > until) {
        throw new Error(`bench: ${o.name} did not become the writer (role ${role})`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  } catch (err) {
    await stopChild(proc);
    throw err;
  }
  return { proc, pid, readyMs, writerMs: performance.now() - t0 };
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Returns the exit code. */
export async function stopChild(proc: ChildInstance, graceMs = 20_000): Promise<number | null> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.child.exitCode;
  proc.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), graceMs);
  });
  const first = await Promise.race([proc.exited, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout') return first;
  proc.child.kill('SIGKILL');
  return proc.exited;
}

/** VmRSS and VmHWM (peak RSS the kernel saw) of a process, in MB, from /proc/<pid>/status. */
export async function procMemory(pid: number): Promise<{ rss_mb: number; hwm_mb: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    if (m === null) throw new Error(`bench: /proc/${pid}/status has no ${field}`);
    return Number(m[1]);
  };
  return { rss_mb: +(kb('VmRSS') / 1024).toFixed(1), hwm_mb: +(kb('VmHWM') / 1024).toFixed(1) };
}
