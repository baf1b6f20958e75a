/**
 * SWOOSH instances as child processes (for SIGKILL, SIGSTOP and restarts), spawned through
 * src/proving/harness/proc.ts, with the handle the integration tests use.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { InstanceStatus } from '../../src/server/process/instance.js';
import { keyPairFromSeed } from '../../src/crypto/keys.js';
import { spawnReadyInstance } from '../../src/proving/harness/proc.js';

/** Files an instance needs: a genesis and a writer key. */
export function writeInstanceFiles(genesis: unknown): { dir: string; genesisFile: string; keyFile: (name: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'swoosh-proc-'));
  const genesisFile = join(dir, 'genesis.json');
  writeFileSync(genesisFile, JSON.stringify(genesis));
  return {
    dir,
    genesisFile,
    keyFile: (name) => {
      const seed = randomBytes(32);
      const f = join(dir, `${name}.key.json`);
      writeFileSync(f, JSON.stringify({ signer: keyPairFromSeed(seed).signer, secret_key: seed.toString('hex') }), { mode: 0o600 });
      return f;
    },
  };
}

/** A running child instance. */
export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly output: string[];
  signal(sig: NodeJS.Signals): void;
  /** True once the child has exited, waiting at most `ms` for it. */
  exitedWithin(ms: number): Promise<boolean>;
  status(): Promise<InstanceStatus>;
  stop(): Promise<void>;
}

/** Spawn an instance and wait for its ready line. */
export async function spawnInstance(o: {
  natsUrl: string; prefix: string; name: string; genesisFile: string; keyFile: string; env?: Record<string, string>;
  nodeBin?: string;
}): Promise<Proc> {
  const { child, exited, output } = await spawnReadyInstance(o);
  const status = async (): Promise<InstanceStatus> => {
    const nc = await connect({ servers: o.natsUrl });
    try {
      const m = await nc.request(`${o.prefix}.admin.${o.name}.status`, '', { timeout: 2000 });
      return JSON.parse(m.string()) as InstanceStatus;
    } finally {
      await nc.close();
    }
  };
  return {
    name: o.name, child, exited, output, status,
    signal: (sig) => child.kill(sig),
    exitedWithin: async (ms) => {
      let timer: NodeJS.Timeout | undefined;
      const gone = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), ms);
        }),
      ]);
      clearTimeout(timer);
      return gone;
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Poll until `cond` holds. */
export async function waitUntil(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < until) {
    try {
      if (await cond()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last !== null ? `: ${(last as Error).message}` : ''}`);
}
