/** The idempotency memory: FIFO with HLC-time retention, a count bound and a checkable chain. */
import { describe, expect, it } from 'vitest';
import { IDEM_CHUNK_MAX, emptyIdem, idemAppend, idemLookup, idemVerify, type IdemSection } from '../../../src/core/decide/idem.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { CAST, World, castGenesis, h } from '../../../src/proving/sim/world.js';
import { ok } from '../../../src/proving/sim/walk.js';

const H = nodeHasher;
const entry = (i: number, ms = i) => ({ idem_key: `k${i}`, wal_seq: i, outcome: 'accepted' as const, hlc_ms: ms, body_key: 'T:h' });

function fill(n: number, limits = { retentionMs: 1e12, max: 1e9 }): IdemSection {
  let s = emptyIdem(H, 'g');
  for (let i = 1; i <= n; i++) s = idemAppend(H, s, entry(i), limits);
  return s;
}

describe('idempotency memory', () => {
  it('Given appends across several chunks, Then every key is found and the chain verifies', () => {
    const s = fill(IDEM_CHUNK_MAX * 2 + 5);
    expect(s.count).toBe(IDEM_CHUNK_MAX * 2 + 5);
    expect(s.chunks.length).toBe(3);
    expect(idemLookup(s, 'k1')?.wal_seq).toBe(1);
    expect(idemLookup(s, `k${IDEM_CHUNK_MAX * 2 + 5}`)?.wal_seq).toBe(IDEM_CHUNK_MAX * 2 + 5);
    expect(idemVerify(H, s)).toBe(true);
  });

  it('Given a count bound, Then the oldest entries are evicted and the chain still verifies', () => {
    const s = fill(1000, { retentionMs: 1e12, max: 300 });
    expect(s.count).toBe(300);
    expect(idemLookup(s, 'k700')).toBeUndefined();
    expect(idemLookup(s, 'k701')?.wal_seq).toBe(701);
    expect(idemVerify(H, s)).toBe(true);
  });

  it('Given retention in HLC time, Then entries older than the newest minus retention go', () => {
    let s = emptyIdem(H, 'g');
    for (let i = 1; i <= 10; i++) s = idemAppend(H, s, entry(i, i * 1000), { retentionMs: 3000, max: 1e9 });
    expect(s.chunks.flat().map((e) => e.idem_key)).toEqual(['k7', 'k8', 'k9', 'k10']);
  });

  it('Given the same appends with and without evictions, Then head is the same (it commits to all history)', () => {
    const a = fill(500);
    const b = fill(500, { retentionMs: 1e12, max: 10 });
    expect(b.head).toBe(a.head);
    expect(b.base).not.toBe(a.base);
  });

  it('Given a tampered entry or a tampered base, Then verification fails', () => {
    const s = fill(50);
    const chunks = s.chunks.map((c) => c.slice());
    chunks[0]![3] = { ...chunks[0]![3]!, wal_seq: 999 };
    expect(idemVerify(H, { ...s, chunks })).toBe(false);
    expect(idemVerify(H, { ...s, base: h('x') })).toBe(false);
    expect(idemVerify(H, { ...s, count: 49 })).toBe(false);
  });

  it('Given a branch from an old section, Then lookups on each branch see only their own keys', () => {
    const base = fill(10);
    const left = idemAppend(H, base, entry(11), { retentionMs: 1e12, max: 1e9 });
    const right = idemAppend(H, base, { ...entry(12), idem_key: 'other' }, { retentionMs: 1e12, max: 1e9 });
    expect(idemLookup(left, 'k11')?.wal_seq).toBe(11);
    expect(idemLookup(right, 'k11')).toBeUndefined();
    expect(idemLookup(base, 'k11')).toBeUndefined();
    expect(idemLookup(base, 'other')).toBeUndefined();
    expect(idemLookup(right, 'other')?.wal_seq).toBe(12);
  });

  it('Given idem_max 2 in a world, When an evicted key is re-sent, Then it is decided afresh', () => {
    const w = new World(castGenesis({ idem_max: 2 }));
    ok(w.propose(CAST.admin, 'Identity_Grant', { identity: CAST.c3.signer, roles: ['voter'] }, { idem: 'a' }));
    ok(w.propose(CAST.admin, 'Identity_Grant', { identity: CAST.c3.signer, roles: ['council'] }, { idem: 'b' }));
    ok(w.propose(CAST.admin, 'Identity_Revoke', { identity: CAST.c3.signer, roles: ['voter'] }, { idem: 'c' }));
    expect(w.deployment.idem.count).toBe(2); // control proposals: the deployment chain
    const again = w.propose(CAST.admin, 'Identity_Grant', { identity: CAST.c3.signer, roles: ['voter'] }, { idem: 'a' });
    expect(again.decision.outcome).toBe('accepted');
  });
});
