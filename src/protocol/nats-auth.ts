/**
 * How every SWOOSH process authenticates to NATS and secures the connection: one settings
 * surface (flags and environment variables, docs/security.md "Connecting to NATS") shared by
 * the instance, the feeders, the CLI and the SDK.
 *
 * - Credentials: a creds file (user JWT + nkey seed, NATS decentralized auth), an nkey seed
 *   file, a user and password, or a token. Secrets come from files or the environment, never
 *   from flags (a flag shows in `ps`). A user and password (or token) written in the URL are
 *   taken out of it: nats.js v3 ignores them there, and a URL is logged, so it must not hold
 *   them.
 * - TLS: a `tls://` URL, a CA file or a client certificate makes TLS required: the connection
 *   fails rather than fall back to plain text when the server does not offer TLS.
 * - Secret files (creds, nkey seed, password, token, client key) must be readable by their
 *   owner only, like the writer key.
 */
import {
  credsAuthenticator,
  nkeyAuthenticator,
  type ConnectionOptions,
} from '@nats-io/nats-core';
import { SwooshError } from './errors.js';
import { readSecretFile, refuseShared } from './files.js';
import { isAgeFile } from './age-secrets.js';

/** How to authenticate and secure a NATS connection (all optional: anonymous, plain). */
export interface NatsAuth {
  /** A `.creds` file: the user JWT and its nkey seed. */
  readonly credsFile?: string;
  /** A file holding an nkey user seed (`SU…`). */
  readonly nkeyFile?: string;
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /** CA certificate(s) to verify the server with (PEM). Makes TLS required. */
  readonly tlsCaFile?: string;
  /** Client certificate and key (PEM) for servers that verify clients. Makes TLS required. */
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  /** TLS before the NATS handshake (servers configured with `handshake_first`). */
  readonly tlsFirst?: boolean;
}

/** One setting: its flag, its environment variable and what it holds. */
export interface NatsAuthSetting {
  readonly key: keyof NatsAuth | 'passwordFile' | 'tokenFile';
  readonly flag: string | null;
  readonly env: string;
  readonly doc: string;
}

/**
 * The settings, in the order docs/security.md lists them (a test keeps the two in step). The
 * password and the token have no flag: from a file, or from the environment.
 */
export const NATS_AUTH_SETTINGS: readonly NatsAuthSetting[] = [
  { key: 'credsFile', flag: '--nats-creds <file>', env: 'NATS_CREDS',
    doc: 'creds file (user JWT and nkey seed), mode 0600' },
  { key: 'nkeyFile', flag: '--nats-nkey <file>', env: 'NATS_NKEY',
    doc: 'file holding an nkey user seed, mode 0600' },
  { key: 'user', flag: '--nats-user <name>', env: 'NATS_USER', doc: 'user name' },
  { key: 'passwordFile', flag: '--nats-password-file <file>', env: 'NATS_PASSWORD_FILE',
    doc: 'file holding the password, mode 0600' },
  { key: 'password', flag: null, env: 'NATS_PASSWORD', doc: 'the password itself' },
  { key: 'tokenFile', flag: '--nats-token-file <file>', env: 'NATS_TOKEN_FILE',
    doc: 'file holding a token, mode 0600' },
  { key: 'token', flag: null, env: 'NATS_TOKEN', doc: 'the token itself' },
  { key: 'tlsCaFile', flag: '--nats-ca <file>', env: 'NATS_CA',
    doc: 'CA certificate (PEM) to verify the server; TLS becomes required' },
  { key: 'tlsCertFile', flag: '--nats-cert <file>', env: 'NATS_CERT',
    doc: 'client certificate (PEM); TLS becomes required' },
  { key: 'tlsKeyFile', flag: '--nats-key <file>', env: 'NATS_KEY',
    doc: 'client certificate key (PEM), mode 0600' },
  { key: 'tlsFirst', flag: '--nats-tls-first', env: 'NATS_TLS_FIRST',
    doc: 'TLS handshake before the NATS protocol (server `handshake_first`)' },
];

/** Raw values by setting key (flags already merged over the environment). */
export type NatsAuthValues = Partial<Record<NatsAuthSetting['key'], string | boolean>>;

/** The raw values from the environment (empty values count as absent). */
export function natsAuthEnv(env: NodeJS.ProcessEnv = process.env): NatsAuthValues {
  const out: Record<string, string | boolean> = {};
  for (const s of NATS_AUTH_SETTINGS) {
    const v = env[s.env];
    if (v === undefined || v === '') continue;
    out[s.key] = s.key === 'tlsFirst' ? v === '1' || v === 'true' : v;
  }
  return out;
}

/** The files among raw values (to unlock the age-encrypted ones at start). */
export function natsAuthFiles(v: NatsAuthValues): string[] {
  return (['credsFile', 'nkeyFile', 'passwordFile', 'tokenFile', 'tlsKeyFile'] as const)
    .map((k) => v[k])
    .filter((x): x is string => typeof x === 'string' && x !== '');
}

/** The settings from raw values: files named for password and token are read here. */
export function natsAuthOf(v: NatsAuthValues): NatsAuth {
  const str = (k: NatsAuthSetting['key']): string | undefined => {
    const x = v[k];
    return typeof x === 'string' && x !== '' ? x : undefined;
  };
  const pick = (value: string | undefined, file: string | undefined, what: string):
    string | undefined => {
    if (value !== undefined && file !== undefined) {
      throw new SwooshError('invalid_config', `${what}: give the value or its file, not both`);
    }
    return file !== undefined ? readSecretFile(file, `${what} file`) : value;
  };
  const password = pick(str('password'), str('passwordFile'), 'NATS password');
  const token = pick(str('token'), str('tokenFile'), 'NATS token');
  const out: Record<string, string | boolean> = {};
  for (const k of ['credsFile', 'nkeyFile', 'user', 'tlsCaFile', 'tlsCertFile',
    'tlsKeyFile'] as const) {
    const x = str(k);
    if (x !== undefined) out[k] = x;
  }
  if (password !== undefined) out['password'] = password;
  if (token !== undefined) out['token'] = token;
  if (v.tlsFirst === true) out['tlsFirst'] = true;
  return out;
}

/**
 * One server URL split at its scheme and at the *last* `@` (a password may hold `/` or `@`
 * unencoded): the userinfo, if any, and the rest.
 */
function parts(url: string): { scheme: string; info: string | undefined; rest: string } {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)?(.*)$/i.exec(url.trim());
  const scheme = m?.[1] ?? '';
  const body = m?.[2] ?? '';
  const at = body.lastIndexOf('@');
  return at < 0
    ? { scheme, info: undefined, rest: body }
    : { scheme, info: body.slice(0, at), rest: body.slice(at + 1) };
}

/**
 * A URL, or a comma-separated list of them, with every user, password or token replaced, for
 * logs and messages.
 */
export function redactNatsUrl(url: string): string {
  return url.split(',').map((u) => {
    const p = parts(u);
    return p.info === undefined ? u : `${p.scheme}***@${p.rest}`;
  }).join(',');
}

/** `tls://` names TLS; userinfo is split off. */
function splitUrl(url: string): { server: string; user?: string; pass?: string; tls: boolean } {
  const p = parts(url);
  const scheme = p.scheme;
  const info = p.info;
  const server = `${scheme}${p.rest}`;
  const tls = scheme.toLowerCase() === 'tls://';
  if (info === undefined || info === '') return { server, tls };
  const at = info.indexOf(':');
  const dec = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch (err) {
      void err; // not percent-encoded: taken as written
      return s;
    }
  };
  return at < 0
    ? { server, user: dec(info), tls }
    : { server, user: dec(info.slice(0, at)), pass: dec(info.slice(at + 1)), tls };
}

/** What `connect()` needs beyond name and reconnect policy. */
export type NatsConnectParts = Pick<
  ConnectionOptions, 'servers' | 'authenticator' | 'user' | 'pass' | 'token' | 'tls'
>;

/**
 * Connection options for `urls` under `auth`. Throws invalid_config (never echoing a secret)
 * when the settings contradict each other: two kinds of credentials, a client certificate
 * without its key, credentials both in the URL and in the settings.
 */
export function natsConnectOptions(urls: readonly string[], auth: NatsAuth = {}): NatsConnectParts {
  const parts = urls.map(splitUrl);
  const inUrl = parts.find((p) => p.user !== undefined);
  const kinds = [
    auth.credsFile !== undefined ? 'a creds file' : null,
    auth.nkeyFile !== undefined ? 'an nkey seed' : null,
    auth.user !== undefined || auth.password !== undefined ? 'a user and password' : null,
    auth.token !== undefined ? 'a token' : null,
    inUrl !== undefined ? 'credentials in the URL' : null,
  ].filter((k): k is string => k !== null);
  if (kinds.length > 1) {
    throw new SwooshError('invalid_config', `NATS credentials: choose one of ${kinds.join(', ')}`);
  }
  if ((auth.tlsCertFile === undefined) !== (auth.tlsKeyFile === undefined)) {
    throw new SwooshError('invalid_config',
      'NATS TLS: a client certificate needs its key (NATS_CERT and NATS_KEY together)');
  }
  const out: { -readonly [K in keyof NatsConnectParts]: NatsConnectParts[K] } = {
    servers: parts.map((p) => p.server),
  };
  if (auth.credsFile !== undefined) {
    out.authenticator = credsAuthenticator(new TextEncoder().encode(
      readSecretFile(auth.credsFile, 'NATS creds file')));
  } else if (auth.nkeyFile !== undefined) {
    out.authenticator = nkeyAuthenticator(new TextEncoder().encode(
      readSecretFile(auth.nkeyFile, 'NATS nkey seed file')));
  } else if (auth.token !== undefined) {
    out.token = auth.token;
  } else if (auth.user !== undefined || auth.password !== undefined) {
    if (auth.user === undefined) {
      throw new SwooshError('invalid_config', 'NATS credentials: a password needs NATS_USER');
    }
    out.user = auth.user;
    if (auth.password !== undefined) out.pass = auth.password;
  } else if (inUrl?.user !== undefined) {
    // nats://user:pass@host, or nats://token@host.
    if (inUrl.pass === undefined) out.token = inUrl.user;
    else {
      out.user = inUrl.user;
      out.pass = inUrl.pass;
    }
  }
  const tlsWanted = parts.some((p) => p.tls) || auth.tlsCaFile !== undefined ||
    auth.tlsCertFile !== undefined || auth.tlsFirst === true;
  if (tlsWanted) {
    const ageKey = auth.tlsKeyFile !== undefined && isAgeFile(auth.tlsKeyFile);
    if (auth.tlsKeyFile !== undefined && !ageKey) refuseShared(auth.tlsKeyFile);
    // An object (even empty) makes nats.js refuse a server that offers no TLS.
    out.tls = {
      ...(auth.tlsCaFile !== undefined ? { caFile: auth.tlsCaFile } : {}),
      ...(auth.tlsCertFile !== undefined ? { certFile: auth.tlsCertFile } : {}),
      ...(auth.tlsKeyFile !== undefined
        ? ageKey ? { key: readSecretFile(auth.tlsKeyFile, 'NATS TLS key') }
          : { keyFile: auth.tlsKeyFile }
        : {}),
      ...(auth.tlsFirst === true ? { handshakeFirst: true } : {}),
    };
  }
  return out;
}
