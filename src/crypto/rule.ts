/**
 * SWOOSH's own share of the one Ed25519 verification rule (docs/signatures.md §3), in plain byte
 * logic. Why this module exists: node:crypto's verdict depends on the OpenSSL line it was built
 * with (OpenSSL 3.5 refuses a small-order public key A or R that OpenSSL 3.0 accepts), and
 * @noble/curves differs from both on other edge cases. Replicas on different Node majors must
 * still decide alike, so every part of the rule on which the libraries could differ is checked
 * here, BEFORE any library is asked:
 *
 * - S < L (canonical scalar);
 * - A and R canonically encoded: y < p = 2^255 − 19, and not the sign bit set on a point whose
 *   x is 0 (the encodings `0100…0080` and `ecff…ffff`);
 * - neither A nor R one of the 8 small-order points.
 *
 * Only then does a library check RFC 8032's cofactorless equation, on which they agree.
 * No node:* imports and no dependencies, so the SDK, the server and the writer's crypto pool
 * share it. Everything here is a few byte comparisons: it runs for every signature on the
 * writer's hot path.
 */

/** Bytes in an encoded point or scalar, and in each half of a signature. */
const HALF = 32;
/** Bytes in a signature (R ‖ S). */
const SIGNATURE_BYTES = 64;

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const ORDER_LE = Uint8Array.of(
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
);

/** Bytes of an even-length hex literal (module constants only). */
function constant(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Every encoding of a point of order 1, 2, 4 or 8: the 8 canonical ones ([i]T8 for i = 0…7,
 * in that order), then the 6 non-canonical ones that decode to them when y ≥ p is reduced or a
 * sign bit on x = 0 is ignored. After {@link isCanonicalPointEncoding} only the first 8 can
 * match; the rest are listed so that {@link isSmallOrderEncoding} is right on its own.
 */
const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = [
  `01${'00'.repeat(31)}`, // identity (order 1)
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  `${'00'.repeat(31)}80`, // order 4
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  `ec${'ff'.repeat(30)}7f`, // (0, −1), order 2
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  '00'.repeat(32), // order 4
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
  `01${'00'.repeat(30)}80`, // identity, sign bit set on x = 0
  `ec${'ff'.repeat(31)}`, // (0, −1), sign bit set on x = 0
  `ed${'ff'.repeat(30)}7f`, // y = p ≡ 0, order 4
  `ed${'ff'.repeat(31)}`, // y = p, sign bit set
  `ee${'ff'.repeat(30)}7f`, // y = p + 1 ≡ 1: the identity
  `ee${'ff'.repeat(31)}`, // y = p + 1, sign bit set
].map(constant);

/** The 32 bytes at `at` in `bytes` equal `want`. Public data: early exit is fine. */
function equalsAt(bytes: Uint8Array, at: number, want: Uint8Array): boolean {
  for (let i = 0; i < HALF; i++) if (bytes[at + i] !== want[i]) return false;
  return true;
}

/** The little-endian scalar at `at` is below L (compared from the most significant byte). */
function scalarBelowOrderAt(bytes: Uint8Array, at: number): boolean {
  for (let i = HALF - 1; i >= 0; i--) {
    const s = bytes[at + i] ?? 0;
    const l = ORDER_LE[i] ?? 0;
    if (s !== l) return s < l;
  }
  return false; // S = L exactly
}

/**
 * The point encoding at `at` is canonical: its y (the low 255 bits) is below p = 2^255 − 19, and
 * it is not y = ±1 (the two points whose x is 0) with the sign bit set.
 */
function canonicalPointAt(bytes: Uint8Array, at: number): boolean {
  const top = bytes[at + HALF - 1] ?? 0;
  const low = bytes[at] ?? 0;
  if ((top & 0x7f) === 0x7f) {
    // y ≥ 2^255 − 256; y ≥ p exactly when bytes 1…30 are all 0xff and byte 0 ≥ 0xed.
    let allOnes = true;
    for (let i = 1; i < HALF - 1; i++) {
      if (bytes[at + i] !== 0xff) {
        allOnes = false;
        break;
      }
    }
    if (allOnes && low >= 0xed) return false;
    // y = p − 1 (x = 0) with the sign bit set: `ecff…ffff`.
    if (allOnes && low === 0xec && top === 0xff) return false;
    return true;
  }
  if (top === 0x80 && low === 0x01) {
    // y = 1 (x = 0) with the sign bit set: `0100…0080`.
    for (let i = 1; i < HALF - 1; i++) if (bytes[at + i] !== 0) return true;
    return false;
  }
  return true;
}

/** The point encoding at `at` is one of the small-order encodings. */
function smallOrderAt(bytes: Uint8Array, at: number): boolean {
  for (const enc of SMALL_ORDER_ENCODINGS) if (equalsAt(bytes, at, enc)) return true;
  return false;
}

/**
 * True when the 32 bytes are a canonical Ed25519 point encoding: y < p = 2^255 − 19 and not
 * the sign bit set on a point whose x is 0 (`0100…0080`, `ecff…ffff`). Says nothing about
 * whether the bytes decode to a point at all (a library's decoding decides that). False for any
 * other length.
 */
export function isCanonicalPointEncoding(bytes: Uint8Array): boolean {
  return bytes.length === HALF && canonicalPointAt(bytes, 0);
}

/**
 * True when the 32 bytes encode a point of small order (1, 2, 4 or 8): one of the 8 canonical
 * encodings of the torsion points or one of their 6 non-canonical encodings. False for any other
 * length.
 */
export function isSmallOrderEncoding(bytes: Uint8Array): boolean {
  return bytes.length === HALF && smallOrderAt(bytes, 0);
}

/** True when the 32 little-endian bytes are a canonical scalar, S < L. False for other lengths. */
export function isCanonicalScalar(bytes: Uint8Array): boolean {
  return bytes.length === HALF && scalarBelowOrderAt(bytes, 0);
}

/** Value of a lowercase hex digit's char code, or -1. */
function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/**
 * The 64 signature bytes (R ‖ S) of `signatureHex` when SWOOSH's prechecks pass, else null:
 * it must be 128 lowercase hex chars, S < L, R canonically encoded, and R not of small order.
 * A signature refused here is refused by every SWOOSH verifier whatever its library would say;
 * one that passes still needs the library's cofactorless equation.
 */
export function acceptableSignature(signatureHex: unknown): Uint8Array | null {
  if (typeof signatureHex !== 'string' || signatureHex.length !== 2 * SIGNATURE_BYTES) return null;
  const sig = new Uint8Array(SIGNATURE_BYTES);
  for (let i = 0; i < SIGNATURE_BYTES; i++) {
    const hi = nibble(signatureHex.charCodeAt(2 * i));
    const lo = nibble(signatureHex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return null;
    sig[i] = (hi << 4) | lo;
  }
  if (!scalarBelowOrderAt(sig, HALF)) return null;
  if (!canonicalPointAt(sig, 0) || smallOrderAt(sig, 0)) return null;
  return sig;
}
