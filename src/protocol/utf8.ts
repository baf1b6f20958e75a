/**
 * SWOOSH's own UTF-8 validity rule (RFC 3629, as the WHATWG fatal decoder applies it): no
 * overlong forms, no surrogates (U+D800–U+DFFF), nothing above U+10FFFF, no truncated
 * sequences. Bodies are checked here first so that a rejection names the first bad byte in
 * SWOOSH's words; TextDecoder is used only on bytes this accepts, and its error text (which
 * differs between runtimes) never reaches a record. A property test pins the verdict to
 * TextDecoder's on random bytes.
 */

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // overlong
      if (b === 0xed) hi = 0x9f; // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // overlong
      if (b === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i + k;
      const min = k === 1 ? lo : 0x80;
      const max = k === 1 ? hi : 0xbf;
      if (c < min || c > max) return i + k;
    }
    i += need + 1;
  }
  return -1;
}
