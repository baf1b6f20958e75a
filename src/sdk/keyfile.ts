/**
 * Key files (node only): `{ "signer": "hmmm:pubkey:<hex>", "secret_key": "<hex of the 32-byte
 * seed>" }`, the format the runtime and the CLI read (src/protocol/files.ts parses it;
 * this module reuses that parser so there is one definition of the format).
 */
import { writeFileSync } from 'node:fs';
import { loadKeyFile } from '../protocol/files.js';
import { identityFromSeed, secretHexOf, type Identity } from './identity.js';

/** Options of {@link saveIdentity}. */
export interface SaveIdentityOptions {
  /** Replace an existing file. Default false: an existing key is never overwritten by accident. */
  readonly overwrite?: boolean;
}

/**
 * Read a key file. Throws SwooshError `invalid_key_file` when it is unreadable, not JSON, its
 * `secret_key` is not 64 lowercase hex characters, or its `signer` does not match the key.
 */
export function loadIdentity(path: string): Identity {
  return identityFromSeed(loadKeyFile(path).seed);
}

/**
 * Write `identity` as a key file readable by its owner only (mode 0600). Refuses to replace an
 * existing file unless `opts.overwrite` (throws the `EEXIST` error from node:fs).
 */
export function saveIdentity(
  path: string,
  identity: Identity,
  opts: SaveIdentityOptions = {},
): void {
  const file = { signer: identity.signer, secret_key: secretHexOf(identity) };
  const text = `${JSON.stringify(file, null, 2)}\n`;
  writeFileSync(path, text, { mode: 0o600, flag: opts.overwrite === true ? 'w' : 'wx' });
}
