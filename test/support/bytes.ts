/**
 * Byte helpers the Ed25519 tests share: little-endian 32-byte scalars, concatenation, and the
 * group order L, written once so every test builds its vectors the same way.
 */

/** L = 2^252 + 27742317777372353535851937790883648493, the prime subgroup order. */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** The 32 little-endian bytes of `n` (taken mod 2^256). */
export function le32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let x = n;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** The parts one after the other. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
