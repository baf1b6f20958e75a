/**
 * `swoosh dev` as a user runs it: a real process (bin/swoosh.js) with its own nats-server
 * child, its output in a file, ready once it prints its `{"event":"ready", …}` line.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

const ROOT = process.cwd();

/** The ready line of `swoosh dev`. */
export interface DevReady {
  readonly http: string;
  readonly nats: string;
  readonly data_dir: string;
  readonly dev_keys: string;
  readonly nats_auth: string | null;
  readonly prefix: string;
  readonly warning?: string;
}

/** A running `swoosh dev`. */
export interface DevProc {
  readonly proc: ChildProcess;
  readonly ready: DevReady;
  readonly logFile: string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Everything it printed so far. */
  output(): string;
  /** SIGINT, and its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Start `swoosh dev` with `args` and wait for its ready line. Its output goes to `logFile`, not
 * a pipe: callers run the CLI through spawnSync, which blocks this process, and an undrained
 * pipe would stall the server once its buffer filled.
 */
export async function startDev(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  timeoutMs = 30_000,
): Promise<DevProc> {
  const fd = openSync(logFile, 'w');
  const proc = spawn(process.execPath, ['bin/swoosh.js', 'dev', ...args], {
    cwd: ROOT, env, stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const output = (): string => readFileSync(logFile, 'utf8');
  const until = Date.now() + timeoutMs;
  for (;;) {
    const line = output().split('\n').find((l) => l.includes('"event":"ready"'));
    if (line !== undefined) {
      const ready = JSON.parse(line) as DevReady;
      return {
        proc, ready, logFile, exited, output,
        stop: async () => {
          if (proc.exitCode === null) proc.kill('SIGINT');
          return exited;
        },
      };
    }
    if (proc.exitCode !== null || Date.now() > until) {
      proc.kill('SIGKILL');
      throw new Error(`swoosh dev not ready:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Run the CLI once (bin/swoosh.js) and collect its exit code and output. */
export function cli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['bin/swoosh.js', ...args], {
    cwd: ROOT, env, encoding: 'utf8', timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
