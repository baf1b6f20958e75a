/**
 * The embedded nats-server: a free loopback port, a store that survives restart and kill -9,
 * and operating errors that say what to do. These tests always spawn their own server (they
 * test the spawner), whatever NATS_URL says.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { SwooshError } from '../../src/protocol/errors.js';
import {
  renderServerConfig,
  startNatsServer,
  supportsSyncInterval,
  type EmbeddedNats,
} from '../../src/proving/harness/nats-server.js';
import { uniquePrefix } from '../support/nats.js';

const prefix = uniquePrefix();
const stream = `${prefix.toUpperCase()}_S`;
let root: string;
let server: EmbeddedNats;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'swoosh-nats-server-'));
  server = await startNatsServer({ storeDir: join(root, 'store'), syncAlways: true });
});

afterAll(async () => {
  await server?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

/** Publish `data` to the test stream (created on first use); return its sequence. */
async function publish(data: string): Promise<number> {
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], storage: 'file' });
    return (await jetstream(nc).publish(`${prefix}.x`, data)).seq;
  } finally {
    await nc.close();
  }
}

/** The test stream's message at `seq`, read over a fresh connection. */
async function read(seq: number): Promise<string | undefined> {
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.getMessage(stream, { seq }))?.string();
  } finally {
    await nc.close();
  }
}

async function rejection(p: Promise<unknown>): Promise<SwooshError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SwooshError) return err;
    throw err;
  }
  throw new Error('expected a SwooshError, got success');
}

describe('startNatsServer', () => {
  it('Given no port, Then a free loopback port (never 4222) serving JetStream', async () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.port).not.toBe(4222);
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(server.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(server.pid()).toBeGreaterThan(0);
    const conf = await readFile(join(server.storeDir, 'nats-server.conf'), 'utf8');
    expect(conf).toContain(`listen: "127.0.0.1:${server.port}"`);
    // sync_interval only where the server knows it (2.9 refuses the config otherwise).
    expect(conf.includes('sync_interval: always')).toBe(supportsSyncInterval(server.version));
    expect(server.syncAlways).toBe(supportsSyncInterval(server.version));
    const nc = await connect({ servers: server.url });
    const info = await (await jetstreamManager(nc)).getAccountInfo();
    await nc.close();
    expect(info.limits).toBeDefined();
  });

  it('Given a stored message, When restarted, Then same port, new pid, message kept', async () => {
    const seq = await publish('before-restart');
    const [port, pid] = [server.port, server.pid()];
    await server.restart();
    expect(server.port).toBe(port);
    expect(server.pid()).not.toBe(pid);
    expect(await read(seq)).toBe('before-restart');
  });

  it('Given a stored message, When SIGKILLed and restarted, Then the store recovers', async () => {
    const seq = await publish('before-kill');
    await server.kill('SIGKILL');
    expect(server.pid()).toBeUndefined();
    await server.restart();
    expect(await read(seq)).toBe('before-kill');
    expect(await read(1)).toBe('before-restart');
  });

  it('Given a port in use, Then nats_server_start_failed with the log tail', async () => {
    const err = await rejection(
      startNatsServer({ storeDir: join(root, 'clash'), port: server.port, startTimeoutMs: 5_000 }),
    );
    expect(err.code).toBe('nats_server_start_failed');
    expect(err.message).toMatch(/address already in use/i);
  });

  it('Given no binary (NATS_SERVER_BIN=/nonexistent), Then nats_server_missing', async () => {
    const saved = process.env['NATS_SERVER_BIN'];
    process.env['NATS_SERVER_BIN'] = '/nonexistent';
    try {
      const err = await rejection(startNatsServer({ storeDir: join(root, 'never') }));
      expect(err.code).toBe('nats_server_missing');
      expect(err.retryable).toBe(false);
      expect(err.message).toContain('apt-get install nats-server');
      expect(err.message).toContain('NATS_URL');
    } finally {
      if (saved === undefined) delete process.env['NATS_SERVER_BIN'];
      else process.env['NATS_SERVER_BIN'] = saved;
    }
  });
});

/** True while `pid` is a live process (a zombie awaiting its reaper counts as dead). */
async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return !/\) Z /.test(stat);
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const serverModule = new URL('../../src/proving/harness/nats-server.ts', import.meta.url).href;

describe('no orphaned nats-server', () => {
  it.each(['SIGTERM', 'exit'] as const)(
    'Given a process running a server, When it ends by %s, Then the server ends too',
    async (how) => {
      const script = join(root, `orphan-${how}.mts`);
      const end = how === 'exit' ? "process.stdin.once('data', () => process.exit(0));"
        : 'setInterval(() => undefined, 1_000);';
      await writeFile(script, [
        `import { startNatsServer } from ${JSON.stringify(serverModule)};`,
        `const s = await startNatsServer({ storeDir: ${JSON.stringify(join(root, how))} });`,
        'process.stdout.write(`${s.pid()}\\n`);',
        end,
      ].join('\n'));
      const child = spawn(process.execPath, ['--import', 'tsx', script], {
        cwd: repoRoot,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const exited = once(child, 'exit');
      const lines = createInterface({ input: child.stdout });
      const [line] = (await once(lines, 'line')) as [string];
      const pid = Number(line);
      expect(await alive(pid)).toBe(true);
      if (how === 'SIGTERM') child.kill('SIGTERM');
      else child.stdin.write('bye\n');
      await exited;
      expect(await eventually(async () => !(await alive(pid)), 3_000)).toBe(true);
    },
  );
});

describe('server version feature detection', () => {
  it.each([
    ['2.9.10', false],
    ['2.9.99', false],
    ['2.10.0', true],
    ['2.10.23', true],
    ['2.11.4', true],
    ['3.0.0', true],
  ])('supportsSyncInterval(%s) is %s', (version, want) => {
    expect(supportsSyncInterval(version)).toBe(want);
  });

  it('writes sync_interval only when asked for', () => {
    const base = { port: 14_222, storeDir: '/s' };
    expect(renderServerConfig({ ...base, syncAlways: true })).toContain('sync_interval: always');
    expect(renderServerConfig({ ...base, syncAlways: false })).not.toContain('sync_interval');
  });
});
