/**
 * Producer identities: an Ed25519 key pair whose signer id is `hmmm:pubkey:<hex>`
 * (ARCHITECTURE §2). Portable: @noble/curves only, no node:* imports. Reading and writing key
 * files is node-only and lives in keyfile.ts.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, generateKeyPair, hexToBytes, keyPairFromSeed } from '../crypto/keys.js';
import type { BytesSigner } from '../protocol/publish.js';

/**
 * A signing identity: the signer id, the 32-byte Ed25519 seed (secret key) and the public key.
 * Treat `secretKey` like a password: never log it (the runtime's logger redacts `secretKey`).
 */
export interface Identity {
  readonly signer: string;
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** Number of hex characters of a 32-byte seed. */
const SEED_HEX_LENGTH = 64;
const SEED_HEX_RE = /^[0-9a-fA-F]{64}$/;

/** A fresh identity from the platform CSPRNG (`crypto.getRandomValues`, via noble). */
export function generateIdentity(): Identity {
  return generateKeyPair();
}

/**
 * The identity of a 32-byte seed given as 64 hex characters (either case). Throws TypeError
 * on anything else, without echoing the input (it is a secret).
 */
export function identityFromSecretHex(hex: string): Identity {
  if (typeof hex !== 'string' || !SEED_HEX_RE.test(hex)) {
    throw new TypeError(
      `identityFromSecretHex: expected ${SEED_HEX_LENGTH} hex characters (a 32-byte seed)`,
    );
  }
  return keyPairFromSeed(hexToBytes(hex.toLowerCase()));
}

/** The identity of a 32-byte seed. Throws TypeError on a wrong length. */
export function identityFromSeed(seed: Uint8Array): Identity {
  return keyPairFromSeed(seed);
}

/** The seed of `identity` as 64 lowercase hex characters (the key file's `secret_key`). */
export function secretHexOf(identity: Identity): string {
  return bytesToHex(identity.secretKey);
}

/**
 * `identity` as the shell's byte signer (raw Ed25519 over the given bytes), for code that
 * builds NATS envelopes itself. Noble signatures are byte-identical to node:crypto's.
 */
export function bytesSignerOf(identity: Identity): BytesSigner {
  const secretKey = identity.secretKey;
  return {
    signer: identity.signer,
    signBytes: (message: Uint8Array): Uint8Array => ed25519.sign(message, secretKey),
  };
}
