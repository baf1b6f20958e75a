/**
 * Reading a genesis file (JSON or YAML) and a key file. The core validates the genesis
 * document; this adds what only the shell can check: every identity's public key is a
 * canonical, non-small-order Ed25519 point (docs/signatures.md), so no identity that could
 * never verify — or could verify forgeries — is ever registered.
 */
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Core, Genesis } from '../core/index.js';
import { hexToBytes, keyPairFromSeed, parseSigner } from '../crypto/keys.js';
import { SwooshError } from './errors.js';

/** Parse genesis text; `source` names the file in errors. */
export function parseGenesisText(core: Core, text: string, source: string): Genesis {
  let raw: unknown;
  try {
    raw = source.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new SwooshError(
      'invalid_genesis',
      `${source}: not valid ${source.endsWith('.json') ? 'JSON' : 'YAML'}: ` +
      `${(err as Error).message}`,
      { cause: err },
    );
  }
  const g = core.parseGenesis(raw);
  if (!g.ok) {
    throw new SwooshError('invalid_genesis', `${source}: ${g.error.path}: ${g.error.message}`);
  }
  for (const signer of Object.keys(g.value.identities)) {
    if (parseSigner(signer) === null) {
      throw new SwooshError(
        'invalid_genesis',
        `${source}: genesis.identities["${signer}"]: not a usable Ed25519 public key ` +
        `(small-order or non-canonical)`,
      );
    }
  }
  return g.value;
}

/** Read and validate a genesis file. */
export function loadGenesisFile(core: Core, path: string): Genesis {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SwooshError('invalid_genesis', `${path}: cannot read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseGenesisText(core, text, path);
}

/** A key file: `{ "signer": "hmmm:pubkey:<hex>", "secret_key": "<hex of the 32-byte seed>" }`. */
export interface KeyFile {
  readonly signer: string;
  readonly seed: Uint8Array;
}

/**
 * A secret file must be readable by its owner only (like ssh's private keys): a key readable by
 * the group or by others is refused before it is read, with the command that fixes it.
 */
export function refuseShared(path: string): void {
  if (process.platform === 'win32') return; // no POSIX modes to check
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT'
      ? `no such key file; create one with swoosh keygen --out ${path}`
      : `cannot read the key file (${code ?? (err as Error).message})`;
    throw new SwooshError('invalid_key_file', `${path}: ${why}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new SwooshError(
      'invalid_key_file',
      `${path}: the key file is readable by group or others (mode ${
        (mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${path}`,
    );
  }
}

/**
 * A secret from a file (a password, a token, a seed): owner-only (refuseShared), trimmed,
 * non-empty. `what` names it in errors (invalid_config), which never include its content.
 */
export function readSecretFile(path: string, what: string): string {
  refuseShared(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new SwooshError('invalid_config', `${what} ${path}: cannot read it (${
      (err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  if (text === '') throw new SwooshError('invalid_config', `${what} ${path} is empty`);
  return text;
}

/**
 * Read a key file and check that its signer matches its seed. Refused (invalid_key_file) when
 * the group or others may read it.
 */
export function loadKeyFile(path: string): KeyFile {
  refuseShared(path);
  let o: { signer?: unknown; secret_key?: unknown };
  try {
    o = JSON.parse(readFileSync(path, 'utf8')) as typeof o;
  } catch (err) {
    throw new SwooshError(
      'invalid_key_file',
      `${path}: cannot read a JSON key file: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (typeof o.secret_key !== 'string' || !/^[0-9a-f]{64}$/.test(o.secret_key)) {
    throw new SwooshError(
      'invalid_key_file',
      `${path}: secret_key: expected 64 lowercase hex characters (a 32-byte Ed25519 seed)`,
    );
  }
  const seed = hexToBytes(o.secret_key);
  const { signer } = keyPairFromSeed(seed);
  if (o.signer !== undefined && o.signer !== signer) {
    throw new SwooshError(
      'invalid_key_file',
      `${path}: signer does not match secret_key (the key derives ${signer})`,
    );
  }
  return { signer, seed };
}
