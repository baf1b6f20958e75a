/**
 * Ed25519 identities (docs/signatures.md §2). Portable: @noble/curves only, no node:* imports,
 * so the SDK can make keys anywhere.
 *
 * A signer is written `hmmm:pubkey:<64 lowercase hex of the 32-byte public key>`. Only
 * canonical encodings of points that are not of small order are identities: `parseSigner`
 * refuses the rest (byte checks in rule.ts first, then noble's strict decoding), and every
 * verifier goes through it, so such a key never verifies in SWOOSH even where node:crypto
 * itself would accept a signature for it, as OpenSSL 3.0 does (test/unit/crypto.edge.test.ts).
 * Code that admits identities should call it too, so such keys are never registered.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { isCanonicalPointEncoding, isSmallOrderEncoding } from './rule.js';
import { SIGNER_RE } from '../core/index.js';

/** Prefix of every signer id. */
export const SIGNER_PREFIX = 'hmmm:pubkey:';

/** Length in bytes of an Ed25519 seed (the secret key), public key and half a signature. */
export const ED25519_KEY_BYTES = 32;

/** A key pair: the signer id, the 32-byte seed (secret key) and the 32-byte public key. */
export interface KeyPair {
  readonly signer: string;
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

const HEX_RE = /^(?:[0-9a-f]{2})*$/;
const HEX_DIGITS = '0123456789abcdef';

/** Lowercase hex of `bytes`. */
export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX_DIGITS.charAt(b >> 4) + HEX_DIGITS.charAt(b & 15);
  return out;
}

/** Bytes of strict lowercase, even-length hex. Throws TypeError on anything else. */
export function hexToBytes(hex: string): Uint8Array {
  if (typeof hex !== 'string' || !HEX_RE.test(hex)) {
    throw new TypeError('hexToBytes: expected even-length lowercase hex');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Constant-shape byte equality (lengths and every byte). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** `hmmm:pubkey:<hex>` for a 32-byte public key. Throws TypeError on a wrong length. */
export function signerFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== ED25519_KEY_BYTES) {
    throw new TypeError(`signerFromPublicKey: expected ${ED25519_KEY_BYTES} bytes`);
  }
  return SIGNER_PREFIX + bytesToHex(publicKey);
}

/**
 * True when `publicKey` is the canonical encoding of a curve point that is not of small
 * order. Rejected: a y coordinate ≥ p (2^255 − 19), the sign bit set on a point whose x is 0,
 * bytes that decode to no point, and the 8 points of order 1, 2, 4 or 8. The encoding and
 * small-order checks are SWOOSH's own byte logic (rule.ts), done first so the A side of the
 * rule never depends on a library; noble's strict decoding then refuses bytes that are no
 * point. Costs one point decompression (a field square root), a few hundred microseconds.
 */
export function isAcceptablePublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== ED25519_KEY_BYTES) return false;
  if (!isCanonicalPointEncoding(publicKey) || isSmallOrderEncoding(publicKey)) return false;
  let point;
  try {
    // zip215 = false: strict RFC 8032 decoding (y < p, no x = 0 with the sign bit set).
    point = ed25519.Point.fromBytes(publicKey, false);
  } catch (err) {
    void err; // not a point, or a non-canonical encoding of one: not an identity
    return false;
  }
  // Belt and braces, after the byte checks above: the canonical re-encoding must give back
  // exactly the same bytes, and noble must agree that the point is not of small order.
  if (!bytesEqual(point.toBytes(), publicKey)) return false;
  return !point.isSmallOrder();
}

/**
 * The 32-byte public key named by a signer id, or null when `s` is not
 * `hmmm:pubkey:<64 lowercase hex>` or the key is not acceptable ({@link isAcceptablePublicKey}).
 */
export function parseSigner(s: unknown): Uint8Array | null {
  if (typeof s !== 'string' || !SIGNER_RE.test(s)) return null;
  const publicKey = hexToBytes(s.slice(SIGNER_PREFIX.length));
  return isAcceptablePublicKey(publicKey) ? publicKey : null;
}

/** The key pair of a 32-byte seed (RFC 8032 secret key). Throws TypeError on a wrong length. */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (!(seed instanceof Uint8Array) || seed.length !== ED25519_KEY_BYTES) {
    throw new TypeError(`keyPairFromSeed: expected a ${ED25519_KEY_BYTES}-byte seed`);
  }
  const secretKey = Uint8Array.from(seed); // our own copy: the caller may wipe theirs
  const publicKey = ed25519.getPublicKey(secretKey);
  return { signer: signerFromPublicKey(publicKey), secretKey, publicKey };
}

/** A fresh key pair from the platform CSPRNG (crypto.getRandomValues, via noble). */
export function generateKeyPair(): KeyPair {
  return keyPairFromSeed(ed25519.utils.randomSecretKey());
}
