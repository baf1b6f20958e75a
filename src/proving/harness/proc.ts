/**
 * One SWOOSH instance as a child process, configured by environment like `swoosh serve`, so it
 * can be SIGKILLed, SIGSTOPped and restarted for real. The chaos suite and the integration tests
 * both spawn through here; each wraps the result in the handle it needs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Output lines kept per child (the tail is what a failure report shows). */
export const CHILD_OUTPUT_KEPT = 400;

/**
 * The instance entry (`src/server/process/main.ts` through tsx, or the built `.js`) and node flags.
 */
function entry(): string[] {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  const file = join(here, '..', '..', '..', 'server', 'process', ts ? 'main.ts' : 'main.js');
  return ts ? ['--import', 'tsx', file] : [file];
}

/** What an instance child needs. */
export interface ChildInstanceOptions {
  readonly natsUrl: string;
  readonly prefix: string;
  readonly name: string;
  readonly genesisFile: string;
  readonly keyFile: string;
  readonly env?: Record<string, string>;
  readonly readyTimeoutMs?: number;
  /** The node binary to run the instance with (default: this process's). */
  readonly nodeBin?: string;
}

/** A started child: the process, its exit, and its last output lines. */
export interface ChildInstance {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly output: string[];
}

/**
 * Spawn an instance and wait for its `"event":"ready"` line. A child that exits or does not
 * become ready in time is killed (the caller has no handle on it yet) and the error carries the
 * tail of its output.
 */
export async function spawnReadyInstance(o: ChildInstanceOptions): Promise<ChildInstance> {
  const child = spawn(o.nodeBin ?? process.execPath, entry(), {
    env: {
      ...process.env, NATS_URL: o.natsUrl, SWOOSH_PREFIX: o.prefix, SWOOSH_NAME: o.name,
      SWOOSH_GENESIS: o.genesisFile, SWOOSH_KEY_FILE: o.keyFile, SWOOSH_LOG_LEVEL: 'warn', ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const tail = (): string => output.slice(-20).join('\n');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (buf: Buffer): void => {
      for (const line of buf.toString().split('\n')) {
        if (line === '') continue;
        output.push(line);
        if (output.length > CHILD_OUTPUT_KEPT) output.splice(0, output.length - CHILD_OUTPUT_KEPT);
        if (line.includes('"event":"ready"')) resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) =>
      reject(new Error(`${o.name} exited (${String(code)}) before ready:\n${tail()}`)),
    );
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([ready, new Promise((_, rej) => {
      timer = setTimeout(
        () => rej(new Error(`${o.name} not ready in time:\n${tail()}`)),
        o.readyTimeoutMs ?? 30_000,
      );
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
  return { child, exited, output };
}
