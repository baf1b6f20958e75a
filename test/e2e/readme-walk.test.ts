/**
 * The README's two commands and its five-minute walk, as a user runs them: `swoosh dev` (what
 * `npm start` runs) as a real process with its own nats-server child and its NATS accounts on,
 * then exactly the walk's lines through bash and the real CLI (which find their role's key
 * through dev.json), then the CLI's other commands — including `audit verify` on a chain
 * someone tampered with — a server log free of permission violations, and a clean Ctrl-C.
 *
 * It always starts dev's own nats-server (NATS_URL is cleared): the accounts are part of what
 * `npm start` does, and a server at NATS_URL would have none of them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { nkeyAuthenticator } from '@nats-io/nats-core';
import { jcs } from '../../src/core/encoding/json.js';
import { createNodeSigner } from '../../src/crypto/node-sign.js';
import { DOMAIN } from '../../src/crypto/domains.js';
import { randomBytes } from 'node:crypto';
import { cli, startDev, type DevProc, type DevReady } from '../support/dev.js';

const ROOT = process.cwd();
const WALK = /<!-- walk:start -->\s*```sh\n([\s\S]*?)```\s*<!-- walk:end -->/;

describe('README: npm start and the five-minute walk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swoosh-e2e-'));
  const dataDir = join(dir, '.swoosh');
  const env = { ...process.env, SWOOSH_DATA_DIR: dataDir, SWOOSH_URL: '', NATS_URL: '' };
  let dev: DevProc;
  let ready: DevReady;

  beforeAll(async () => {
    dev = await startDev(['--http-port', '0', '--data-dir', dataDir], env, join(dir, 'dev.log'));
    ready = dev.ready;
  }, 60_000);

  afterAll(async () => {
    if (dev?.proc.exitCode === null) {
      dev.proc.kill('SIGKILL');
      await dev.exited;
    }
  });

  it('Given npm start, Then one ready line with the HTTP and NATS URLs, the dev key file and the NATS users\' seeds', () => {
    expect(ready.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.nats).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const key = JSON.parse(readFileSync(ready.dev_keys, 'utf8')) as { signer: string; secret_key: string };
    expect(key.signer).toMatch(/^hmmm:pubkey:[0-9a-f]{64}$/);
    expect(key.secret_key).toMatch(/^[0-9a-f]{64}$/);
    // Accounts on: one nkey seed per role, owner-only, and no warning.
    expect(ready.nats_auth).toBe(join(dataDir, 'nats-auth'));
    expect(ready.warning).toBeUndefined();
    expect(readFileSync(join(dataDir, 'nats-auth', 'reader.nk'), 'utf8')).toMatch(/^SU[A-Z2-7]+\n$/);
    expect(statSync(join(dataDir, 'nats-auth', 'reader.nk')).mode & 0o777).toBe(0o600);
  });

  it('Given the README walk, When run line by line, Then every step is accepted and one loop completes', () => {
    const m = WALK.exec(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    expect(m).not.toBeNull();
    // Verbatim, but for the data directory and a per-command time limit (a hang fails fast).
    const script = (m?.[1] ?? '').replaceAll('./.swoosh/', `${dataDir}/`)
      .replace('swoosh() { node bin/swoosh.js "$@"; }', 'swoosh() { timeout 60 node bin/swoosh.js "$@"; }');
    expect(script).toContain('timeout 60 node bin/swoosh.js');
    const r = spawnSync('bash', ['-c', `set -euo pipefail\n${script}`], { cwd: ROOT, env, encoding: 'utf8', timeout: 240_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const accepted = r.stdout.split('\n').filter((l) => l.startsWith('accepted '));
    expect(accepted).toHaveLength(19);
    expect(r.stdout).toMatch(/"loop": 1/);
    // A second project, created and booted on its own chain; both listed.
    expect(r.stdout).toMatch(/^created chorus-api wal_seq=\d+ dr=bubble:\/\/dr\/\S+\/_deployment\/\d+$/m);
    expect(r.stdout).toMatch(/^accepted Boot_ConfigOk .* dr=bubble:\/\/dr\/\S+\/chorus-api\/1 /m);
    expect(r.stdout).toMatch(/^chorus-api\s+BOOT\s+bucket/m);
    expect(r.stdout).toMatch(/^default\s+EXECUTION\s+bucket/m);
    expect(r.stdout).toMatch(/^ok: \d+ entries, \d+ records, \d+ transitions/m);
  }, 300_000);

  it('Given the CLI, Then keygen, a refused proposal, state and tail --json behave as documented', () => {
    const keyFile = join(dir, 'k.json');
    const kg = cli(['keygen', '--out', keyFile], env);
    expect(kg.code).toBe(0);
    expect(JSON.parse(kg.out) as { signer: string }).toMatchObject({ file: keyFile });
    expect(cli(['keygen', '--out', keyFile], env).code).toBe(1); // refuses to overwrite
    const stranger = cli(['propose', 'Control_Pause', '--inputs', '{"reason":"x"}', '--key', keyFile, '--json'], env);
    expect(stranger.code).toBe(1);
    // Refused by the gateway before writing (403): no record, nothing in the WAL.
    expect(JSON.parse(stranger.out) as { code: string }).toMatchObject({ kind: 'invalid', httpStatus: 403, code: 'unknown_signer' });
    const bad = cli(['propose', 'Boot_ConfigOk', '--inputs', '{"config_hash":"nope"}'], env);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/invalid proposal.*inputs\.config_hash/);
    expect(cli(['propose', 'No_Such', '--inputs', '{}'], env).err).toMatch(/unknown transition No_Such/);
    const hash = cli(['state', '--hash'], env);
    expect(hash.out.trim()).toMatch(/^sha256-[0-9a-f]{64}$/);
    // A bad projection is an error on stderr with its code, nothing on stdout.
    const bogus = cli(['state', '--projection', 'Bogus'], env);
    expect(bogus.code).toBe(1);
    expect(bogus.out).toBe('');
    expect(bogus.err).toMatch(/^swoosh: invalid_projection: /);
    const tail = cli(['tail', '--from-seq', '1', '--limit', '5', '--json'], env);
    const lines = tail.out.trim().split('\n').map((l) => JSON.parse(l) as { wal_seq: number; dr_id: string });
    expect(lines.map((l) => l.wal_seq)).toEqual([1, 2, 3, 4, 5]);
    expect(cli(['--help'], env).out).toMatch(/propose/);
    for (const c of ['dev', 'serve', 'keygen', 'propose', 'state', 'tail', 'streams', 'audit', 'snapshot']) {
      expect(cli([c, '--help'], env).code, c).toBe(0);
    }
  }, 120_000);

  it('Given a decision record forged into a chain, Then audit verify fails and names it', async () => {
    // A second deployment on the same server (prefix "forged"), with no writer: we write its
    // one decision record ourselves, signed by a stranger and claiming a state it never had.
    // Its subjects are outside the dev users' permissions but the admin's: `streams apply`
    // takes the admin key from dev.json by itself; the rest is given it explicitly.
    const prefixEnv = { ...env, SWOOSH_PREFIX: 'forged' };
    expect(cli(['streams', 'apply'], prefixEnv).code).toBe(0);
    const adminSeed = join(dataDir, 'nats-auth', 'admin.nk');
    const seed = new TextEncoder().encode(readFileSync(adminSeed, 'utf8').trim());
    const nc = await connect({ servers: ready.nats, authenticator: nkeyAuthenticator(seed) });
    const js = jetstream(nc);
    await js.publish('forged.facts.tick', new TextEncoder().encode('not an envelope'));
    const forger = createNodeSigner(randomBytes(32));
    const content = {
      v: 1, dr_id: 'bubble://dr/swoosh-dev/1', ucxl: 'ucxl://swoosh:swoosh-dev@wal/1', wal_seq: 1, wal_entry_hash: `sha256-${'0'.repeat(64)}`,
      log_ms: 0, outcome: 'accepted', channel: 'fact', transition: 'tick', region: null, signer: null, idem_key: null, hlc: null,
      window_id: null, inputs_hash: null, evidence: [], code: null, message: null, failing_guard: null, guard_outcomes: [],
      justification: 'forged', original: null, applied: [], state_pre_hash: `sha256-${'1'.repeat(64)}`,
      state_post_hash: `sha256-${'2'.repeat(64)}`, facts_pre_hash: `sha256-${'3'.repeat(64)}`, facts_post_hash: `sha256-${'4'.repeat(64)}`,
      applied_count: 0, prev_dr_hash: `sha256-${'5'.repeat(64)}`, writer: forger.signer,
    };
    const record = { ...content, signature: forger.signObject(DOMAIN.dr, content) };
    await js.publish('forged.dr.accepted.tick', new TextEncoder().encode(jcs(record)), { expect: { lastSequence: 0 } });
    await nc.close();
    const r = cli(['audit', 'verify'], { ...prefixEnv, NATS_NKEY: adminSeed });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/PROBLEM seq 1 chain \S+ (chain_break|content_mismatch)/);
    expect(r.out).toMatch(/^FAILED:/m);
    const good = cli(['audit', 'verify', '--json'], env);
    expect(good.code).toBe(0);
    expect((JSON.parse(good.out) as { ok: boolean }).ok).toBe(true);
  }, 60_000);

  it('Given the walk and the commands above, Then the server refused no client of dev or the CLI anything', () => {
    // Every part ran as its own role (the Instance and its gateway, the simulators, tail,
    // audit, streams): a missing permission shows here, even where a client falls back.
    const log = readFileSync(join(dataDir, 'nats', 'nats-server.log'), 'utf8');
    expect(log.split('\n').filter((l) => /Violation/.test(l))).toEqual([]);
    expect(dev.output()).not.toMatch(/Permissions Violation/);
  });

  it('Given Ctrl-C, Then dev drains, stops its nats-server child and exits 0', async () => {
    const natsPort = new URL(ready.nats).port;
    expect(await dev.stop()).toBe(0);
    const ps = spawnSync('pgrep', ['-af', `nats-server.*${natsPort}|${dataDir}`], { encoding: 'utf8' });
    expect(ps.stdout.split('\n').filter((l) => l.includes('nats-server') && !l.includes('pgrep'))).toEqual([]);
    expect(existsSync(join(dataDir, 'dev.json'))).toBe(true);
  }, 30_000);
});
