/**
 * SWOOSH's own decoders must give the verdicts the standards give, so owning the wording did
 * not change what is accepted: the JSON scanner agrees with JSON.parse (ECMA-404 grammar), the
 * UTF-8 check with the WHATWG fatal decoder, the envelope decoder with msgpackr on every
 * envelope an encoder makes, and the policy glob with the regular expression it replaced.
 * Every run prints its seed.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { JSON_DEPTH_MAX, describeJsonProblem, scanJson } from '../../src/core/encoding/json-scan.js';
import { decodeEnvelope, encodeEnvelope, ENVELOPE_BODY_MAX_BYTES } from '../../src/protocol/envelope.js';
import { firstInvalidUtf8 } from '../../src/protocol/utf8.js';
import { globMatch } from '../../src/core/domain/policy.js';

const seed = Number(process.env['SWOOSH_PROPERTY_SEED'] ?? Date.now() % 1_000_000);
const params = { seed, numRuns: 2000 };
console.log(`decoders property seed ${seed} (set SWOOSH_PROPERTY_SEED to reproduce)`);

const jsonParses = (s: string): boolean => {
  try {
    JSON.parse(s);
    return true;
  } catch (err) {
    void err; // a refusal is the verdict being compared
    return false;
  }
};

/** Text near JSON: valid documents with one character inserted, deleted or replaced. */
const nearJson = fc.tuple(fc.json({ maxDepth: 4 }), fc.nat(), fc.constantFrom('', ',', '"', '{', '}', '[', ']', ':', '0', '-', '.', 'e', '\\', ' ', '\u0001', 'x', 't', 'n'), fc.constantFrom('insert', 'delete', 'replace'))
  .map(([doc, at, ch, op]) => {
    const i = doc.length === 0 ? 0 : at % doc.length;
    if (op === 'insert') return doc.slice(0, i) + ch + doc.slice(i);
    if (op === 'delete') return doc.slice(0, i) + doc.slice(i + 1);
    return doc.slice(0, i) + ch + doc.slice(i + 1);
  });

describe('scanJson', () => {
  it('agrees with JSON.parse on valid documents, near-JSON text and random text', () => {
    const unbounded = Number.MAX_SAFE_INTEGER;
    fc.assert(fc.property(fc.oneof(fc.json(), nearJson, fc.string(), fc.string({ unit: fc.constantFrom(...'{}[]":,0123456789-+.eEtrufalsn \\/u') })), (s) => {
      expect(scanJson(s, unbounded).ok).toBe(jsonParses(s));
    }), params);
  });

  it(`refuses nesting past ${JSON_DEPTH_MAX} levels and accepts exactly ${JSON_DEPTH_MAX}`, () => {
    const nest = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    expect(scanJson(nest(JSON_DEPTH_MAX)).ok).toBe(true);
    const deeper = scanJson(nest(JSON_DEPTH_MAX + 1));
    expect(deeper).toEqual({ ok: false, index: JSON_DEPTH_MAX, problem: `nested deeper than ${JSON_DEPTH_MAX} levels` });
    expect(scanJson(`{"a":${nest(JSON_DEPTH_MAX - 1)}}`).ok).toBe(true);
    expect(scanJson(nest(1_000_000)).ok).toBe(false); // no recursion: a million levels is no problem
  });

  it('words each problem itself, with the byte offset in UTF-8 bytes', () => {
    const cases: [string, string][] = [
      ["{'a':1}", 'invalid JSON at byte 1: expected a string key'],
      ['{"é":1,}', 'invalid JSON at byte 8: expected a string key'],
      ['{"a":01}', 'invalid JSON at byte 6: expected a comma or }'],
      ['[1 2]', 'invalid JSON at byte 3: expected a comma or ]'],
      ['', 'invalid JSON at byte 0: unexpected end of input'],
      ['"\u0007"', 'invalid JSON at byte 1: control character in a string'],
      ['"😀\\q"', 'invalid JSON at byte 5: invalid escape'],
      ['{} {}', 'invalid JSON at byte 3: unexpected text after the value'],
    ];
    for (const [text, want] of cases) {
      const r = scanJson(text);
      if (r.ok) throw new Error(`scanJson accepted ${text}`);
      expect(describeJsonProblem(text, r), text).toBe(want);
    }
  });
});

describe('firstInvalidUtf8', () => {
  const fatal = new TextDecoder('utf-8', { fatal: true });
  const decodes = (b: Uint8Array): boolean => {
    try {
      fatal.decode(b);
      return true;
    } catch (err) {
      void err; // a refusal is the verdict being compared
      return false;
    }
  };
  /** Bytes biased to the interesting range: lead bytes, continuations, boundaries. */
  const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90));

  it('agrees with the WHATWG fatal decoder on random bytes and valid strings', () => {
    fc.assert(fc.property(fc.oneof(fc.array(byte, { maxLength: 12 }).map((a) => Uint8Array.from(a)), fc.string({ unit: 'grapheme' }).map((s) => new TextEncoder().encode(s))), (b) => {
      expect(firstInvalidUtf8(b) < 0).toBe(decodes(b));
    }), params);
  });

  it('names the first bad byte', () => {
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0xff]))).toBe(1);
    expect(firstInvalidUtf8(Uint8Array.from([0xe2, 0x82]))).toBe(2); // truncated: the missing byte
    expect(firstInvalidUtf8(Uint8Array.from([0xed, 0xa0, 0x80]))).toBe(1); // a surrogate
    expect(firstInvalidUtf8(Uint8Array.from([0xc0, 0xaf]))).toBe(0); // overlong
    expect(firstInvalidUtf8(Uint8Array.from([0xf4, 0x90, 0x80, 0x80]))).toBe(1); // above U+10FFFF
  });
});

describe('decodeEnvelope', () => {
  const packr = new Packr({ useRecords: false, mapsAsObjects: true });

  it('decodes every envelope the encoder makes, as msgpackr does', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 70_000 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (body, sig) => {
      const data = encodeEnvelope(body, sig);
      const mine = decodeEnvelope(data);
      const theirs = packr.unpack(data) as { v: number; body: Uint8Array; sig: Uint8Array };
      expect(mine.ok).toBe(true);
      if (!mine.ok) return;
      expect(Buffer.from(mine.body).equals(Buffer.from(theirs.body))).toBe(true);
      expect(Buffer.from(mine.sig).equals(Buffer.from(theirs.sig))).toBe(true);
    }), { seed, numRuns: 200 });
  });

  it('never throws on random bytes, and refuses what is not an envelope with its own words', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
      const d = decodeEnvelope(data);
      if (!d.ok) expect(d.message).toMatch(/^envelope/);
    }), params);
    expect(decodeEnvelope(new Uint8Array([]))).toEqual({ ok: false, code: 'malformed_envelope', message: 'envelope: ends at byte 0 where a map was expected' });
    const good = encodeEnvelope(new Uint8Array([1]), new Uint8Array(64));
    expect(decodeEnvelope(Uint8Array.from([...good, 0]))).toMatchObject({ ok: false, message: `envelope: 1 bytes after the map at byte ${good.length}` });
    expect(decodeEnvelope(encodeEnvelope(new Uint8Array(ENVELOPE_BODY_MAX_BYTES + 1), new Uint8Array(64))))
      .toMatchObject({ ok: false, message: `envelope.body: ${ENVELOPE_BODY_MAX_BYTES + 1} bytes, more than the ${ENVELOPE_BODY_MAX_BYTES} allowed` });
    expect(decodeEnvelope(packr.pack({ v: 2, body: new Uint8Array(1), sig: new Uint8Array(64) }))).toMatchObject({ ok: false, message: 'envelope.v: expected 1' });
    expect(decodeEnvelope(packr.pack({ v: 1, body: new Uint8Array(1), sig: new Uint8Array(63) }))).toMatchObject({ ok: false, message: 'envelope.sig: expected 64 bytes' });
  });
});

describe('globMatch', () => {
  const oracle = (pattern: string, text: string): boolean => {
    const body = pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*');
    return new RegExp(`^${body}$`, 's').test(text);
  };
  const small = fc.string({ unit: fc.constantFrom('a', 'b', '*', '.', '\n', '/'), maxLength: 8 });

  it('agrees with the anchored regular expression it replaced', () => {
    fc.assert(fc.property(small, small, (p, t) => {
      expect(globMatch(p, t)).toBe(oracle(p, t));
    }), params);
  });

  it('stays linear on a pattern that makes a backtracking regex explode', () => {
    const pattern = `${'*a'.repeat(30)}*b`;
    expect(globMatch(pattern, 'a'.repeat(5000))).toBe(false);
  });
});
