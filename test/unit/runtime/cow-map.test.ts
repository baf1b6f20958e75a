/**
 * CowMap: a snapshot is equal to the map when taken and is never changed by later writes to
 * either side; checked against a plain Map over random operations.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COW_CHUNKS, CowMap } from '../../../src/server/replication/cow-map.js';
import { announceSeed } from '../../support/seed.js';

fc.configureGlobal({ seed: Math.abs(announceSeed('cow-map')) });

const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: fc.string({ maxLength: 6 }), value: fc.integer() }),
  fc.record({ kind: fc.constant('del' as const), key: fc.string({ maxLength: 6 }) }),
  fc.record({ kind: fc.constant('snap' as const) }),
);

describe('CowMap', () => {
  it('Given any writes, deletes and snapshots, Then each snapshot keeps exactly the entries it was taken with', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const live = new CowMap<number>();
      const model = new Map<string, number>();
      const snaps: { snap: CowMap<number>; model: Map<string, number> }[] = [];
      for (const o of ops) {
        if (o.kind === 'set') {
          live.set(o.key, o.value);
          model.set(o.key, o.value);
          // A write to a snapshot never shows in the live map.
          const last = snaps.at(-1);
          if (last !== undefined) {
            last.snap.set(`${o.key}#s`, o.value);
            last.model.set(`${o.key}#s`, o.value);
          }
        } else if (o.kind === 'del') {
          expect(live.delete(o.key)).toBe(model.delete(o.key));
          // A delete on a snapshot never shows in the live map either.
          const last = snaps.at(-1);
          if (last !== undefined) expect(last.snap.delete(o.key)).toBe(last.model.delete(o.key));
        } else {
          snaps.push({ snap: live.snapshot(), model: new Map(model) });
        }
      }
      const sorted = (m: ReadonlyMap<string, number>): [string, number][] => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
      expect(sorted(live)).toEqual(sorted(model));
      expect(live.size).toBe(model.size);
      for (const s of snaps) {
        expect(sorted(s.snap)).toEqual(sorted(s.model));
        expect(s.snap.size).toBe(s.model.size);
        for (const k of s.model.keys()) expect(s.snap.has(k)).toBe(true);
      }
    }), { numRuns: 200 });
  });

  it('Given 10,000 keys, Then they spread over every chunk', () => {
    const m = new CowMap<number>(Array.from({ length: 10_000 }, (_, i) => [`p${i}`, i] as const));
    expect(m.size).toBe(10_000);
    expect(m.get('p9999')).toBe(9999);
    expect(COW_CHUNKS).toBe(256);
    let seen = 0;
    m.forEach(() => { seen += 1; });
    expect(seen).toBe(10_000);
  });
});
