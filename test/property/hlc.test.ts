/**
 * Property tests of the HLC module. Replay a failure with SWOOSH_SEED=<seed> (the seed is logged
 * once per run; fast-check also prints seed and path on failure).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { announceSeed } from '../support/seed.js';
import {
  HLC_LOGICAL_MAX,
  HLC_MS_MAX,
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

const SEED = announceSeed('hlc properties');
fc.configureGlobal({ seed: SEED });

/** Calendar fields of a real instant in 1970..9999 (day drawn valid for its month). */
interface Civil {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  ms: number;
}

function daysIn(y: number, mo: number): number {
  return new Date(Date.UTC(y, mo, 0)).getUTCDate();
}

const civilArb: fc.Arbitrary<Civil> = fc
  .record({
    y: fc.integer({ min: 1970, max: 9999 }),
    mo: fc.integer({ min: 1, max: 12 }),
    d: fc.integer({ min: 1, max: 31 }),
    h: fc.integer({ min: 0, max: 23 }),
    mi: fc.integer({ min: 0, max: 59 }),
    s: fc.integer({ min: 0, max: 59 }),
    ms: fc.integer({ min: 0, max: 999 }),
  })
  .map((c) => ({ ...c, d: Math.min(c.d, daysIn(c.y, c.mo)) }));

function p(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function civilText(c: Civil, withMillis: boolean): string {
  const base = `${p(c.y, 4)}-${p(c.mo, 2)}-${p(c.d, 2)}T${p(c.h, 2)}:${p(c.mi, 2)}:${p(c.s, 2)}`;
  return withMillis ? `${base}.${p(c.ms, 3)}` : base;
}

function civilUtc(c: Civil, withMillis: boolean): number {
  return Date.UTC(c.y, c.mo - 1, c.d, c.h, c.mi, c.s, withMillis ? c.ms : 0);
}

const msArb = fc.integer({ min: 0, max: HLC_MS_MAX });
const logicalArb = fc.integer({ min: 0, max: HLC_LOGICAL_MAX });
const hlcArb: fc.Arbitrary<Hlc> = fc.record({ ms: msArb, logical: logicalArb });

/** Clocks and walls clustered around a few instants so ms ties (and max logical) are common. */
const BASE = 1_760_000_000_000;
const nearMsArb = fc.integer({ min: BASE - 3, max: BASE + 3 });
const nearLogicalArb = fc.oneof(
  fc.integer({ min: 0, max: 5 }),
  fc.integer({ min: HLC_LOGICAL_MAX - 2, max: HLC_LOGICAL_MAX }),
);
const nearHlcArb: fc.Arbitrary<Hlc> = fc.record({ ms: nearMsArb, logical: nearLogicalArb });
/** Any clock that cannot exhaust the year-9999 limit in one step. */
const safeHlcArb: fc.Arbitrary<Hlc> = fc.oneof(
  nearHlcArb,
  fc.record({ ms: fc.integer({ min: 0, max: HLC_MS_MAX - 1 }), logical: logicalArb }),
);
const wallArb = fc.oneof(nearMsArb, fc.integer({ min: 0, max: HLC_MS_MAX - 1 }));

/** Stamps over tiny domains so every tie-break level gets exercised. */
const tieText = fc.constantFrom('', 'a', 'B', 'a:1', 'é', '\uFFFF', '\u{1F600}');
const stampArb: fc.Arbitrary<HlcStamp> = fc.record({
  hlc: fc.record({ ms: fc.integer({ min: 0, max: 2 }), logical: fc.integer({ min: 0, max: 2 }) }),
  signer: tieText,
  idem_key: tieText,
});

function sameStamp(a: HlcStamp, b: HlcStamp): boolean {
  const sameHlc = a.hlc.ms === b.hlc.ms && a.hlc.logical === b.hlc.logical;
  return sameHlc && a.signer === b.signer && a.idem_key === b.idem_key;
}

function gt(a: Hlc, b: Hlc): boolean {
  return a.ms > b.ms || (a.ms === b.ms && a.logical > b.logical);
}

describe('HLC text round trips', () => {
  it('Given any in-range HLC, When formatted then parsed, Then the same HLC comes back', () => {
    fc.assert(
      fc.property(hlcArb, (h) => {
        expect(parseHlc(formatHlc(h))).toEqual({ ok: true, hlc: h });
      }),
      { numRuns: 500 },
    );
  });

  it('Given a valid generated HLC text, When parsed then formatted, Then the text is equal', () => {
    fc.assert(
      fc.property(civilArb, logicalArb, (c, logical) => {
        const text = `${civilText(c, true)}+00:00#${logical}`;
        const r = parseHlc(text);
        expect(r.ok).toBe(true);
        if (r.ok) expect(formatHlc(r.hlc)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('Given random calendar fields, When parsed, Then ms agrees with Date.UTC', () => {
    fc.assert(
      fc.property(civilArb, fc.boolean(), fc.boolean(), (c, withMillis, zulu) => {
        const expected = civilUtc(c, withMillis);
        const iso = `${civilText(c, withMillis)}${zulu ? 'Z' : '+00:00'}`;
        expect(parseIsoUtcMs(iso)).toBe(expected);
        const r = parseHlc(`${civilText(c, true)}+00:00#0`);
        expect(r.ok && r.hlc.ms).toBe(civilUtc(c, true));
      }),
      { numRuns: 500 },
    );
  });

  it('Given any in-range ms, When formatted as ISO, Then it equals toISOString', () => {
    fc.assert(
      fc.property(msArb, (ms) => {
        expect(formatIsoUtcMs(ms)).toBe(new Date(ms).toISOString());
        expect(parseIsoUtcMs(formatIsoUtcMs(ms))).toBe(ms);
      }),
      { numRuns: 500 },
    );
  });

  it('Given a day one past the end of its month, When parsed, Then it is rejected', () => {
    fc.assert(
      fc.property(civilArb, (c) => {
        const bad: Civil = { ...c, d: daysIn(c.y, c.mo) + 1 };
        expect(parseHlc(`${civilText(bad, true)}+00:00#0`).ok).toBe(false);
        expect(parseIsoUtcMs(`${civilText(bad, true)}Z`)).toBeNull();
      }),
    );
  });
});

describe('compareStamp is a total order', () => {
  it('Given two stamps, When compared both ways, Then the results are opposite', () => {
    fc.assert(
      fc.property(stampArb, stampArb, (a, b) => {
        expect(compareStamp(a, b)).toBe(-compareStamp(b, a) || 0);
      }),
    );
  });

  it('Given two stamps, When compared, Then 0 exactly when all four fields are equal', () => {
    fc.assert(
      fc.property(stampArb, stampArb, (a, b) => {
        expect(compareStamp(a, b) === 0).toBe(sameStamp(a, b));
        expect(compareStamp(a, a)).toBe(0);
      }),
    );
  });

  it('Given three stamps with a <= b <= c, When compared, Then a <= c', () => {
    fc.assert(
      fc.property(stampArb, stampArb, stampArb, (a, b, c) => {
        const [x, y, z] = [a, b, c].sort(compareStamp) as [HlcStamp, HlcStamp, HlcStamp];
        expect(compareStamp(x, y)).toBeLessThanOrEqual(0);
        expect(compareStamp(y, z)).toBeLessThanOrEqual(0);
        expect(compareStamp(x, z)).toBeLessThanOrEqual(0);
        if (compareStamp(x, y) < 0 || compareStamp(y, z) < 0) {
          expect(compareStamp(x, z)).toBe(-1);
        }
      }),
    );
  });
});

describe('HLC send and receive', () => {
  it('Given a clock and a wall time, When sending, Then the result > local and ms >= wall', () => {
    fc.assert(
      fc.property(safeHlcArb, wallArb, (local, wall) => {
        const next = hlcSend(local, wall);
        expect(gt(next, local)).toBe(true);
        expect(next.ms).toBeGreaterThanOrEqual(wall);
        expect(next.logical).toBeLessThanOrEqual(HLC_LOGICAL_MAX);
      }),
      { numRuns: 300 },
    );
  });

  it('Given local, remote and wall, When receiving, Then the result > local and > remote', () => {
    fc.assert(
      fc.property(safeHlcArb, safeHlcArb, wallArb, (local, remote, wall) => {
        const next = hlcReceive(local, remote, wall);
        expect(gt(next, local)).toBe(true);
        expect(gt(next, remote)).toBe(true);
        expect(next.ms).toBeGreaterThanOrEqual(wall);
        expect(next.logical).toBeLessThanOrEqual(HLC_LOGICAL_MAX);
      }),
      { numRuns: 300 },
    );
  });

  it('Given a sequence of sends and receives, When applied, Then clocks strictly increase', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('send' as const), wall: nearMsArb }),
      fc.record({ kind: fc.constant('recv' as const), wall: nearMsArb, remote: nearHlcArb }),
    );
    fc.assert(
      fc.property(nearHlcArb, fc.array(step, { maxLength: 40 }), (start, steps) => {
        let clock = start;
        for (const s of steps) {
          const next =
            s.kind === 'send' ? hlcSend(clock, s.wall) : hlcReceive(clock, s.remote, s.wall);
          expect(gt(next, clock)).toBe(true);
          if (s.kind === 'recv') expect(gt(next, s.remote)).toBe(true);
          expect(parseHlc(formatHlc(next))).toEqual({ ok: true, hlc: next });
          clock = next;
        }
      }),
      { numRuns: 200 },
    );
  });
});
