/**
 * Server-side Ed25519 signing with node:crypto (several times faster than the portable noble
 * signer; Ed25519 is deterministic, so both give identical signatures — a test pins that).
 * The writer signs every decision record with it.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { signingBytes, type Domain } from './domains.js';
import { bytesToHex, keyPairFromSeed } from './keys.js';

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A signing identity. */
export interface NodeSigner {
  readonly signer: string;
  /** Hex signature over `DOMAIN\n ‖ JCS(obj without signature)`. */
  signObject(domain: Domain, obj: object): string;
  /** Raw 64-byte signature over arbitrary bytes. */
  signBytes(message: Uint8Array): Uint8Array;
}

/** Build a signer from a 32-byte Ed25519 seed. */
export function createNodeSigner(seed: Uint8Array): NodeSigner {
  if (seed.length !== 32) throw new RangeError('createNodeSigner: seed must be 32 bytes');
  const key: KeyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const { signer } = keyPairFromSeed(seed);
  const signBytes = (message: Uint8Array): Uint8Array => new Uint8Array(sign(null, message, key));
  return {
    signer,
    signBytes,
    signObject: (domain, obj) => {
      const { signature: _drop, ...rest } = obj as Record<string, unknown>;
      return bytesToHex(signBytes(signingBytes(domain, rest)));
    },
  };
}
