/**
 * The portable side of the one verification rule (docs/signatures.md): the SignatureVerifier
 * interface, the @noble/curves verifier the SDK uses, and object verification. No node:*
 * imports, so the SDK can run where node:crypto does not. The server's node:crypto verifier is
 * in verify.ts; both take SWOOSH's prechecks (rule.ts, keys.ts) before their library's
 * equation, and a test pins that the two agree on every edge-case vector on every runtime.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { type Domain, signingBytes, stripSignature } from './domains.js';
import { bytesEqual, parseSigner } from './keys.js';
import { acceptableSignature } from './rule.js';

/** Verifies an Ed25519 signature by a signer id over message bytes. Never throws. */
export interface SignatureVerifier {
  /**
   * True only when `signer` is an acceptable `hmmm:pubkey:` id, `signatureHex` is 128
   * lowercase hex chars, and the signature is valid for `message` under the one rule.
   */
  verify(signer: string, message: Uint8Array, signatureHex: string): boolean;
}

/** Order L of the prime-order subgroup: 2^252 + 27742317777372353535851937790883648493. */
const CURVE_ORDER = ed25519.Point.Fn.ORDER;

/**
 * The library step of the rule, after SWOOSH's prechecks: RFC 8032's *cofactorless* equation,
 * as OpenSSL checks it. S < L (again; the precheck already refused S ≥ L), A decoded strictly,
 * k = SHA-512(R ‖ A ‖ M) mod L, then encode([S]B − [k]A) must equal the 32 R bytes. Comparing
 * bytes makes a non-canonical R encoding fail, as in OpenSSL.
 */
function cofactorless(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
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
 * The portable (SDK) verifier, @noble/curves only: SWOOSH's prechecks (`acceptableSignature`,
 * `parseSigner`), then strict (`zip215: false`) decoding and the cofactorless equation. It
 * agrees with the node verifier on every vector in the edge-case test
 * (test/unit/crypto.edge.test.ts), on every OpenSSL line. About 15x slower than node:crypto.
 */
export function createNobleVerifier(): SignatureVerifier {
  return {
    verify(signer: string, message: Uint8Array, signatureHex: string): boolean {
      const sig = acceptableSignature(signatureHex);
      if (sig === null || !(message instanceof Uint8Array)) return false;
      const publicKey = parseSigner(signer);
      if (publicKey === null) return false;
      try {
        return cofactorless(publicKey, message, sig);
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
