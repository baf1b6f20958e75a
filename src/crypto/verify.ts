/**
 * Signature verification under SWOOSH's one rule (docs/signatures.md §3): RFC 8032
 * cofactorless verification, with SWOOSH-owned prechecks taken before any library verdict:
 * `acceptableSignature` (rule.ts: 128 lowercase hex, S < L, R canonical and not of small
 * order) and `parseSigner` (keys.ts: A canonical, a point, not of small order). Only then does
 * a library check the equation. The prechecks cover everything on which node:crypto (OpenSSL 3.0
 * vs 3.5, which refuses small-order A or R) and @noble/curves could differ, so replicas on any
 * Node major reach the same verdict, and every verdict a decision depends on comes from here.
 *
 * - `createNodeVerifier` is the server's verifier (node:crypto, cached KeyObjects).
 * - `createNobleVerifier` is the SDK's: noble's strict (zip215: false) point decoding and
 *   point arithmetic, checking the same cofactorless equation OpenSSL checks. Plain
 *   `ed25519.verify(..., { zip215: false })` is NOT used: it checks the cofactored equation
 *   and so accepts signatures with a torsion component that OpenSSL rejects.
 *
 * Note: this module imports node:crypto for the server verifier; the noble verifier itself
 * needs nothing from node.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { hexToBytes, parseSigner } from './keys.js';
import { acceptableSignature } from './rule.js';
import type { SignatureVerifier } from './verify-portable.js';

export { acceptableSignature } from './rule.js';
export { createNobleVerifier, verifyObject, type SignatureVerifier } from './verify-portable.js';

/** The node:crypto verifier, which also reports its key cache for tests and metrics. */
export interface NodeSignatureVerifier extends SignatureVerifier {
  /** Number of public KeyObjects currently cached. */
  cacheSize(): number;
  /** The cache bound this verifier was built with. */
  readonly keyCacheMax: number;
}

/** Options for {@link createNodeVerifier}. */
export interface NodeVerifierOptions {
  /** Most public KeyObjects kept; least recently used are dropped first. */
  readonly keyCacheMax?: number;
}

/**
 * Default bound on cached public KeyObjects. Building a KeyObject (DER parse, OpenSSL key
 * import, plus `parseSigner`'s point decompression) costs more than a verify, so known signers
 * must hit the cache; a registry is tens to hundreds of identities, so 10,000 leaves ample
 * room. The bound exists because the signature is checked before authorization, so anyone can
 * make us see fresh valid keys: at ~1.5 KiB each (measured RSS) the cache stays under ~15 MiB.
 */
export const DEFAULT_KEY_CACHE_MAX = 10_000;

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow. */
export const ED25519_SPKI_PREFIX = hexToBytes('302a300506032b6570032100');

/** The SPKI DER bytes node:crypto imports for a 32-byte Ed25519 public key. */
export function spkiFromPublicKey(publicKey: Uint8Array): Uint8Array {
  const der = new Uint8Array(ED25519_SPKI_PREFIX.length + publicKey.length);
  der.set(ED25519_SPKI_PREFIX, 0);
  der.set(publicKey, ED25519_SPKI_PREFIX.length);
  return der;
}

/**
 * The server verifier: SWOOSH's prechecks (`acceptableSignature`, and `parseSigner` when a key
 * is first seen), then node:crypto (OpenSSL) Ed25519 with public KeyObjects cached in a bounded,
 * least-recently-used Map keyed by signer id. Malformed or refused signer or signature → false.
 */
export function createNodeVerifier(opts: NodeVerifierOptions = {}): NodeSignatureVerifier {
  const keyCacheMax = opts.keyCacheMax ?? DEFAULT_KEY_CACHE_MAX;
  if (!Number.isSafeInteger(keyCacheMax) || keyCacheMax < 1) {
    throw new RangeError('createNodeVerifier: keyCacheMax must be a positive integer');
  }
  const cache = new Map<string, KeyObject>();

  const keyFor = (signer: string): KeyObject | null => {
    const hit = cache.get(signer);
    if (hit !== undefined) {
      cache.delete(signer); // re-insert: Map order is recency order
      cache.set(signer, hit);
      return hit;
    }
    const publicKey = parseSigner(signer);
    if (publicKey === null) return null;
    const der = Buffer.from(spkiFromPublicKey(publicKey));
    const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    if (cache.size >= keyCacheMax) {
      const oldest = cache.keys().next();
      if (oldest.done !== true) cache.delete(oldest.value);
    }
    cache.set(signer, key);
    return key;
  };

  return {
    keyCacheMax,
    cacheSize: () => cache.size,
    verify(signer: string, message: Uint8Array, signatureHex: string): boolean {
      const sig = acceptableSignature(signatureHex); // before OpenSSL sees anything
      if (sig === null || !(message instanceof Uint8Array)) return false;
      try {
        const key = keyFor(signer);
        return key !== null && nodeVerify(null, message, key, sig);
      } catch (err) {
        void err; // OpenSSL refusing the key or the input is a "no", never an exception
        return false;
      }
    },
  };
}

