/**
 * The core's RFC 8785 serializer must agree with the `canonicalize` package (the reference
 * implementation it replaced for speed) on every JSON value, including unicode, escapes,
 * numbers in every range, and keys that sort differently by code unit than by code point.
 */
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jcs } from '../../src/core/encoding/json.js';
import { announceSeed } from '../support/seed.js';

const seed = announceSeed('jcs properties');

describe('jcs', () => {
  it('Given any JSON value, Then jcs equals canonicalize', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        expect(jcs(v)).toBe(canonicalize(v));
      }),
      { seed, numRuns: 2000 },
    );
  });

  it('Given strings of any unicode, escapes and surrogate pairs, Then identical output', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })), (o) => {
        expect(jcs(o)).toBe(canonicalize(o));
      }),
      { seed, numRuns: 1000 },
    );
  });

  it('Given RFC 8785 examples, Then the documented bytes', () => {
    expect(jcs({ b: [1e21, 1e-7, -0, 0.1], a: '€\n"\\', '\u20ac': 1, '\ud83d\ude00': 2, '\u00e9': 3 }))
      .toBe('{"a":"€\\n\\"\\\\","b":[1e+21,1e-7,0,0.1],"é":3,"€":1,"😀":2}');
    expect(() => jcs({ a: '\ud800' })).toThrow(/lone surrogate/);
    expect(() => jcs(Number.NaN)).toThrow(/NaN/);
  });
});
