/**
 * The portable side of the one verification rule (docs/signatures.md): the SignatureVerifier
 * interface, the @noble/curves verifier the SDK uses, and object verification. No node:*
 * imports, so the SDK can run where node:crypto does not. The server's node:crypto verifier is
 * in verify.ts; a test pins that the two agree on every edge-case vector.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { type Domain, signingBytes, stripSignature } from './domains.js';
import { bytesEqual, hexToBytes, parseSigner } from './keys.js';

/** Verifies an Ed25519 signature by a signer id over message bytes. Never throws. */
export interface SignatureVerifier {
  /**
   * True only when `signer` is an acceptable `hmmm:pubkey:` id, `signatureHex` is 128
   * lowercase hex chars, and the signature is valid for `message` under the one rule.
   */
  verify(signer: string, message: Uint8Array, signatureHex: string): boolean;
}

const SIGNATURE_RE = /^[0-9a-f]{128}$/;
/** Order L of the prime-order subgroup: 2^252 + 27742317777372353535851937790883648493. */
const CURVE_ORDER = ed25519.Point.Fn.ORDER;

/** The 64 signature bytes of 128 lowercase hex chars, or null. */
export function signatureBytes(signatureHex: unknown): Uint8Array | null {
  if (typeof signatureHex !== 'string' || !SIGNATURE_RE.test(signatureHex)) return null;
  return hexToBytes(signatureHex);
}

/**
 * RFC 8032 verification exactly as OpenSSL 3 applies it: S < L, A decoded, k = SHA-512(R ‖ A
 * ‖ M) mod L, then the *cofactorless* check that encode([S]B − [k]A) equals the 32 R bytes.
 * Comparing bytes makes a non-canonical R encoding fail, as in OpenSSL.
 */
function opensslRule(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  const r = sig.subarray(0, 32);
  const s = bytesToNumberLE(sig.subarray(32, 64));
  if (s >= CURVE_ORDER) return false;
  const a = ed25519.Point.fromBytes(publicKey, false); // zip215: false (strict RFC 8032 decoding)
  const digest = sha512.create().update(r).update(publicKey).update(message).digest();
  const k = bytesToNumberLE(digest) % CURVE_ORDER;
  const check = ed25519.Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k));
  return bytesEqual(check.toBytes(), r);
}

/**
 * The portable (SDK) verifier, @noble/curves only, with strict (`zip215: false`) decoding and
 * OpenSSL's cofactorless equation. It agrees with the node verifier on every vector in the
 * edge-case test (test/unit/crypto.edge.test.ts). About 15x slower than node:crypto.
 */
export function createNobleVerifier(): SignatureVerifier {
  return {
    verify(signer: string, message: Uint8Array, signatureHex: string): boolean {
      const publicKey = parseSigner(signer);
      const sig = signatureBytes(signatureHex);
      if (publicKey === null || sig === null || !(message instanceof Uint8Array)) return false;
      try {
        return opensslRule(publicKey, message, sig);
      } catch (err) {
        void err; // noble throwing on odd input is a "no", never an exception
        return false;
      }
    },
  };
}

/**
 * Verify `obj.signature` over `obj` without its signature under `domain`, signed by `signer`
 * when given (e.g. a vote's `voter`) or else by `obj.signer`. False on anything malformed.
 */
export function verifyObject(
  verifier: SignatureVerifier,
  domain: Domain,
  obj: unknown,
  signer?: string,
): boolean {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return false;
  const record = obj as Readonly<Record<string, unknown>>;
  const signature = record['signature'];
  const who = signer ?? record['signer'];
  if (typeof signature !== 'string' || typeof who !== 'string') return false;
  let message: Uint8Array;
  try {
    message = signingBytes(domain, stripSignature(record));
  } catch (err) {
    void err; // an object JCS cannot encode (or an unknown domain) simply does not verify
    return false;
  }
  return verifier.verify(who, message, signature);
}
