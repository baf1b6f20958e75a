/**
 * Signing (docs/signatures.md §1). Portable: @noble/curves only, no node:* imports.
 *
 * Ed25519 signing is deterministic (RFC 8032): the same seed, domain and object always give
 * the same 64 bytes, byte-identical to node:crypto's own `crypto.sign` (a test pins that).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { type Domain, signingBytes, stripSignature } from './domains.js';
import { bytesToHex } from './keys.js';

/**
 * The 128-lowercase-hex Ed25519 signature of `obj` under `domain`, made with the 32-byte
 * `secretKey` (seed). A `signature` field already on `obj` is ignored (it is never signed).
 */
export function signObject(domain: Domain, obj: object, secretKey: Uint8Array): string {
  const message = signingBytes(domain, stripSignature(obj));
  return bytesToHex(ed25519.sign(message, secretKey));
}

/** A shallow copy of `obj` carrying its `signature` under `domain` (any old one replaced). */
export function withSignature<T extends object>(
  domain: Domain,
  obj: T,
  secretKey: Uint8Array,
): Omit<T, 'signature'> & { readonly signature: string } {
  return { ...stripSignature(obj), signature: signObject(domain, obj, secretKey) };
}
