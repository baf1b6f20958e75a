/**
 * Hashing port. The core never imports a crypto library: SHA-256 is a pure function of its
 * input bytes, so the shell injects an implementation (node:crypto on the server,
 * @noble/hashes in the portable SDK). Both must give identical digests; a test pins that.
 */
import { jcs } from './json.js';

/** Branded `sha256-<64 lowercase hex>` string. */
export type Sha256 = string & { readonly __brand: 'Sha256' };

/** SHA-256 over UTF-8 text or raw bytes, returning 64 lowercase hex characters. */
export interface Hasher {
  sha256Hex(data: string | Uint8Array): string;
}

const SHA256_RE = /^sha256-[0-9a-f]{64}$/;

/** True when `s` is written `sha256-<64 lowercase hex>`. */
export function isSha256(s: unknown): s is Sha256 {
  return typeof s === 'string' && SHA256_RE.test(s);
}

/** `sha256-<hex>` of UTF-8 text. */
export function hashText(hasher: Hasher, text: string): Sha256 {
  return `sha256-${hasher.sha256Hex(text)}` as Sha256;
}

/** `sha256-<hex>` of the JCS bytes of `value`. */
export function hashJcs(hasher: Hasher, value: unknown): Sha256 {
  return hashText(hasher, jcs(value));
}
