/**
 * Unit tests of SWOOSH's own share of the Ed25519 rule (src/crypto/rule.ts): the byte-level
 * prechecks that make every runtime (OpenSSL 3.0 or 3.5, or noble) decide alike. Each helper is
 * checked against an independent reference: BigInt arithmetic for S < L and y < p, and noble's
 * point decoding and isSmallOrder for the small-order list. Inputs are biased towards the
 * boundaries (S near L, y near p, the 14 small-order encodings and their neighbours).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes, parseSigner } from '../../src/crypto/keys.js';
import {
  acceptableSignature,
  isCanonicalPointEncoding,
  isCanonicalScalar,
  isSmallOrderEncoding,
} from '../../src/crypto/rule.js';
import { L, le32 } from '../support/bytes.js';

const Point = ed25519.Point;
const P = 2n ** 255n - 19n;
const T8 = Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');

/** The 8 canonical small-order encodings ([i]T8), computed here with noble. */
const SMALL_CANONICAL = Array.from({ length: 8 }, (_, i) => T8.multiplyUnsafe(BigInt(i)).toBytes());
/** The 6 non-canonical encodings of small-order points. */
const SMALL_NONCANONICAL = [
  `01${'00'.repeat(30)}80`,
  `ec${'ff'.repeat(31)}`,
  `ed${'ff'.repeat(30)}7f`,
  `ed${'ff'.repeat(31)}`,
  `ee${'ff'.repeat(30)}7f`,
  `ee${'ff'.repeat(31)}`,
].map(hexToBytes);
const SMALL_ALL = [...SMALL_CANONICAL, ...SMALL_NONCANONICAL];

/** Reference: y < p, and not the sign bit on y = ±1 (x = 0). */
function refCanonical(bytes: Uint8Array): boolean {
  const n = bytesToNumberLE(bytes);
  const y = n & (2n ** 255n - 1n);
  const sign = n >> 255n;
  if (y >= P) return false;
  return !(sign === 1n && (y === 1n || y === P - 1n));
}

/** noble's view: the point the bytes decode to (ZIP-215, lenient), or null. */
function lenientPoint(bytes: Uint8Array): ReturnType<typeof Point.fromBytes> | null {
  try {
    return Point.fromBytes(bytes, true);
  } catch (err) {
    void err; // no point at all
    return null;
  }
}

/** noble's strict (RFC 8032) decoding succeeds and re-encodes to the same bytes. */
function strictRoundTrip(bytes: Uint8Array): boolean {
  try {
    return bytesToHex(Point.fromBytes(bytes, false).toBytes()) === bytesToHex(bytes);
  } catch (err) {
    void err; // refused by strict decoding
    return false;
  }
}

/** 32 bytes with one byte replaced: neighbours of the interesting constants. */
function mutated(base: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const at = fc.integer({ min: 0, max: 31 });
  return fc.tuple(fc.constantFrom(...base), at, fc.integer({ min: 0, max: 255 }))
    .map(([b, i, v]) => {
      const out = Uint8Array.from(b);
      out[i] = v;
      return out;
    });
}

/** y in [2^255 − 256, 2^255), either sign bit: around p. */
const nearP = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([lo, sign]) => {
  const out = new Uint8Array(32).fill(0xff);
  out[0] = lo;
  out[31] = sign ? 0xff : 0x7f;
  return out;
});

/** Encodings of large-order points (honest keys and R values). */
const largePoint = fc.bigInt({ min: 1n, max: L - 1n })
  .map((k) => Point.BASE.multiplyUnsafe(k).toBytes());

const point32 = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  nearP,
  fc.constantFrom(...SMALL_ALL),
  mutated(SMALL_ALL),
  largePoint,
  fc.bigInt({ min: 0n, max: 40n }).map((y) => le32(y)), // small y, incl. 0 and 1
);

const scalar32 = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  fc.bigInt({ min: -300n, max: 300n }).map((d) => le32(L + d)),
  fc.bigInt({ min: 0n, max: L - 1n }).map(le32),
  mutated([le32(L), le32(L - 1n)]),
);

describe('isCanonicalScalar (S < L)', () => {
  it('agrees with BigInt on random and near-L scalars', () => {
    fc.assert(fc.property(scalar32, (s) => {
      expect(isCanonicalScalar(s)).toBe(bytesToNumberLE(s) < L);
    }), { numRuns: 2000 });
  });

  it('L − 1 and 0 pass; L, L + 1 and 2^256 − 1 do not; other lengths are refused', () => {
    expect(isCanonicalScalar(le32(0n))).toBe(true);
    expect(isCanonicalScalar(le32(L - 1n))).toBe(true);
    expect(isCanonicalScalar(le32(L))).toBe(false);
    expect(isCanonicalScalar(le32(L + 1n))).toBe(false);
    expect(isCanonicalScalar(new Uint8Array(32).fill(0xff))).toBe(false);
    expect(isCanonicalScalar(new Uint8Array(31))).toBe(false);
    expect(isCanonicalScalar(new Uint8Array(33))).toBe(false);
  });
});

describe('isCanonicalPointEncoding', () => {
  it('agrees with the BigInt reference (y < p, no sign bit on x = 0)', () => {
    fc.assert(fc.property(point32, (b) => {
      expect(isCanonicalPointEncoding(b), bytesToHex(b)).toBe(refCanonical(b));
    }), { numRuns: 3000 });
  });

  it('on bytes that are a point: canonical iff noble strict decodes and re-encodes them', () => {
    fc.assert(fc.property(point32, (b) => {
      if (lenientPoint(b) === null) return;
      expect(isCanonicalPointEncoding(b), bytesToHex(b)).toBe(strictRoundTrip(b));
    }), { numRuns: 1000 });
  });

  it('the boundaries: y = p − 1 canonical, y = p not; the two x = 0 sign encodings not', () => {
    expect(isCanonicalPointEncoding(le32(P - 1n))).toBe(true);
    expect(isCanonicalPointEncoding(le32(P))).toBe(false);
    expect(isCanonicalPointEncoding(le32(2n ** 255n - 1n))).toBe(false);
    expect(isCanonicalPointEncoding(hexToBytes(`01${'00'.repeat(31)}`))).toBe(true);
    expect(isCanonicalPointEncoding(hexToBytes(`01${'00'.repeat(30)}80`))).toBe(false);
    expect(isCanonicalPointEncoding(hexToBytes(`ec${'ff'.repeat(31)}`))).toBe(false);
    expect(isCanonicalPointEncoding(hexToBytes(`02${'00'.repeat(30)}80`))).toBe(true);
    expect(isCanonicalPointEncoding(hexToBytes(`eb${'ff'.repeat(31)}`))).toBe(true);
    expect(isCanonicalPointEncoding(new Uint8Array(31))).toBe(false);
  });
});

describe('isSmallOrderEncoding', () => {
  it('is true for exactly the 14 encodings (8 canonical, 6 not)', () => {
    expect(new Set(SMALL_ALL.map(bytesToHex)).size).toBe(14);
    for (const b of SMALL_ALL) {
      expect(isSmallOrderEncoding(b), bytesToHex(b)).toBe(true);
      expect(lenientPoint(b)?.isSmallOrder(), bytesToHex(b)).toBe(true);
    }
    for (const b of SMALL_CANONICAL) expect(isCanonicalPointEncoding(b)).toBe(true);
    for (const b of SMALL_NONCANONICAL) expect(isCanonicalPointEncoding(b)).toBe(false);
    expect(isSmallOrderEncoding(new Uint8Array(31))).toBe(false);
  });

  it('on bytes that are a point: agrees with noble isSmallOrder', () => {
    fc.assert(fc.property(point32, (b) => {
      const p = lenientPoint(b);
      if (p === null) expect(isSmallOrderEncoding(b)).toBe(false);
      else expect(isSmallOrderEncoding(b), bytesToHex(b)).toBe(p.isSmallOrder());
    }), { numRuns: 1000 });
  });

  it('parseSigner refuses every one of them, before any decoding', () => {
    for (const b of SMALL_ALL) expect(parseSigner(`hmmm:pubkey:${bytesToHex(b)}`)).toBeNull();
  });
});

describe('acceptableSignature', () => {
  it('is S < L, R canonical and R not small-order, on the 64 bytes of the hex', () => {
    fc.assert(fc.property(point32, scalar32, (rb, sb) => {
      const hex = bytesToHex(rb) + bytesToHex(sb);
      const want = bytesToNumberLE(sb) < L && refCanonical(rb)
        && lenientPoint(rb)?.isSmallOrder() !== true;
      const got = acceptableSignature(hex);
      expect(got !== null, hex).toBe(want);
      if (got !== null) expect(bytesToHex(got)).toBe(hex);
    }), { numRuns: 2000 });
  });

  it('takes exactly 128 lowercase hex chars', () => {
    const good = bytesToHex(Point.BASE.multiply(7n).toBytes()) + 'ab'.repeat(16) + '00'.repeat(16);
    expect(good).not.toBe(good.toUpperCase());
    expect(acceptableSignature(good)).toEqual(hexToBytes(good));
    expect(acceptableSignature(good.toUpperCase())).toBeNull();
    expect(acceptableSignature(good.slice(2))).toBeNull();
    expect(acceptableSignature(`${good}00`)).toBeNull();
    expect(acceptableSignature('')).toBeNull();
    for (const v of [null, undefined, 12, {}, [good], hexToBytes(good)]) {
      expect(acceptableSignature(v)).toBeNull();
    }
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 127 }),
      fc.constantFrom('g', 'G', 'A', 'F', ' ', '-', 'x', '/', ':', '`', '@', '\u0660', '\n'),
      (i, c) => {
        expect(acceptableSignature(good.slice(0, i) + c + good.slice(i + 1))).toBeNull();
      },
    ), { numRuns: 300 });
  });
});
