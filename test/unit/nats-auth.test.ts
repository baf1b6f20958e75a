/**
 * One NATS credentials/TLS surface (src/protocol/nats-auth.ts): what reaches `connect()` for
 * each setting, the contradictions refused with invalid_config, secrets never echoed, secret
 * files refused when others may read them, and the settings table in step with
 * docs/security.md.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import {
  NATS_AUTH_SETTINGS,
  natsAuthEnv,
  natsAuthOf,
  natsConnectOptions,
  redactNatsUrl,
} from '../../src/protocol/nats-auth.js';

const dir = mkdtempSync(join(tmpdir(), 'swoosh-nats-auth-'));
const secret = (name: string, text: string, mode = 0o600): string => {
  const f = join(dir, name);
  writeFileSync(f, text, { mode });
  return f;
};
const fails = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    return `${(err as { code?: string }).code ?? ''}: ${(err as Error).message}`;
  }
  return 'no error';
};

describe('NATS connection settings', () => {
  it('Given no settings, Then the servers go through as they are, anonymous and plain', () => {
    expect(natsConnectOptions(['nats://127.0.0.1:4333', 'nats://h2:4222'])).toEqual({ servers: ['nats://127.0.0.1:4333', 'nats://h2:4222'] });
  });

  it('Given credentials in the URL, Then they leave the URL for user/pass or token, and redaction hides them', () => {
    expect(natsConnectOptions(['nats://alice:s3cr%40t@h:4222'])).toEqual({ servers: ['nats://h:4222'], user: 'alice', pass: 's3cr@t' });
    expect(natsConnectOptions(['nats://tok123@h:4222'])).toEqual({ servers: ['nats://h:4222'], token: 'tok123' });
    expect(redactNatsUrl('nats://alice:s3cret@h:4222')).toBe('nats://***@h:4222');
    expect(redactNatsUrl('nats://h:4222')).toBe('nats://h:4222');
    // Every server of a list, with or without a scheme, and a password holding '/' or '@'.
    expect(redactNatsUrl('nats://a:b@h1:4222,nats://c:d@h2:4222')).toBe('nats://***@h1:4222,nats://***@h2:4222');
    expect(redactNatsUrl('u:p@h:4222')).toBe('***@h:4222');
    expect(redactNatsUrl('nats://u:a/b@c@h:4222')).toBe('nats://***@h:4222');
    expect(natsConnectOptions(['nats://u:a/b@c@h:4222'])).toEqual({ servers: ['nats://h:4222'], user: 'u', pass: 'a/b@c' });
  });

  it('Given a tls:// URL, a CA or a client certificate, Then TLS is required (a tls object is always passed)', () => {
    expect(natsConnectOptions(['tls://h:4222']).tls).toEqual({});
    const key = secret('client.key', 'KEY');
    expect(natsConnectOptions(['nats://h:4222'], { tlsCaFile: '/ca.pem' }).tls).toEqual({ caFile: '/ca.pem' });
    expect(natsConnectOptions(['nats://h'], { tlsCertFile: '/c.pem', tlsKeyFile: key, tlsFirst: true }).tls)
      .toEqual({ certFile: '/c.pem', keyFile: key, handshakeFirst: true });
    expect(natsConnectOptions(['nats://h:4222']).tls).toBeUndefined();
  });

  it('Given an nkey seed file or a creds file, Then an authenticator signs the server nonce', () => {
    const u = createUser();
    const seedFile = secret('u.nk', `${new TextDecoder().decode(u.getSeed())}\n`);
    const auth = natsConnectOptions(['nats://h'], { nkeyFile: seedFile }).authenticator;
    expect(typeof auth).toBe('function');
    const out = (auth as (nonce?: string) => { nkey?: string; sig?: string })('nonce-1');
    expect(out.nkey).toBe(u.getPublicKey());
    expect(out.sig?.length).toBeGreaterThan(0);
  });

  it('Given contradictory or unsafe settings, Then invalid_config naming the problem, never a secret', () => {
    const nk = secret('a.nk', 'SUAAAA');
    expect(fails(() => natsConnectOptions(['nats://h'], { nkeyFile: nk, token: 'hunter2' })))
      .toBe('invalid_config: NATS credentials: choose one of an nkey seed, a token');
    expect(fails(() => natsConnectOptions(['nats://bob:hunter2@h'], { token: 'x' })))
      .toBe('invalid_config: NATS credentials: choose one of a token, credentials in the URL');
    expect(fails(() => natsConnectOptions(['nats://h'], { tlsCertFile: '/c.pem' })))
      .toBe('invalid_config: NATS TLS: a client certificate needs its key (NATS_CERT and NATS_KEY together)');
    expect(fails(() => natsConnectOptions(['nats://h'], { password: 'hunter2' })))
      .toBe('invalid_config: NATS credentials: a password needs NATS_USER');
    const shared = secret('shared.nk', 'SUAAAA', 0o644);
    expect(fails(() => natsConnectOptions(['nats://h'], { nkeyFile: shared })))
      .toBe(`invalid_key_file: ${shared}: the key file is readable by group or others (mode 0644); run chmod 600 ${shared}`);
    for (const m of [fails(() => natsConnectOptions(['nats://h'], { nkeyFile: nk, token: 'hunter2' }))]) {
      expect(m).not.toContain('hunter2');
    }
  });

  it('Given the environment, Then settings are read from it; a password file is read, a value and its file together are refused', () => {
    const pw = secret('pw', 'pa55\n');
    const v = natsAuthEnv({ NATS_USER: 'svc', NATS_PASSWORD_FILE: pw, NATS_CA: '/ca.pem', NATS_TLS_FIRST: '1', NATS_TOKEN: '' });
    expect(natsAuthOf(v)).toEqual({ user: 'svc', password: 'pa55', tlsCaFile: '/ca.pem', tlsFirst: true });
    expect(fails(() => natsAuthOf(natsAuthEnv({ NATS_TOKEN: 't', NATS_TOKEN_FILE: pw }))))
      .toBe('invalid_config: NATS token: give the value or its file, not both');
    const empty = secret('empty', '\n');
    expect(fails(() => natsAuthOf({ tokenFile: empty }))).toBe(`invalid_config: NATS token file ${empty} is empty`);
  });

  it('Given docs/security.md, Then its settings table lists exactly these flags and variables', () => {
    const doc = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `(NATS_[A-Z_]+)` \| (`--[a-z-]+[^`]*`|—) \|/gm)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual(NATS_AUTH_SETTINGS.map((s) => [s.env, s.flag === null ? '—' : `\`${s.flag}\``]));
  });
});
