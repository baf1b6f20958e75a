/**
 * Secrets at rest (docs/security.md): `swoosh serve` runs with its writer key, its genesis and
 * its HTTP read token as age files, opened with SWOOSH_AGE_IDENTITY_FILE; a key made by
 * `swoosh keygen --age-recipient` round-trips; without the identity the process refuses to
 * start, naming the file and never its content. Then every log line, every decision record,
 * /metrics, /state, /deployment and /health of the run are scanned for the secrets' bytes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptToRecipients } from '../../src/protocol/age-secrets.js';
import { StreamReader } from '../../src/protocol/batch-reader.js';
import { NatsClient, ProducerClock, buildFact, identityFromSeed } from '../../src/sdk/index.js';
import { CAST, castGenesis } from '../../src/proving/sim/world.js';
import { subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { waitUntil } from '../support/proc.js';

const dir = mkdtempSync(join(tmpdir(), 'swoosh-age-'));
const cli = (args: string[], env: Record<string, string> = {}): { code: number | null; out: string } => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
};

describe('AGE-encrypted secrets', () => {
  let fx: NatsFixture;
  let child: ChildProcess | null = null;
  const lines: string[] = [];
  let identity = '';
  let identityFile = '';
  let keyFile = '';
  let secretHex = '';
  let writer = '';
  const readToken = 'read-token-7f3a9c';

  beforeAll(async () => {
    fx = await natsFixture();
    identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    identityFile = join(dir, 'swoosh.agekey');
    writeFileSync(identityFile, `# created for the test\n${identity}\n`, { mode: 0o600 });
    keyFile = join(dir, 'writer.key.json.age');
    const kg = cli(['keygen', '--out', keyFile, '--age-recipient', recipient]);
    expect(kg.code, kg.out).toBe(0);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
    const signer = (JSON.parse(kg.out) as { signer: string }).signer;
    writer = signer;
    // The plaintext of the key, to scan for: opened once here the way the process does.
    const { unlockAgeFiles } = await import('../../src/protocol/age-secrets.js');
    const { loadKeyFile } = await import('../../src/protocol/files.js');
    await unlockAgeFiles([keyFile], identity);
    secretHex = Buffer.from(loadKeyFile(keyFile).seed).toString('hex');
    expect(loadKeyFile(keyFile).signer).toBe(signer);
    writeFileSync(join(dir, 'genesis.json.age'), await encryptToRecipients(JSON.stringify(castGenesis({ writers: [signer] })), [recipient]));
    writeFileSync(join(dir, 'read.token.age'), await encryptToRecipients(`${readToken}\n`, [recipient]));
  }, 60_000);

  afterAll(async () => {
    child?.kill('SIGTERM');
    await fx?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('Given no identity, Then serve refuses to start, naming the encrypted files and nothing of their content', () => {
    const r = cli(['serve', '--nats-url', fx.url, '--prefix', `${fx.prefix}x`, '--genesis', join(dir, 'genesis.json.age'), '--key-file', keyFile, '--http-port', '0'],
      { SWOOSH_AGE_IDENTITY_FILE: '', SWOOSH_AGE_IDENTITY: '' });
    expect(r.code).toBe(1);
    expect(r.out).toContain('invalid_config');
    expect(r.out).toContain('encrypted with age; set SWOOSH_AGE_IDENTITY_FILE');
    const wrong = cli(['serve', '--nats-url', fx.url, '--prefix', `${fx.prefix}x`, '--genesis', join(dir, 'genesis.json.age'), '--key-file', keyFile, '--http-port', '0'],
      { SWOOSH_AGE_IDENTITY: 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ' });
    expect(wrong.code).toBe(1);
    expect(wrong.out).not.toContain(secretHex);
  }, 60_000);

  it('Given serve with an age key, genesis and read token, When it decides, Then no log line, record or HTTP answer holds a secret', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--nats-url', fx.url, '--prefix', fx.prefix,
      '--genesis', join(dir, 'genesis.json.age'), '--key-file', keyFile, '--http-port', '0',
      '--http-read-token-file', join(dir, 'read.token.age'), '--log-level', 'debug', '--name', 'age-1'], {
      env: { ...process.env, SWOOSH_AGE_IDENTITY_FILE: identityFile }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let http = '';
    const onData = (b: Buffer): void => {
      for (const l of b.toString().split('\n')) {
        if (l === '') continue;
        lines.push(l);
        const m = /"event":"ready".*"http":"([^"]+)"/.exec(l);
        if (m?.[1] !== undefined) http = m[1];
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    await waitUntil('serve ready', () => Promise.resolve(http !== ''), 60_000);
    const nc = await connect({ servers: fx.url, noAsyncTraces: true });
    try {
      const sdk = NatsClient.fromConnection(nc, { prefix: fx.prefix });
      const clock = new ProducerClock();
      for (let i = 0; i < 5; i++) {
        await sdk.publishFact(buildFact({ kind: 'tick', signer: CAST.feeder.signer, hlc: clock.next(), payload: {} }), identityFromSeed(CAST.feeder.secretKey));
      }
      const s = subjectsFor(fx.prefix);
      const jsm = await jetstreamManager(nc);
      await waitUntil('decided', async () => (await jsm.streams.info(s.decisionsName)).state.messages === 5, 30_000);
      const texts: string[] = [];
      const r = new StreamReader(jetstream(nc), s.decisionsName, 1);
      try {
        // A read may return before the batch is full: read until all five are in.
        while (texts.length < 5) {
          const got = await r.read(10, 5000);
          if (got.length === 0) break;
          for (const m of got) texts.push(new TextDecoder().decode(m.data));
        }
      } finally {
        await r.close();
      }
      expect(texts).toHaveLength(5);
      const auth = { authorization: `Bearer ${readToken}` };
      for (const path of ['/metrics', '/state', '/deployment', '/health', '/decisions']) {
        const res = await fetch(`${http}${path}`, { headers: auth });
        expect(res.status, path).toBe(200);
        texts.push(await res.text());
      }
      expect((await fetch(`${http}/state`)).status).toBe(401); // the token came from the age file
      const all = [...lines, ...texts].join('\n');
      const secrets = { seed: secretHex, identity, token: readToken, identityBody: identity.slice('AGE-SECRET-KEY-1'.length) };
      // The scan reads what it should: the writer's public key is in every record.
      expect(all).toContain(writer);
      const found = Object.entries(secrets).filter(([, v]) => all.toLowerCase().includes(v.toLowerCase()));
      console.log(`[age secrets] scanned ${lines.length} log lines, 5 records and 5 HTTP answers (${all.length} characters): ${found.length} secrets found`);
      expect(found.map(([k]) => k)).toEqual([]);
    } finally {
      await nc.close();
    }
  }, 120_000);
});
