/**
 * The portable SHA-256 (@noble/hashes) for the core's `Hasher` port, for the SDK and any
 * runtime without node:crypto. Same digests as `nodeHasher` (a test pins that).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Hasher } from '../core/index.js';

const utf8 = new TextEncoder();

/** SHA-256 via @noble/hashes: strings are hashed as UTF-8; returns 64 lowercase hex chars. */
export const nobleHasher: Hasher = {
  sha256Hex(data: string | Uint8Array): string {
    return bytesToHex(sha256(typeof data === 'string' ? utf8.encode(data) : data));
  },
};
