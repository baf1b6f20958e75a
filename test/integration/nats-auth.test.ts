/**
 * Credentials and TLS against real nats-servers (src/protocol/nats-auth.ts): a password in the
 * URL or from a file, a wrong one refused, the CLI connecting with NATS_USER and
 * NATS_PASSWORD_FILE, a TLS server verified with its CA, and a `tls://` URL refusing a server
 * that offers no TLS (no silent downgrade). These suites start their own servers: the servers'
 * configuration is what they test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type EmbeddedNats } from '../../src/proving/harness/nats-server.js';
import { natsConnectOptions, type NatsAuth } from '../../src/protocol/nats-auth.js';

const dir = mkdtempSync(join(tmpdir(), 'swoosh-nats-auth-'));
const PASSWORD = 'pa55-w0rd-for-test';

async function tryConnect(urls: string[], auth: NatsAuth = {}): Promise<string> {
  try {
    const nc = await connect({ ...natsConnectOptions(urls, auth), reconnect: false, timeout: 3000 });
    const tls = nc.info?.tls_required === true ? 'tls' : 'plain';
    await nc.close();
    return `connected (${tls})`;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('NATS credentials and TLS', () => {
  let plain: EmbeddedNats;
  let tls: EmbeddedNats;
  let ca: string;

  beforeAll(async () => {
    plain = await startNatsServer({
      storeDir: join(dir, 'plain'),
      extraConfig: `authorization { user: "svc", password: ${JSON.stringify(PASSWORD)} }\n`,
      probeOptions: { user: 'svc', pass: PASSWORD },
    });
    // A self-signed certificate for 127.0.0.1, its own CA.
    ca = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes', '-keyout', key, '-out', ca, '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    tls = await startNatsServer({
      storeDir: join(dir, 'tls'),
      extraConfig: `tls { cert_file: ${JSON.stringify(ca)}, key_file: ${JSON.stringify(key)} }\n`,
      probeOptions: { tls: { caFile: ca } },
    });
  }, 30_000);

  afterAll(async () => {
    await plain?.stop();
    await tls?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('Given a password server, Then credentials in the URL or from a file connect, a wrong or missing one is refused', async () => {
    const port = plain.port;
    expect(await tryConnect([`nats://svc:${PASSWORD}@127.0.0.1:${port}`])).toBe('connected (plain)');
    expect(await tryConnect([plain.url], { user: 'svc', password: PASSWORD })).toBe('connected (plain)');
    expect(await tryConnect([plain.url], { user: 'svc', password: 'wrong' })).toMatch(/Authorization Violation/i);
    expect(await tryConnect([plain.url])).toMatch(/Authorization Violation/i);
  });

  it('Given the CLI with NATS_USER and NATS_PASSWORD_FILE, Then it connects; with no credentials it fails naming the redacted URL', () => {
    const pw = join(dir, 'pw-cli');
    writeFileSync(pw, `${PASSWORD}\n`, { mode: 0o600 });
    const cli = (env: Record<string, string>, url: string): { status: number | null; out: string } => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'streams', 'apply', '--prefix', 'authcli', '--nats-url', url], {
        env: { ...process.env, ...env, NATS_USER: env['NATS_USER'] ?? '', NATS_PASSWORD_FILE: env['NATS_PASSWORD_FILE'] ?? '' },
        encoding: 'utf8', timeout: 60_000,
      });
      return { status: r.status, out: `${r.stdout}${r.stderr}` };
    };
    const ok = cli({ NATS_USER: 'svc', NATS_PASSWORD_FILE: pw }, plain.url);
    expect(ok.out).not.toContain(PASSWORD);
    expect(ok.status, ok.out).toBe(0);
    const bad = cli({}, `nats://svc:wrong@127.0.0.1:${plain.port}`);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toContain(`cannot connect to NATS at nats://***@127.0.0.1:${plain.port}`);
    expect(bad.out).not.toContain('wrong');
  }, 120_000);

  it('Given a TLS server, Then its CA verifies it; without the CA the certificate is refused; a tls:// URL never falls back to a plain server', async () => {
    expect(await tryConnect([tls.url], { tlsCaFile: ca })).toBe('connected (tls)');
    expect(await tryConnect([`tls://127.0.0.1:${tls.port}`])).toMatch(/self[- ]signed|certificate/i);
    expect(await tryConnect([`tls://svc:${PASSWORD}@127.0.0.1:${plain.port}`])).toMatch(/server does not support 'tls'/);
    expect(await tryConnect([plain.url], { user: 'svc', password: PASSWORD, tlsCaFile: ca })).toMatch(/server does not support 'tls'/);
  });
});
