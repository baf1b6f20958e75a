/**
 * Every time boundary of the core, one millisecond either side, and the HLC tie-break on
 * (signer, idem_key) where the tie-break alone decides. Expected instants are computed here
 * from the entry's log time and the genesis figure, never read back from the state the code
 * under test wrote, so a boundary moved in the code moves away from the test.
 */
import { describe, expect, it } from 'vitest';
import { compareStamp, formatHlc, parseHlc } from '../../../src/core/model/hlc.js';
import { IDEM_CHUNK_MAX, emptyIdem, idemAppend, idemLookup } from '../../../src/core/decide/idem.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { CAST, World, castGenesis, h } from '../../../src/proving/sim/world.js';
import { boot, ok, toExecution } from '../../../src/proving/sim/walk.js';

/** Make the next entry built by `w` carry exactly `logMs` (the builder adds 1 ms per entry). */
function nextEntryAt(w: World, logMs: number): void {
  w.advance(logMs - 1 - w.logMs);
}

describe('max_clock_skew_ms (1,000 ms)', () => {
  const SKEW = 1000;
  function proposeAhead(aheadMs: number): ReturnType<World['propose']> {
    const w = new World(castGenesis({ max_clock_skew_ms: SKEW }));
    const logMs = w.logMs + 1;
    return w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, {
      hlc: formatHlc({ ms: logMs + aheadMs, logical: 0 }),
    });
  }
  it('Given an HLC exactly max_clock_skew_ms ahead of log time, Then accepted', () => {
    ok(proposeAhead(SKEW));
  });
  it('Given an HLC max_clock_skew_ms + 1 ms ahead of log time, Then hlc_too_far_ahead', () => {
    const r = proposeAhead(SKEW + 1);
    expect(r.decision.outcome).toBe('rejected');
    expect(r.decision.code).toBe('hlc_too_far_ahead');
  });
});

describe('licence grace (60,000 ms from the revoking fact)', () => {
  const GRACE = 60_000;
  /** Booted, then revoked; returns the world and the grace end computed from the fact's log time. */
  function revoked(): { w: World; until: number } {
    const w = new World(castGenesis({ license_grace_ms: GRACE }));
    boot(w);
    const r = ok(w.fact('license', { status: 'revoked' }));
    const until = r.decision.log_ms + GRACE;
    expect(w.state.control.grace_until_ms).toBe(until);
    return { w, until };
  }
  // A lifecycle step not allowed in DEGRADED: license_degraded during grace, license_expired after.
  const resolve = (w: World) => w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'git://a' }] });
  it('Given DEGRADED.GRACE, When a proposal is logged 1 ms before the grace ends, Then license_degraded (still in grace)', () => {
    const { w, until } = revoked();
    nextEntryAt(w, until - 1);
    const r = resolve(w);
    expect(r.decision.log_ms).toBe(until - 1);
    expect(r.decision.code).toBe('license_degraded');
  });
  it('Given DEGRADED.GRACE, When a proposal is logged at the grace end, Then license_expired', () => {
    const { w, until } = revoked();
    nextEntryAt(w, until);
    const r = resolve(w);
    expect(r.decision.log_ms).toBe(until);
    expect(r.decision.code).toBe('license_expired');
  });
  // Facts reach a project at its next entry (the catch-up, src/core/world/world.ts).
  it('Given DEGRADED.GRACE, When the project\'s next entry is logged 1 ms before the grace ends, Then no hard stop', () => {
    const { w, until } = revoked();
    nextEntryAt(w, until - 1);
    const r = resolve(w);
    expect(r.decision.applied).toEqual(['Control_LicenseGrace']);
    expect(w.state.control.degraded).toBe('GRACE');
  });
  it('Given DEGRADED.GRACE, When the project\'s next entry is logged at the grace end, Then Control_LicenseExpired', () => {
    const { w, until } = revoked();
    nextEntryAt(w, until);
    const r = resolve(w);
    expect(r.decision.applied).toEqual(['Control_LicenseGrace', 'Control_LicenseExpired']);
    expect(w.state.control.degraded).toBe('HARD_STOP');
  });
});

describe('BACKBEAT window deadline', () => {
  const OPEN = 10_000;
  function openWindow(): { w: World; deadline: number } {
    const w = new World();
    toExecution(w);
    const deadline = w.logMs + OPEN; // beat() sets deadline_at from the log clock before the entry
    ok(w.beat('W1', 'plan', OPEN));
    expect(w.state.facts.backbeat.deadline_ms).toBe(deadline);
    return { w, deadline };
  }
  it('Given an open plan window, When PlanLocked is logged 1 ms before the deadline, Then accepted', () => {
    const { w, deadline } = openWindow();
    nextEntryAt(w, deadline - 1);
    ok(w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') }));
  });
  it('Given an open plan window, When PlanLocked is logged at the deadline, Then window_closed', () => {
    const { w, deadline } = openWindow();
    nextEntryAt(w, deadline);
    const r = w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') });
    expect(r.decision.code).toBe('window_closed');
    expect(r.decision.failing_guard).toBe('window');
  });
});

describe('idempotency retention (HLC time)', () => {
  const R = 3000;
  const at = (key: string, ms: number) => ({ idem_key: key, wal_seq: ms, outcome: 'accepted' as const, hlc_ms: ms, body_key: 'T:h' });
  function after(newestMs: number) {
    const s = idemAppend(nodeHasher, emptyIdem(nodeHasher, 'g'), at('old', 1000), { retentionMs: R, max: 100 });
    return idemAppend(nodeHasher, s, at('new', newestMs), { retentionMs: R, max: 100 });
  }
  it('Given a key exactly retention old at the newest append, Then it is still remembered', () => {
    const s = after(1000 + R);
    expect(idemLookup(s, 'old')?.wal_seq).toBe(1000);
    expect(s.count).toBe(2);
  });
  it('Given a key retention + 1 ms old at the newest append, Then it is forgotten', () => {
    const s = after(1000 + R + 1);
    expect(idemLookup(s, 'old')).toBeUndefined();
    expect(s.count).toBe(1);
  });
  it('Given a world with idem_retention_ms, When a key is re-sent at the boundary and past it, Then duplicate, then decided afresh', () => {
    const grant = { identity: CAST.c3.signer, roles: ['voter'] };
    const run = (gapMs: number): string => {
      const w = new World(castGenesis({ idem_retention_ms: 60_000 }));
      const first = ok(w.propose(CAST.admin, 'Identity_Grant', grant, { idem: 'a' }));
      const p = parseHlc(first.decision.hlc ?? '');
      if (!p.ok) throw new Error('unparseable hlc');
      // Another key, stamped gapMs after the first, triggers the sweep.
      w.advance(gapMs);
      ok(w.propose(CAST.admin, 'Identity_Revoke', grant, { idem: 'b', hlc: formatHlc({ ms: p.hlc.ms + gapMs, logical: 0 }) }));
      return w.propose(CAST.admin, 'Identity_Grant', grant, { idem: 'a' }).decision.outcome;
    };
    expect(run(60_000)).toBe('duplicate');
    expect(run(60_001)).toBe('accepted');
  });
});

describe('HLC tie-break on (signer, idem_key)', () => {
  const grant = (roles: string[]) => ({ identity: CAST.c3.signer, roles });
  /** Two grants by the same signer at the same HLC, with the given idem keys in this order. */
  function sameStamp(first: string, second: string): string | null {
    const w = new World();
    const hlc = w.nextHlc();
    ok(w.propose(CAST.admin, 'Identity_Grant', grant(['voter']), { idem: first, hlc }));
    const r = w.propose(CAST.admin, 'Identity_Grant', grant(['council']), { idem: second, hlc });
    return r.decision.outcome === 'accepted' ? 'accepted' : r.decision.code;
  }
  it('Given equal HLC and signer, When the second idem_key sorts after the first, Then accepted', () => {
    expect(sameStamp('key-a', 'key-b')).toBe('accepted');
  });
  it('Given equal HLC and signer, When the second idem_key sorts before the first, Then hlc_regression', () => {
    expect(sameStamp('key-b', 'key-a')).toBe('hlc_regression');
  });
  it('Given equal HLC, Then the signer decides before the idem_key, in both signer orders', () => {
    const p = parseHlc('2025-10-19T01:00:00.000+00:00#0');
    if (!p.ok) throw new Error('bad fixture');
    const [lo, hi] = [CAST.admin.signer, CAST.operator.signer].sort();
    const a = { hlc: p.hlc, signer: lo ?? '', idem_key: 'z' };
    const b = { hlc: p.hlc, signer: hi ?? '', idem_key: 'a' };
    expect(compareStamp(a, b)).toBe(-1);
    expect(compareStamp(b, a)).toBe(1);
    expect(compareStamp({ ...a, idem_key: 'a' }, { ...a, idem_key: 'b' })).toBe(-1);
    expect(compareStamp({ ...a, idem_key: 'b' }, { ...a, idem_key: 'a' })).toBe(1);
    expect(compareStamp(a, { ...a })).toBe(0);
  });
});

describe('idempotency memory chunks', () => {
  it('Given IDEM_CHUNK_MAX + 1 appends, Then the first chunk holds exactly IDEM_CHUNK_MAX entries', () => {
    let s = emptyIdem(nodeHasher, 'g');
    for (let i = 1; i <= IDEM_CHUNK_MAX + 1; i++) {
      s = idemAppend(nodeHasher, s, { idem_key: `k${i}`, wal_seq: i, outcome: 'accepted', hlc_ms: i, body_key: 'T:h' }, { retentionMs: 1e12, max: 1e9 });
    }
    expect(s.chunks.map((c) => c.length)).toEqual([IDEM_CHUNK_MAX, 1]);
  });
});

