/**
 * `swoosh dev` runs its child nats-server with one nkey user per role (docs/security.md,
 * "swoosh dev"): the seeds are made once in `<data-dir>/nats-auth/` (0700, files 0600) and kept
 * across restarts; an anonymous client is refused; the `reader` key cannot write proposals or
 * records; the CLI finds its role's key through dev.json (and an explicit setting wins); no
 * seed reaches the ready line, the logs or the server's config; `--insecure` turns the
 * accounts off and says so in the ready line.
 *
 * Like the README walk, it always starts dev's own nats-server (NATS_URL is cleared).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nkeyAuthenticator, type NatsConnection } from '@nats-io/nats-core';
import { fromSeed } from '@nats-io/nkeys';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATS_ROLES } from '../../src/server/process/nats-permissions.js';
import { subjectsFor } from '../../streams/definitions.js';
import { cli, startDev, type DevProc } from '../support/dev.js';

const PREFIX = 'swoosh';
const s = subjectsFor(PREFIX);
const enc = new TextEncoder();

describe('swoosh dev: NATS accounts on its child server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swoosh-devacc-'));
  const dataDir = join(dir, '.swoosh');
  const authDir = join(dataDir, 'nats-auth');
  const env = { ...process.env, SWOOSH_DATA_DIR: dataDir, SWOOSH_URL: '', NATS_URL: '' };
  let dev: DevProc | null = null;
  let conf = '';
  const seedOf = (role: string): string => readFileSync(join(authDir, `${role}.nk`), 'utf8').trim();
  const connectAs = (role: string | null): Promise<NatsConnection> => connect({
    servers: dev?.ready.nats ?? '', reconnect: false, timeout: 3000, noAsyncTraces: true,
    ...(role === null ? {} : { authenticator: nkeyAuthenticator(enc.encode(seedOf(role))) }),
  });
  /** Start dev on the shared data dir; `--log-level debug` puts as much as possible in its log. */
  const start = async (n: number, extra: readonly string[] = []): Promise<DevProc> =>
    startDev(['--http-port', '0', '--data-dir', dataDir, '--log-level', 'debug', ...extra],
      env, join(dir, `dev-${n}.log`));

  beforeAll(async () => {
    dev = await start(1);
    conf = readFileSync(join(dataDir, 'nats', 'nats-server.conf'), 'utf8');
  }, 60_000);

  afterAll(async () => {
    if (dev !== null && dev.proc.exitCode === null) {
      dev.proc.kill('SIGKILL');
      await dev.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('Given a first start, Then one user seed per role, owner-only, listed in dev.json, named by the ready line', () => {
    expect(dev?.ready.nats_auth).toBe(authDir);
    expect(statSync(authDir).mode & 0o777).toBe(0o700);
    expect(readdirSync(authDir).sort()).toEqual(NATS_ROLES.map((r) => `${r}.nk`).sort());
    for (const role of NATS_ROLES) {
      expect(statSync(join(authDir, `${role}.nk`)).mode & 0o777, role).toBe(0o600);
      expect(seedOf(role), role).toMatch(/^SU[A-Z2-7]{56}$/);
    }
    const conn = JSON.parse(readFileSync(join(dataDir, 'dev.json'), 'utf8')) as { nats_auth: Record<string, string> };
    expect(conn.nats_auth).toEqual(Object.fromEntries(NATS_ROLES.map((r) => [r, join(authDir, `${r}.nk`)])));
    // The server knows each user by its public key.
    for (const role of NATS_ROLES) {
      expect(conf).toContain(`nkey: "${fromSeed(enc.encode(seedOf(role))).getPublicKey()}"`);
    }
  });

  it('Given the dev NATS URL, When a client connects without credentials, Then the server refuses it', async () => {
    const anonymous = await connectAs(null).then(async (nc) => {
      await nc.close();
      return 'connected';
    }, (err: unknown) => (err as Error).message);
    expect(anonymous).toMatch(/Authorization Violation/i);
  });

  it('Given the reader key, When it publishes a proposal or a decision record, Then the server refuses each and nothing is stored', async () => {
    const reader = await connectAs('reader');
    const admin = await connectAs('admin');
    const js = jetstream(reader, { timeout: 3000 });
    const tries: Record<string, string> = {
      proposal: s.proposals('Boot_ConfigOk', 'default'),
      'proposal (v1 subject)': s.proposals('Boot_ConfigOk'),
      'control proposal': s.control('Control_Pause'),
      'decision record': s.dr('_deployment'),
      'project record': s.dr('default'),
    };
    try {
      for (const [what, subject] of Object.entries(tries)) {
        await expect(js.publish(subject, enc.encode('{}')), what).rejects.toThrow(/Permissions Violation/);
      }
      // Nothing of the reader's is stored (the simulators' facts and their records are).
      const jsm = await jetstreamManager(admin);
      for (const [what, subject] of Object.entries(tries)) {
        const stream = subject.includes('.dr.') ? s.decisionsName : s.walName;
        const last = await jsm.streams.getMessage(stream, { last_by_subj: subject });
        expect(last === null || new TextDecoder().decode(last.data) !== '{}', what).toBe(true);
      }
    } finally {
      await reader.close();
      await admin.close();
    }
  });

  it('Given only the data dir, When tail, audit verify, streams status and snapshot list run, Then each connects as its role and works; an explicit key wins', () => {
    const tail = cli(['tail', '--from-seq', '1', '--limit', '3', '--json'], env);
    expect(tail.code, tail.err).toBe(0);
    expect(tail.out.trim().split('\n').map((l) => (JSON.parse(l) as { wal_seq: number }).wal_seq)).toEqual([1, 2, 3]);
    const audit = cli(['audit', 'verify', '--json'], env);
    expect(audit.code, audit.err).toBe(0);
    expect(JSON.parse(audit.out) as { ok: boolean }).toMatchObject({ ok: true });
    const status = cli(['streams', 'status'], env);
    expect(status.code, status.err).toBe(0);
    expect(status.out).toMatch(/unchanged\s+stream\s+SWOOSH_WAL/);
    expect(cli(['snapshot', 'list', '--json'], env).code).toBe(0);
    // NATS_NKEY names the reader's key: it wins over the operator's the audit would take, and
    // the reader may not read the WAL.
    const asReader = cli(['audit', 'verify'], { ...env, NATS_NKEY: join(authDir, 'reader.nk') });
    expect(asReader.code).toBe(1);
    expect(`${asReader.out}${asReader.err}`).toMatch(/Permissions Violation/);
  }, 120_000);

  it('Given a restart, Then the same seeds serve again; Given --insecure, Then no accounts and a warning in the ready line', async () => {
    const seeds = NATS_ROLES.map(seedOf);
    expect(await dev?.stop()).toBe(0);
    dev = await start(2);
    expect(NATS_ROLES.map(seedOf)).toEqual(seeds);
    expect(cli(['tail', '--limit', '1', '--json'], env).code).toBe(0);
    expect(await dev.stop()).toBe(0);
    dev = await start(3, ['--insecure']);
    expect(dev.ready.nats_auth).toBeNull();
    expect(dev.ready.warning).toMatch(/NATS accounts are off \(--insecure\)/);
    const nc = await connectAs(null);
    await nc.close();
    const conn = JSON.parse(readFileSync(join(dataDir, 'dev.json'), 'utf8')) as { nats_auth: unknown };
    expect(conn.nats_auth).toBeNull();
    expect(cli(['tail', '--limit', '1', '--json'], env).code).toBe(0);
    expect(await dev.stop()).toBe(0);
  }, 120_000);

  it('Given every start above, Then no seed appears in a ready line, a log, dev.json or the server config', () => {
    const seeds = NATS_ROLES.map(seedOf);
    const texts: Record<string, string> = {
      'dev.json': readFileSync(join(dataDir, 'dev.json'), 'utf8'),
      'nats-server.conf (first start)': conf,
      'nats-server.log': readFileSync(join(dataDir, 'nats', 'nats-server.log'), 'utf8'),
    };
    for (const n of [1, 2, 3]) texts[`dev-${n}.log`] = readFileSync(join(dir, `dev-${n}.log`), 'utf8');
    const chars = Object.values(texts).reduce((a, t) => a + t.length, 0);
    console.log(`[dev accounts] ${Object.keys(texts).length} files, ${chars} characters scanned for ${seeds.length} seeds`);
    expect(texts['dev-1.log']?.length ?? 0).toBeGreaterThan(1000);
    for (const [name, text] of Object.entries(texts)) {
      for (const seed of seeds) expect(text.includes(seed), name).toBe(false);
      // Nor any other nkey seed (a user seed starts with SU).
      expect(text, name).not.toMatch(/\bSU[A-Z2-7]{56}\b/);
    }
  });
});
