/**
 * BACKBEAT INT-A beat frames as BACKBEAT publishes them (issue: shadow mode and migration,
 * "Real formats"): frames valid by the published schema are accepted, recorded as published
 * and recorded by the core; invalid ones are refused naming the field. Also the dev
 * simulator's frames, and RFC 3339 `deadline_at` parsed as the engine's own ISO parser does.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkFactPayload } from '../../src/core/facts.js';
import { parseRfc3339Ms } from '../../src/core/model/hlc.js';
import { frameToPayload } from '../../src/feeders/backbeat.js';
import { SIMULATOR_DEFAULTS, Simulators } from '../../src/proving/dev/simulators.js';

const VALID = {
  type: 'backbeat.beatframe.v1', cluster_id: 'chorus-a', beat_index: 0, downbeat: true,
  phase: 'plan', hlc: '7fa3:0001:00a0', deadline_at: '2026-12-07T10:00:30Z', tempo_bpm: 2.0,
  window_id: '0123456789abcdef0123456789ABCDEF',
};
const bytes = (v: unknown): Uint8Array => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

describe('INT-A beat frames', () => {
  it.each([
    ['the minimum frame', {}],
    ['with metadata', { metadata: { pulse_version: '1.0.0', cluster_health: 'green', expected_agents: 12 } }],
    ['the slowest tempo', { tempo_bpm: 0.1 }],
    ['the fastest tempo', { tempo_bpm: 1000 }],
    ['a fractional tempo', { tempo_bpm: 17.25 }],
    ['an offset and a nanosecond fraction', { deadline_at: '2026-12-07T11:00:30.123456789+01:00' }],
    ['a lowercase t and z', { deadline_at: '2026-12-07t10:00:30z' }],
    ['upper-case hex', { hlc: 'FFFF:0000:ABCD' }],
    ['phase review, not a downbeat', { phase: 'review', downbeat: false, beat_index: 119 }],
  ])('Given %s, Then it is accepted, recorded as published (without metadata), and the core records it', (_what, over) => {
    const frame = { ...VALID, ...over };
    const r = frameToPayload(bytes(frame));
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    if (!r.ok) return;
    const { metadata: _m, ...recorded } = frame as typeof frame & { metadata?: unknown };
    expect(r.payload).toEqual(recorded);
    expect(checkFactPayload('backbeat', r.payload)).toBeNull();
  });

  it.each([
    ['another type', { type: 'backbeat.beatframe.v2' }, 'frame.type'],
    ["SWOOSH's own HLC form", { hlc: '2026-12-07T10:00:00.000+00:00#0' }, 'frame.hlc'],
    ['a short hlc group', { hlc: '7fa:0001:00a0' }, 'frame.hlc'],
    ['a 31-hex window id', { window_id: 'a'.repeat(31) }, 'frame.window_id'],
    ['a non-hex window id', { window_id: 'g'.repeat(32) }, 'frame.window_id'],
    ['a tempo below 0.1', { tempo_bpm: 0.05 }, 'frame.tempo_bpm'],
    ['a tempo above 1000', { tempo_bpm: 1000.01 }, 'frame.tempo_bpm'],
    ['a tempo as text', { tempo_bpm: '2.0' }, 'frame.tempo_bpm'],
    ['a negative beat', { beat_index: -1 }, 'frame.beat_index'],
    ['a fractional beat', { beat_index: 1.5 }, 'frame.beat_index'],
    ['an unknown phase', { phase: 'lunch' }, 'frame.phase'],
    ['a deadline without a zone', { deadline_at: '2026-12-07T10:00:30' }, 'frame.deadline_at'],
    ['a deadline with a +0200 offset', { deadline_at: '2026-12-07T10:00:30+0200' }, 'frame.deadline_at'],
    ['a deadline with a space for T', { deadline_at: '2026-12-07 10:00:30Z' }, 'frame.deadline_at'],
    ['a field INT-A does not have', { priority: 1 }, 'frame.priority'],
    ['metadata of the wrong shape', { metadata: { expected_agents: 'many' } }, 'frame.metadata.expected_agents'],
    ['no window id', { window_id: undefined }, 'frame.window_id'],
  ])('Given %s, Then refused naming %s', (_what, over, field) => {
    const r = frameToPayload(bytes({ ...VALID, ...over }));
    expect(r).toMatchObject({ ok: false, field });
  });

  it('Given a leap second (valid date-time, no instant SWOOSH records), Then refused before publishing', () => {
    const r = frameToPayload(bytes({ ...VALID, deadline_at: '2016-12-31T23:59:60Z' }));
    expect(r.ok).toBe(false);
  });

  it('Given the dev simulator, Then every frame of a bar is a valid INT-A frame with a stable window id', () => {
    const sims = new Simulators(null as never, 'p', null as never, SIMULATOR_DEFAULTS, () => undefined);
    const frames = Array.from({ length: 9 }, (_, n) => sims.beatFrame(n, 1_796_000_000_000 + n * 1000));
    for (const f of frames) expect(frameToPayload(bytes(f)), JSON.stringify(f)).toMatchObject({ ok: true });
    const ids = frames.map((f) => (f as { window_id: string }).window_id);
    expect(new Set(ids).size).toBe(3);
    expect(ids[0]).toBe(ids[2]);
  });
});

describe('RFC 3339 deadline_at', () => {
  it('Given any instant written with a millisecond fraction and any offset, Then it parses to what Date.parse gives', () => {
    fc.assert(fc.property(
      fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(9998, 11, 31) }),
      fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
      (ms, offsetMin) => {
        const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 23);
        const sign = offsetMin < 0 ? '-' : '+';
        const a = Math.abs(offsetMin);
        const text = `${local}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
        expect(parseRfc3339Ms(text)).toBe(ms);
        expect(parseRfc3339Ms(text)).toBe(Date.parse(text));
      },
    ), { numRuns: 500 });
  });
  it('Given malformed or out-of-range text, Then null', () => {
    for (const t of ['', '2026-12-07T10:00:30', '2026-12-07T10:00:30.Z', '2026-13-07T10:00:30Z', '2026-12-07T10:00:30+2:00',
      '2026-12-07T10:00:30+02:00x', '1969-12-31T23:59:59Z', '2026-02-30T00:00:00Z', `2026-12-07T10:00:30.${'1'.repeat(60)}Z`]) {
      expect(parseRfc3339Ms(t), t).toBeNull();
    }
    expect(parseRfc3339Ms('1970-01-01T00:00:00Z')).toBe(0);
    expect(parseRfc3339Ms('1970-01-01T01:00:00+01:00')).toBe(0);
  });
});
