/**
 * A local `nats-server -js` child process: the embedded default of `npm start` and the server
 * of the integration tests. It listens on loopback only, keeps its store in one directory and
 * is restarted on the same port and store, so a test can kill it and watch recovery.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdir, open, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { ConnectionOptions } from '@nats-io/nats-core';
import { SwooshError } from '../../protocol/errors.js';
import { compareVersions } from '../../server/process/apply-streams.js';

/** Options of startNatsServer. */
export interface StartNatsServerOptions {
  /** Directory for the config file, the log and JetStream's store; created if absent. */
  readonly storeDir: string;
  /** Client port on 127.0.0.1; 0 or absent picks a free one. */
  readonly port?: number;
  /** Ask for `sync_interval: always` (fsync every write) when the server supports it. */
  readonly syncAlways?: boolean;
  /** Where the child's stdout and stderr go; default `<storeDir>/nats-server.log`. */
  readonly logFile?: string;
  /** How long to wait for the server to answer JetStream requests; default 10 s. */
  readonly startTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL; default 5 s. */
  readonly stopTimeoutMs?: number;
  /**
   * Config text appended as it is (an `authorization` block, a `tls` block). With it, the
   * readiness probe connects with `probeOptions` (credentials and TLS for that config).
   */
  readonly extraConfig?: string;
  readonly probeOptions?: Partial<ConnectionOptions>;
}

/** A running (or stopped, restartable) local nats-server. */
export interface EmbeddedNats {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** The server version, e.g. `2.9.10`, from `nats-server --version`. */
  readonly version: string;
  /** True when the config asks for `sync_interval: always` (requested and supported). */
  readonly syncAlways: boolean;
  /** The child's pid while it runs, else undefined. */
  pid(): number | undefined;
  /** SIGTERM, wait for exit, SIGKILL after the stop timeout. A no-op when stopped. */
  stop(): Promise<void>;
  /** Send `signal` (default SIGKILL) and wait for exit (SIGKILL after the stop timeout). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stop if running, then start again on the same port and store dir and wait until ready. */
  restart(): Promise<void>;
}

const startTimeoutMsDefault = 10_000;
const stopTimeoutMsDefault = 5_000;
// A free port can be taken by someone else between probing and the server's bind; a couple
// of fresh picks make that race harmless. Only picked ports are retried, never a given one.
const pickedPortAttemptsMax = 3;
const readyPollMs = 50;
const logTailBytesMax = 4_096;
const fallbackBin = '/usr/sbin/nats-server';
const installHint =
  'Install it (Debian/Ubuntu: `apt-get install nats-server`; elsewhere a release from ' +
  'https://github.com/nats-io/nats-server/releases), or set NATS_SERVER_BIN to its path, ' +
  'or set NATS_URL to use an existing server instead of the embedded one.';

const execFileAsync = promisify(execFile);

/** `sync_interval` (and its `always` value) exists in the jetstream block from 2.10.0. */
export function supportsSyncInterval(version: string): boolean {
  return compareVersions(version, '2.10.0') >= 0;
}

/** The `x.y.z` in `nats-server --version` output (`nats-server: v2.9.10`). */
export function parseServerVersion(output: string): string | null {
  const m = /v?(\d+\.\d+\.\d+)/.exec(output);
  return m?.[1] ?? null;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    // Not there or not executable: the caller tries the next candidate.
    return false;
  }
}

/**
 * The nats-server binary: NATS_SERVER_BIN when set (and then only it), else `nats-server`
 * on PATH, else /usr/sbin/nats-server. Throws `nats_server_missing` with the install hint.
 */
export function resolveNatsServerBin(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['NATS_SERVER_BIN'];
  if (explicit !== undefined && explicit !== '') {
    if (isExecutable(explicit)) return explicit;
    throw new SwooshError(
      'nats_server_missing',
      `NATS_SERVER_BIN=${explicit} is not an executable nats-server. ${installHint}`,
    );
  }
  const onPath = (env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, 'nats-server'));
  const found = [...onPath, fallbackBin].find(isExecutable);
  if (found !== undefined) return found;
  throw new SwooshError(
    'nats_server_missing',
    `nats-server was not found on PATH or at ${fallbackBin}. ${installHint}`,
  );
}

/** Run `<bin> --version` and parse it. */
export async function readServerVersion(bin: string): Promise<string> {
  let out: string;
  try {
    const r = await execFileAsync(bin, ['--version'], { timeout: 5_000 });
    out = `${r.stdout}${r.stderr}`;
  } catch (err) {
    throw new SwooshError('nats_server_missing', `${bin} --version failed. ${installHint}`, {
      cause: err,
    });
  }
  const version = parseServerVersion(out);
  if (version === null) {
    throw new SwooshError('nats_server_start_failed', `cannot parse ${bin} --version: ${out}`);
  }
  return version;
}

/** A free TCP port on 127.0.0.1: bind port 0, read what the kernel gave, close. */
export function pickFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * The server name for a store dir: stable across restarts, distinct between stores. The
 * readiness probe checks it, so another server already on the port is never mistaken for ours.
 */
export function serverNameFor(storeDir: string): string {
  return `swoosh_${createHash('sha256').update(resolve(storeDir)).digest('hex').slice(0, 16)}`;
}

/**
 * The `cluster {}` block of one node of a loopback cluster (src/proving/harness/nats-cluster.ts):
 * routes listen on 127.0.0.1 only, like the client port.
 */
export interface ClusterBlock {
  /** The cluster's name; every node of one cluster has the same. */
  readonly name: string;
  /** This node's route port on 127.0.0.1. */
  readonly port: number;
  /** The route ports of the other nodes, on 127.0.0.1. */
  readonly routes: readonly number[];
}

/**
 * The server config: loopback listener, a server name, and JetStream in the store dir; with
 * `cluster`, a cluster block too (absent: exactly the single-server config).
 */
export function renderServerConfig(c: {
  port: number;
  storeDir: string;
  syncAlways: boolean;
  serverName?: string;
  cluster?: ClusterBlock;
}): string {
  // JSON string syntax is valid quoted-string syntax in the NATS config format.
  const lines = [
    '# Written by SWOOSH (src/proving/harness/nats-server.ts) on every start; edits are lost.',
    `server_name: ${JSON.stringify(c.serverName ?? serverNameFor(c.storeDir))}`,
    `listen: ${JSON.stringify(`127.0.0.1:${c.port}`)}`,
    'jetstream {',
    `  store_dir: ${JSON.stringify(c.storeDir)}`,
  ];
  if (c.syncAlways) lines.push('  sync_interval: always');
  lines.push('}');
  if (c.cluster !== undefined) {
    lines.push(
      'cluster {',
      `  name: ${JSON.stringify(c.cluster.name)}`,
      `  listen: ${JSON.stringify(`127.0.0.1:${c.cluster.port}`)}`,
      '  routes: [',
      ...c.cluster.routes.map((p) => `    ${JSON.stringify(`nats-route://127.0.0.1:${p}`)}`),
      '  ]',
      '}',
    );
  }
  lines.push('');
  return lines.join('\n');
}

// Children still running. They are SIGKILLed if this process exits without stopping them:
// on 'exit', and on a terminating signal nobody else handles (Node emits no 'exit' then, and
// test runners stop their workers with SIGTERM). The hooks exist only while children run.
// The registry is process-wide (on globalThis), so a module loaded twice (test isolation)
// still installs one set of hooks and never mistakes its twin for another signal handler.
interface ChildRegistry {
  readonly children: Set<ChildProcess>;
  readonly onExit: () => void;
  readonly onSignal: (signal: NodeJS.Signals) => void;
}

const fatalSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const registryKey = Symbol.for('swoosh.runtime.nats-server.children');

function makeRegistry(): ChildRegistry {
  const children = new Set<ChildProcess>();
  const onExit = (): void => {
    for (const c of children) c.kill('SIGKILL');
    children.clear();
  };
  const reg: ChildRegistry = {
    children,
    onExit,
    onSignal: (signal) => {
      // Another listener owns shutdown (it stops us, or exits and the 'exit' hook fires).
      if (process.listeners(signal).some((l) => l !== reg.onSignal)) return;
      onExit();
      setHooks(reg, false);
      // Re-raise with no listener left: the default action ends the process as it would have.
      process.kill(process.pid, signal);
    },
  };
  return reg;
}

function childRegistry(): ChildRegistry {
  const g = globalThis as { [registryKey]?: ChildRegistry };
  g[registryKey] ??= makeRegistry();
  return g[registryKey];
}

function setHooks(reg: ChildRegistry, on: boolean): void {
  const method = on ? 'on' : 'off';
  process[method]('exit', reg.onExit);
  for (const s of fatalSignals) process[method](s, reg.onSignal);
}

function trackChild(child: ChildProcess): void {
  const reg = childRegistry();
  if (reg.children.size === 0) setHooks(reg, true);
  reg.children.add(child);
}

function untrackChild(child: ChildProcess): void {
  const reg = childRegistry();
  if (reg.children.delete(child) && reg.children.size === 0) setHooks(reg, false);
}

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly logOffset: number;
  hasExited: boolean;
  exitDescription: string;
}

async function spawnServer(bin: string, confPath: string, logFile: string): Promise<Running> {
  const logOffset = await stat(logFile).then(
    (s) => s.size,
    () => 0,
  );
  const log = await open(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, ['-js', '-c', confPath], { stdio: ['ignore', log.fd, log.fd] });
  } finally {
    // The child holds its own copy of the descriptor.
    await log.close();
  }
  trackChild(child);
  const running: Running = {
    child,
    logOffset,
    hasExited: false,
    exitDescription: '',
    exited: new Promise((resolve) => {
      const done = (desc: string): void => {
        running.hasExited = true;
        running.exitDescription = desc;
        untrackChild(child);
        resolve();
      };
      child.once('exit', (code, signal) => done(`exited (code ${code}, signal ${signal})`));
      child.once('error', (err) => done(`failed to spawn: ${err.message}`));
    }),
  };
  return running;
}

/** The last few KB the server wrote to its log since `offset`. */
async function logTail(logFile: string, offset: number): Promise<string> {
  try {
    const fh = await open(logFile, 'r');
    try {
      const size = (await fh.stat()).size;
      const start = Math.max(offset, size - logTailBytesMax);
      const buf = Buffer.alloc(Math.max(0, size - start));
      await fh.read(buf, 0, buf.length, start);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    return `(log ${logFile} unreadable: ${String(err)})`;
  }
}

/**
 * Connect, check it is our server (by name), ask JetStream for the account info, close.
 * Throws while the server is not ready.
 */
async function probeJetStream(
  url: string,
  serverName: string,
  extra: Partial<ConnectionOptions> = {},
): Promise<void> {
  const nc = await connect({ ...extra, servers: url, reconnect: false, timeout: 1_000 });
  try {
    const name = nc.info?.server_name;
    if (name !== serverName) throw new Error(`${url} is answered by server ${name}, not ours`);
    const jsm = await jetstreamManager(nc, { timeout: 1_000 });
    await jsm.getAccountInfo();
  } finally {
    await nc.close();
  }
}

/** Resolves after `ms`, or as soon as `until` settles; the timer never outlives it. */
async function sleepUnless(ms: number, until?: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race(until === undefined ? [elapsed] : [elapsed, until]);
  clearTimeout(timer);
}

type ReadyOutcome =
  | { readonly kind: 'ready' }
  | { readonly kind: 'exited' }
  | { readonly kind: 'timeout'; readonly lastErr: unknown };

/** Poll until the server answers JetStream requests, the child exits, or time runs out. */
async function waitReady(
  url: string,
  serverName: string,
  running: Running,
  timeoutMs: number,
  probe?: Partial<ConnectionOptions>,
): Promise<ReadyOutcome> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown = null;
  while (Date.now() < deadline) {
    if (running.hasExited) return { kind: 'exited' };
    try {
      await probeJetStream(url, serverName, probe);
      return running.hasExited ? { kind: 'exited' } : { kind: 'ready' };
    } catch (err) {
      // Not listening yet, or JetStream still recovering its store: poll again.
      lastErr = err;
    }
    await sleepUnless(readyPollMs, running.exited);
  }
  return { kind: 'timeout', lastErr };
}

/** Send `signal`, wait for exit; SIGKILL if the child outlives `timeoutMs`. */
async function signalAndWait(r: Running, signal: NodeJS.Signals, timeoutMs: number) {
  if (r.hasExited) return;
  r.child.kill(signal);
  await sleepUnless(timeoutMs, r.exited);
  if (!r.hasExited) {
    r.child.kill('SIGKILL');
    await r.exited;
  }
}

/**
 * Everything one server child is started with (exported for src/proving/harness/nats-cluster.ts).
 */
export interface ServerSettings {
  readonly bin: string;
  readonly version: string;
  readonly serverName: string;
  readonly storeDir: string;
  readonly logFile: string;
  readonly syncAlways: boolean;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  /** A cluster node's route settings; absent for a single server. */
  readonly cluster?: ClusterBlock;
  /** Appended config text and the probe's connection options (StartNatsServerOptions). */
  readonly extraConfig?: string;
  readonly probeOptions?: Partial<ConnectionOptions>;
}

/**
 * One nats-server child: started on a given or picked port, stopped, killed and started again
 * on the same port and store. startNatsServer wraps it for a single server; nats-cluster.ts
 * runs one per node (with `settings.cluster`).
 */
export class LocalNatsServer implements EmbeddedNats {
  readonly #s: ServerSettings;
  #port = 0;
  #running: Running | null = null;

  constructor(settings: ServerSettings) {
    this.#s = settings;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.#port}`;
  }
  get port(): number {
    return this.#port;
  }
  get storeDir(): string {
    return this.#s.storeDir;
  }
  get version(): string {
    return this.#s.version;
  }
  get syncAlways(): boolean {
    return this.#s.syncAlways;
  }

  pid(): number | undefined {
    const r = this.#running;
    return r !== null && !r.hasExited ? r.child.pid : undefined;
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const r = this.#running;
    if (r === null) return;
    await signalAndWait(r, signal, this.#s.stopTimeoutMs);
    this.#running = null;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start(this.#port);
  }

  /** Start on `port`, or on a freshly picked free port (retried if it was taken) when null. */
  async start(port: number | null): Promise<void> {
    const attempts = port === null ? pickedPortAttemptsMax : 1;
    for (let attempt = 1; ; attempt++) {
      this.#port = port ?? (await pickFreePort());
      const r = await this.#launch();
      const outcome = await waitReady(
        this.url, this.#s.serverName, r, this.#s.startTimeoutMs, this.#s.probeOptions,
      );
      if (outcome.kind === 'ready') return;
      await signalAndWait(r, 'SIGKILL', this.#s.stopTimeoutMs);
      this.#running = null;
      if (outcome.kind === 'exited' && attempt < attempts) continue;
      throw await this.#startFailure(r, outcome);
    }
  }

  async #launch(): Promise<Running> {
    const confPath = join(this.#s.storeDir, 'nats-server.conf');
    const conf = renderServerConfig({
      port: this.#port,
      storeDir: this.#s.storeDir,
      syncAlways: this.#s.syncAlways,
      serverName: this.#s.serverName,
      ...(this.#s.cluster !== undefined ? { cluster: this.#s.cluster } : {}),
    });
    await writeFile(confPath, conf + (this.#s.extraConfig ?? ''));
    this.#running = await spawnServer(this.#s.bin, confPath, this.#s.logFile);
    return this.#running;
  }

  async #startFailure(r: Running, outcome: ReadyOutcome): Promise<SwooshError> {
    const tail = await logTail(this.#s.logFile, r.logOffset);
    const why =
      outcome.kind === 'timeout'
        ? `did not answer within ${this.#s.startTimeoutMs} ms`
        : `${r.exitDescription} before it was ready`;
    return new SwooshError(
      'nats_server_start_failed',
      `nats-server ${this.#s.version} (${this.#s.bin}) on ${this.url} ${why}; ` +
        `log ${this.#s.logFile}:\n${tail}`,
      { retryable: true, cause: outcome.kind === 'timeout' ? outcome.lastErr : undefined },
    );
  }
}

/**
 * Spawn `nats-server -js` on 127.0.0.1 with its store in `opts.storeDir` and wait until it
 * answers JetStream requests. The child is SIGKILLed if this process exits without stop().
 */
export async function startNatsServer(opts: StartNatsServerOptions): Promise<EmbeddedNats> {
  const bin = resolveNatsServerBin();
  const version = await readServerVersion(bin);
  await mkdir(opts.storeDir, { recursive: true });
  const server = new LocalNatsServer({
    bin,
    version,
    serverName: serverNameFor(opts.storeDir),
    storeDir: opts.storeDir,
    logFile: opts.logFile ?? join(opts.storeDir, 'nats-server.log'),
    syncAlways: (opts.syncAlways ?? false) && supportsSyncInterval(version),
    startTimeoutMs: opts.startTimeoutMs ?? startTimeoutMsDefault,
    stopTimeoutMs: opts.stopTimeoutMs ?? stopTimeoutMsDefault,
    ...(opts.extraConfig !== undefined ? { extraConfig: opts.extraConfig } : {}),
    ...(opts.probeOptions !== undefined ? { probeOptions: opts.probeOptions } : {}),
  });
  await server.start(opts.port !== undefined && opts.port !== 0 ? opts.port : null);
  return server;
}
