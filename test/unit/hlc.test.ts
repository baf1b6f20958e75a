import { describe, expect, it } from 'vitest';
import {
  HLC_LOGICAL_MAX,
  HLC_MS_MAX,
  compareHlc,
  compareStamp,
  formatHlc,
  formatIsoUtcMs,
  hlcReceive,
  hlcSend,
  parseHlc,
  parseIsoUtcMs,
  type Hlc,
  type HlcStamp,
} from '../../src/core/model/hlc.js';

const EXAMPLE = '2025-10-19T01:23:45.678+00:00#1234';
const EXAMPLE_MS = Date.UTC(2025, 9, 19, 1, 23, 45, 678);

function hlc(ms: number, logical: number): Hlc {
  return { ms, logical };
}

function stamp(ms: number, logical: number, signer: string, idem_key: string): HlcStamp {
  return { hlc: hlc(ms, logical), signer, idem_key };
}

/** The message of a rejected parse; fails the test when the parse succeeded. */
function rejection(s: string): string {
  const r = parseHlc(s);
  if (r.ok) throw new Error(`expected ${JSON.stringify(s)} to be rejected`);
  return r.message;
}

describe('parseHlc', () => {
  it('Given the ARCHITECTURE example, When parsed, Then ms and logical match Date.UTC', () => {
    expect(parseHlc(EXAMPLE)).toEqual({ ok: true, hlc: { ms: EXAMPLE_MS, logical: 1234 } });
  });

  it('Given the parsed example, When formatted, Then the original text comes back', () => {
    const r = parseHlc(EXAMPLE);
    expect(r.ok && formatHlc(r.hlc)).toBe(EXAMPLE);
  });

  it.each([
    ['the epoch with logical 0', '1970-01-01T00:00:00.000+00:00#0', hlc(0, 0)],
    ['the last instant and max logical', `9999-12-31T23:59:59.999+00:00#${HLC_LOGICAL_MAX}`,
      hlc(HLC_MS_MAX, HLC_LOGICAL_MAX)],
    ['Feb 29 in a leap year', '2024-02-29T12:00:00.000+00:00#7',
      hlc(Date.UTC(2024, 1, 29, 12), 7)],
    ['Feb 29 in a 400-year leap year', '2000-02-29T00:00:00.001+00:00#1',
      hlc(Date.UTC(2000, 1, 29, 0, 0, 0, 1), 1)],
    ['the last second of a day', '2025-12-31T23:59:59.999+00:00#10',
      hlc(Date.UTC(2025, 11, 31, 23, 59, 59, 999), 10)],
  ])('Given %s, When parsed, Then it is accepted', (_name, text, expected) => {
    expect(parseHlc(text)).toEqual({ ok: true, hlc: expected });
  });

  it.each([
    ['a -05:00 offset', '2025-10-19T01:23:45.678-05:00#1', /expected \+00:00 offset/],
    ['a +01:00 offset', '2025-10-19T01:23:45.678+01:00#1', /expected \+00:00 offset/],
    ['Z instead of +00:00', '2025-10-19T01:23:45.678Z#1', /expected \+00:00 offset, got "Z"/],
    ['no offset', '2025-10-19T01:23:45.678#1', /expected \+00:00 offset, got nothing/],
    ['missing millis', '2025-10-19T01:23:45+00:00#1', /expected \.mmm milliseconds/],
    ['two-digit millis', '2025-10-19T01:23:45.67+00:00#1', /3-digit milliseconds/],
    ['four-digit millis', '2025-10-19T01:23:45.6789+00:00#1', /more than 3 fractional/],
    ['Feb 29 on a non-leap year', '2023-02-29T00:00:00.000+00:00#1',
      /day 29 out of range 01\.\.28 for 2023-02/],
    ['Feb 29 on a century non-leap year', '2100-02-29T00:00:00.000+00:00#1',
      /day 29 out of range 01\.\.28 for 2100-02/],
    ['April 31', '2025-04-31T00:00:00.000+00:00#1', /day 31 out of range 01\.\.30/],
    ['day 00', '2025-04-00T00:00:00.000+00:00#1', /day 00 out of range/],
    ['month 13', '2025-13-01T00:00:00.000+00:00#1', /month 13 out of range 01\.\.12/],
    ['month 00', '2025-00-01T00:00:00.000+00:00#1', /month 00 out of range/],
    ['hour 24', '2025-10-19T24:00:00.000+00:00#1', /hour 24 out of range 00\.\.23/],
    ['minute 60', '2025-10-19T01:60:00.000+00:00#1', /minute 60 out of range/],
    ['a leap second', '2016-12-31T23:59:60.000+00:00#1', /second 60 out of range/],
    ['a year before 1970', '1969-12-31T23:59:59.999+00:00#1', /year 1969 out of range/],
    ['leading zeros in logical', '2025-10-19T01:23:45.678+00:00#01', /without leading zeros/],
    ['a signed logical', '2025-10-19T01:23:45.678+00:00#+1', /without leading zeros/],
    ['a negative logical', '2025-10-19T01:23:45.678+00:00#-1', /without leading zeros/],
    ['logical over max', `2025-10-19T01:23:45.678+00:00#${HLC_LOGICAL_MAX + 1}`,
      /exceeds 2147483647/],
    ['a 30-digit logical', `2025-10-19T01:23:45.678+00:00#${'9'.repeat(30)}`, /exceeds/],
    ['an empty logical', '2025-10-19T01:23:45.678+00:00#', /expected a logical counter/],
    ['no logical at all', '2025-10-19T01:23:45.678+00:00', /expected '#<logical>'/],
    ['trailing junk after logical', `${EXAMPLE}x`, /without leading zeros, got "1234x"/],
    ['trailing whitespace', `${EXAMPLE} `, /without leading zeros/],
    ['a second #', `${EXAMPLE}#5`, /without leading zeros/],
    ['junk between offset and #', '2025-10-19T01:23:45.678+00:00 #1', /expected \+00:00 offset/],
    ['a lowercase t', '2025-10-19t01:23:45.678+00:00#1', /expected 'T' at offset 10, got "t"/],
    ['a space instead of T', '2025-10-19 01:23:45.678+00:00#1', /expected 'T' at offset 10/],
    ['a two-digit year', '25-10-19T01:23:45.678+00:00#1', /expected 4-digit year/],
    ['a one-digit month', '2025-1-19T01:23:45.678+00:00#1', /expected 2-digit month/],
    ['leading whitespace', ` ${EXAMPLE}`, /expected 4-digit year at offset 0/],
    ['non-ASCII digits', '２025-10-19T01:23:45.678+00:00#1', /expected 4-digit year/],
    ['the empty string', '', /expected '#<logical>'/],
  ])('Given %s, When parsed, Then it is rejected with a message naming the problem',
    (_name, text, message) => {
      expect(rejection(text)).toMatch(message);
      expect(rejection(text)).toMatch(/^hlc: /);
    });

  it('Given a non-string at runtime, When parsed, Then it is rejected, not thrown', () => {
    const expected = { ok: false, message: 'hlc: expected a string' };
    expect(parseHlc(42 as unknown as string)).toEqual(expected);
  });

  it('Given very long junk, When rejected, Then the message echoes at most a short prefix', () => {
    const message = rejection(`2025-10-19T01:23:45.678+00:00#1${'x'.repeat(10_000)}`);
    expect(message.length).toBeLessThan(120);
  });
});

describe('formatHlc', () => {
  it('Given the epoch and logical 0, When formatted, Then every field is zero-padded', () => {
    expect(formatHlc(hlc(0, 0))).toBe('1970-01-01T00:00:00.000+00:00#0');
  });

  it('Given HLC_MS_MAX, When compared with Date.UTC, Then it is 9999-12-31T23:59:59.999', () => {
    expect(HLC_MS_MAX).toBe(Date.UTC(9999, 11, 31, 23, 59, 59, 999));
    expect(formatHlc(hlc(HLC_MS_MAX, 0))).toBe('9999-12-31T23:59:59.999+00:00#0');
  });

  it.each([
    ['negative ms', hlc(-1, 0)],
    ['ms past the year 9999', hlc(HLC_MS_MAX + 1, 0)],
    ['fractional ms', hlc(1.5, 0)],
    ['NaN ms', hlc(Number.NaN, 0)],
    ['negative logical', hlc(0, -1)],
    ['logical over max', hlc(0, HLC_LOGICAL_MAX + 1)],
    ['fractional logical', hlc(0, 0.5)],
  ])('Given %s, When formatted, Then a RangeError is thrown', (_name, h) => {
    expect(() => formatHlc(h)).toThrow(RangeError);
  });
});

describe('compareHlc', () => {
  it('Given different ms, When compared, Then ms decides regardless of logical', () => {
    expect(compareHlc(hlc(1, 999), hlc(2, 0))).toBe(-1);
    expect(compareHlc(hlc(2, 0), hlc(1, 999))).toBe(1);
  });

  it('Given equal ms, When compared, Then logical decides', () => {
    expect(compareHlc(hlc(5, 1), hlc(5, 2))).toBe(-1);
    expect(compareHlc(hlc(5, 2), hlc(5, 1))).toBe(1);
    expect(compareHlc(hlc(5, 2), hlc(5, 2))).toBe(0);
  });
});

describe('compareStamp', () => {
  it('Given different HLCs, When compared, Then the HLC decides before signer or key', () => {
    expect(compareStamp(stamp(1, 0, 'z', 'z'), stamp(2, 0, 'a', 'a'))).toBe(-1);
    expect(compareStamp(stamp(1, 1, 'a', 'a'), stamp(1, 0, 'z', 'z'))).toBe(1);
  });

  it('Given equal HLCs, When compared, Then the signer breaks the tie before idem_key', () => {
    expect(compareStamp(stamp(1, 0, 'a', 'z'), stamp(1, 0, 'b', 'a'))).toBe(-1);
    expect(compareStamp(stamp(1, 0, 'b', 'a'), stamp(1, 0, 'a', 'z'))).toBe(1);
  });

  it('Given equal HLCs and signers, When compared, Then idem_key breaks the tie', () => {
    expect(compareStamp(stamp(1, 0, 's', 'k1'), stamp(1, 0, 's', 'k2'))).toBe(-1);
    expect(compareStamp(stamp(1, 0, 's', 'k2'), stamp(1, 0, 's', 'k1'))).toBe(1);
  });

  it('Given identical stamps, When compared, Then they are equal', () => {
    expect(compareStamp(stamp(1, 0, 's', 'k'), stamp(1, 0, 's', 'k'))).toBe(0);
  });

  it('Given a prefix and a longer string, When compared, Then the prefix sorts first', () => {
    expect(compareStamp(stamp(1, 0, 's', 'k'), stamp(1, 0, 's', 'k:1'))).toBe(-1);
  });

  it('Given case and accents, When compared, Then code units decide, not the locale', () => {
    // 'B' (0x42) < 'a' (0x61) < 'é' (0xE9), whereas a locale collation puts 'a' < 'B'.
    expect(compareStamp(stamp(1, 0, 'B', 'k'), stamp(1, 0, 'a', 'k'))).toBe(-1);
    expect(compareStamp(stamp(1, 0, 'é', 'k'), stamp(1, 0, 'f', 'k'))).toBe(1);
  });

  it('Given an astral char and U+FFFF, When compared, Then UTF-16 units decide', () => {
    // U+1F600 is the surrogate pair D83D DE00; D83D < FFFF although the code point is larger.
    expect(compareStamp(stamp(1, 0, '\u{1F600}', 'k'), stamp(1, 0, '\uFFFF', 'k'))).toBe(-1);
  });
});

describe('hlcSend', () => {
  it('Given a wall clock ahead of local, When sending, Then ms jumps to wall, logical 0', () => {
    expect(hlcSend(hlc(100, 7), 200)).toEqual(hlc(200, 0));
  });

  it('Given a wall clock equal to local ms, When sending, Then logical increments', () => {
    expect(hlcSend(hlc(100, 7), 100)).toEqual(hlc(100, 8));
  });

  it('Given a wall clock behind local, When sending, Then local ms is kept and logical++', () => {
    expect(hlcSend(hlc(100, 7), 50)).toEqual(hlc(100, 8));
  });

  it('Given logical at max, When sending, Then ms advances by 1 and logical resets', () => {
    expect(hlcSend(hlc(100, HLC_LOGICAL_MAX), 100)).toEqual(hlc(101, 0));
  });

  it('Given the last ms and logical at max, When sending, Then a RangeError is thrown', () => {
    expect(() => hlcSend(hlc(HLC_MS_MAX, HLC_LOGICAL_MAX), 0)).toThrow(/exhausted/);
  });

  it.each([
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['past year 9999', HLC_MS_MAX + 1],
  ])('Given a %s wall clock, When sending, Then a RangeError is thrown', (_name, wall) => {
    expect(() => hlcSend(hlc(0, 0), wall)).toThrow(RangeError);
  });
});

describe('hlcReceive', () => {
  it('Given the wall clock ahead of both, When receiving, Then ms is wall and logical 0', () => {
    expect(hlcReceive(hlc(100, 3), hlc(150, 9), 200)).toEqual(hlc(200, 0));
  });

  it('Given local ahead, When receiving, Then local ms is kept and local logical++', () => {
    expect(hlcReceive(hlc(300, 3), hlc(150, 9), 200)).toEqual(hlc(300, 4));
  });

  it('Given remote ahead, When receiving, Then remote ms is adopted and remote logical++', () => {
    expect(hlcReceive(hlc(100, 3), hlc(300, 9), 200)).toEqual(hlc(300, 10));
  });

  it('Given local and remote at the same ms, When receiving, Then max logical + 1', () => {
    expect(hlcReceive(hlc(300, 3), hlc(300, 9), 200)).toEqual(hlc(300, 10));
    expect(hlcReceive(hlc(300, 12), hlc(300, 9), 300)).toEqual(hlc(300, 13));
  });

  it('Given the max logical at the max ms seen, When receiving, Then ms advances by 1', () => {
    expect(hlcReceive(hlc(300, 1), hlc(300, HLC_LOGICAL_MAX), 0)).toEqual(hlc(301, 0));
  });

  it('Given an out-of-range remote, When receiving, Then a RangeError is thrown', () => {
    expect(() => hlcReceive(hlc(0, 0), hlc(-5, 0), 0)).toThrow(/remote/);
  });
});

describe('parseIsoUtcMs', () => {
  it.each([
    ['Z with millis', '2025-10-19T01:23:45.678Z', EXAMPLE_MS],
    ['+00:00 with millis', '2025-10-19T01:23:45.678+00:00', EXAMPLE_MS],
    ['Z without millis', '2025-10-19T01:23:45Z', Date.UTC(2025, 9, 19, 1, 23, 45)],
    ['+00:00 without millis', '2025-10-19T01:23:45+00:00', Date.UTC(2025, 9, 19, 1, 23, 45)],
    ['the epoch', '1970-01-01T00:00:00Z', 0],
  ])('Given %s, When parsed, Then the epoch ms is returned', (_name, text, ms) => {
    expect(parseIsoUtcMs(text)).toBe(ms);
  });

  it.each([
    ['no zone', '2025-10-19T01:23:45.678'],
    ['a lowercase z', '2025-10-19T01:23:45.678z'],
    ['a non-UTC offset', '2025-10-19T01:23:45.678+02:00'],
    ['-00:00', '2025-10-19T01:23:45-00:00'],
    ['a lowercase t', '2025-10-19t01:23:45Z'],
    ['no seconds', '2025-10-19T01:23Z'],
    ['one fractional digit', '2025-10-19T01:23:45.6Z'],
    ['a date only', '2025-10-19'],
    ['Feb 29 on a non-leap year', '2025-02-29T00:00:00Z'],
    ['month 13', '2025-13-01T00:00:00Z'],
    ['trailing junk', '2025-10-19T01:23:45Z '],
    ['an HLC', EXAMPLE],
  ])('Given %s, When parsed, Then null is returned', (_name, text) => {
    expect(parseIsoUtcMs(text)).toBeNull();
  });
});

describe('formatIsoUtcMs', () => {
  it('Given the example instant, When formatted, Then the Z form with millis is produced', () => {
    expect(formatIsoUtcMs(EXAMPLE_MS)).toBe('2025-10-19T01:23:45.678Z');
  });

  it('Given an out-of-range ms, When formatted, Then a RangeError is thrown', () => {
    expect(() => formatIsoUtcMs(-1)).toThrow(RangeError);
    expect(() => formatIsoUtcMs(HLC_MS_MAX + 1)).toThrow(RangeError);
  });
});
