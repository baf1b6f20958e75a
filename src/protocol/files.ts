/**
 * Reading a genesis file (JSON or YAML) and a key file. The core validates the genesis
 * document; this adds what only the shell can check: every identity's public key is a
 * canonical, non-small-order Ed25519 point (docs/signatures.md), so no identity that could
 * never verify — or could verify forgeries — is ever registered.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Core, Genesis } from '../core/index.js';
import { hexToBytes, keyPairFromSeed, parseSigner } from '../crypto/keys.js';
import { SwooshError } from './errors.js';
import { isAgeFile, unlockedContent } from './age-secrets.js';
import { refuseShared } from './secret-mode.js';

export { refuseShared } from './secret-mode.js';

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
    text = isAgeFile(path)
      ? new TextDecoder().decode(unlockedContent(path))
      : readFileSync(path, 'utf8');
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
 * A secret from a file (a password, a token, a seed): owner-only (refuseShared), trimmed,
 * non-empty. `what` names it in errors (invalid_config), which never include its content.
 */
export function readSecretFile(path: string, what: string): string {
  if (isAgeFile(path)) {
    const t = new TextDecoder().decode(unlockedContent(path)).trim();
    if (t === '') throw new SwooshError('invalid_config', `${what} ${path} is empty`);
    return t;
  }
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
  const age = isAgeFile(path);
  if (!age) refuseShared(path); // an age file's bytes are not the secret
  let o: { signer?: unknown; secret_key?: unknown };
  try {
    const text = age ? new TextDecoder().decode(unlockedContent(path)) : readFileSync(path, 'utf8');
    o = JSON.parse(text) as typeof o;
  } catch (err) {
    if (err instanceof SwooshError) throw err;
    // Never the parser's message: it quotes the start of the file, which is the secret.
    const why = err instanceof SyntaxError
      ? 'not JSON; expected {"signer": "hmmm:pubkey:…", "secret_key": "<64 hex>"}'
      : `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new SwooshError('invalid_key_file', `${path}: ${why}`, { cause: err });
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
