/**
 * Identity expiry (`not_after_ms`) and the proposal age bound (`hlc_too_old`), each one
 * millisecond either side of its boundary, and the identity guard's view of admins with an
 * expiry (issue: lock it down, item 7). Instants are computed here from the genesis figures
 * and the entry's log time, never read back from state the code under test wrote.
 */
import { describe, expect, it } from 'vitest';
import { createCore } from '../../../src/core/index.js';
import { formatHlc } from '../../../src/core/model/hlc.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { DeploymentSim } from '../../../src/proving/sim/deployment.js';
import { CAST, World, castGenesis, h } from '../../../src/proving/sim/world.js';
import { COUNCIL_INPUTS, boot, ok } from '../../../src/proving/sim/walk.js';

/** Make the next entry built by `w` carry exactly `logMs` (the builder adds 1 ms per entry). */
function nextEntryAt(w: { logMs: number; advance(ms: number): void }, logMs: number): void {
  w.advance(logMs - 1 - w.logMs);
}

/** castGenesis with `not_after_ms` on one cast member's identity. */
function genesisExpiring(who: keyof typeof CAST, notAfterMs: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  const g = castGenesis(over);
  const ids = g['identities'] as Record<string, { roles: string[]; not_after_ms?: number }>;
  const signer = CAST[who].signer;
  ids[signer] = { ...(ids[signer] as { roles: string[] }), not_after_ms: notAfterMs };
  return g;
}

describe('not_after_ms (identity expiry)', () => {
  const T = Date.UTC(2025, 9, 19, 2, 0, 0);
  it('Given an operator expiring at T, When its proposal is logged at T - 1, Then it passes authorization; at T, Then identity_expired and the state is untouched', () => {
    const before = new World(genesisExpiring('operator', T));
    nextEntryAt(before, T - 1);
    const r1 = before.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') });
    expect(r1.decision.log_ms).toBe(T - 1);
    expect(r1.decision.outcome).toBe('accepted');

    const at = new World(genesisExpiring('operator', T));
    const pre = at.state;
    nextEntryAt(at, T);
    const r2 = at.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') });
    expect(r2.decision.log_ms).toBe(T);
    expect(r2.decision).toMatchObject({ outcome: 'rejected', code: 'identity_expired' });
    expect(r2.decision.message).toContain('expired at 2025-10-19T02:00:00.000Z (not_after_ms ' + String(T) + ')');
    expect(at.state.boot).toEqual(pre.boot);
  });

  it('Given a feeder expiring at T, When its fact is logged at T - 1, Then recorded; at T, Then identity_expired and the fact is not recorded', () => {
    const w = new World(genesisExpiring('feeder', T));
    nextEntryAt(w, T - 1);
    ok(w.fact('capacity', { cpu_millis: 1, memory_mb: 1, slots: 1 }));
    const r = w.fact('capacity', { cpu_millis: 2, memory_mb: 2, slots: 2 });
    expect(r.decision.log_ms).toBe(T);
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'identity_expired' });
    expect(w.state.facts.capacity).toMatchObject({ cpu_millis: 1 });
  });

  it('Given a voter expiring at T, When a certificate carrying its vote is logged at T, Then ineligible_voter; at T - 1 it counts', () => {
    const cert = (w: World): ReturnType<World['propose']> => {
      const members = [CAST.c1.signer, CAST.c2.signer].sort();
      const msh = w.core.hash(members);
      const term = w.state.council.term;
      return w.propose(CAST.c1, 'Council_QuorumCert', {
        members, member_set_hash: msh, term,
        votes: [w.vote(CAST.v1, msh, term), w.vote(CAST.v2, msh, term)],
      });
    };
    for (const [logMs, outcome] of [[T - 1, 'accepted'], [T, 'rejected']] as const) {
      const w = new World(genesisExpiring('v2', T));
      boot(w);
      ok(w.propose(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS));
      nextEntryAt(w, logMs);
      const r = cert(w);
      expect(r.decision.outcome, String(logMs)).toBe(outcome);
      if (outcome === 'rejected') {
        expect(r.decision.code).toBe('ineligible_voter');
        expect(r.decision.message).toContain(`${CAST.v2.signer} expired at not_after_ms ${T}`);
      }
    }
  });

  it('Given Identity_Grant with not_after_ms, Then the registry keeps it; a later grant without it keeps it, one with it replaces it; a partial revoke keeps it', () => {
    const sim = new DeploymentSim();
    const who = CAST.c3.signer;
    ok(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: who, roles: ['voter'], not_after_ms: T }));
    expect(sim.deployment.identities[who]).toEqual({ roles: ['council', 'voter'], not_after_ms: T });
    ok(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: who, roles: ['ingestion'] }));
    expect(sim.deployment.identities[who]?.not_after_ms).toBe(T);
    ok(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: who, roles: ['ingestion'], not_after_ms: T + 5 }));
    expect(sim.deployment.identities[who]?.not_after_ms).toBe(T + 5);
    ok(sim.propose(CAST.admin, null, 'Identity_Revoke', { identity: who, roles: ['voter'] }));
    expect(sim.deployment.identities[who]).toEqual({ roles: ['council', 'ingestion'], not_after_ms: T + 5 });
  });

  it('Given one lasting admin, When it would get an expiry, Then last_admin; an admin with an expiry does not count as lasting, so revoking the lasting one is still last_admin', () => {
    const sim = new DeploymentSim();
    const admin = CAST.admin.signer;
    const before = sim.deployment.identities;
    const self = sim.propose(CAST.admin, null, 'Identity_Grant', { identity: admin, roles: ['voter'], not_after_ms: T });
    expect(self.decision).toMatchObject({ outcome: 'rejected', code: 'last_admin' });
    expect(sim.deployment.identities).toBe(before);
    // A second admin with an expiry: the first is still the last lasting one.
    ok(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.operator.signer, roles: ['admin'], not_after_ms: T }));
    const revoke = sim.propose(CAST.admin, null, 'Identity_Revoke', { identity: admin, roles: ['admin'] });
    expect(revoke.decision).toMatchObject({ outcome: 'rejected', code: 'last_admin' });
    // A second lasting admin: now the first may be given an expiry.
    ok(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.ingest.signer, roles: ['admin'] }));
    ok(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: admin, roles: ['voter'], not_after_ms: T }));
  });

  it('Given a genesis whose only admin has an expiry, When it revokes its own admin role, Then last_admin (no lasting admin at all still keeps the last one)', () => {
    const sim = new DeploymentSim(genesisExpiring('admin', T));
    const before = sim.deployment.identities;
    const r = sim.propose(CAST.admin, null, 'Identity_Revoke', { identity: CAST.admin.signer, roles: ['admin'] });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'last_admin' });
    expect(sim.deployment.identities).toBe(before);
  });

  it('Given a genesis identity with a bad not_after_ms, Then parsing names the field', () => {
    const core = createCore(nodeHasher);
    for (const v of [-1, 1.5, '1', 253_402_300_800_000]) {
      const g = core.parseGenesis(genesisExpiring('operator', v as number));
      expect(g.ok, String(v)).toBe(false);
      if (!g.ok) {
        expect(g.error.path).toBe(`genesis.identities["${CAST.operator.signer}"].not_after_ms`);
        expect(g.error.message).toBe('expected an integer in 0..253402300799999 (ms)');
      }
    }
    const extra = castGenesis();
    (extra['identities'] as Record<string, unknown>)[CAST.operator.signer] = { roles: ['operator'], expires: 1 };
    const e = core.parseGenesis(extra);
    expect(e.ok ? '' : e.error.message).toBe('expected { roles: [...], projects?: [...], not_after_ms?: <ms> }');
  });
});

describe('hlc_too_old (max_proposal_age_ms)', () => {
  /** A Boot_ConfigOk whose HLC is `behindMs` before its entry's log time. */
  function proposeBehind(behindMs: number, over: Record<string, unknown>): ReturnType<World['propose']> {
    const w = new World(castGenesis(over));
    w.advance(10 * 86_400_000);
    const logMs = w.logMs + 1;
    return w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, {
      hlc: formatHlc({ ms: logMs - behindMs, logical: 0 }),
    });
  }
  it('Given max_proposal_age_ms 5,000, When the HLC is exactly 5,000 ms behind log time, Then accepted; 5,001 ms, Then hlc_too_old', () => {
    ok(proposeBehind(5000, { max_proposal_age_ms: 5000 }));
    const r = proposeBehind(5001, { max_proposal_age_ms: 5000 });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'hlc_too_old' });
    expect(r.decision.message).toContain('is 5001 ms behind log time (max 5000)');
  });
  it('Given no max_proposal_age_ms, Then idem_retention_ms is the bound (here one hour)', () => {
    const HOUR = 3_600_000;
    ok(proposeBehind(HOUR, { idem_retention_ms: HOUR }));
    expect(proposeBehind(HOUR + 1, { idem_retention_ms: HOUR }).decision.code).toBe('hlc_too_old');
  });
  it('Given a tiny idem_retention_ms and no max_proposal_age_ms, Then the bound is 60 s, not less', () => {
    ok(proposeBehind(60_000, { idem_retention_ms: 10 }));
    expect(proposeBehind(60_001, { idem_retention_ms: 10 }).decision.code).toBe('hlc_too_old');
  });
  it('Given a genesis max_proposal_age_ms outside 1,000..1 year, Then parsing names the field; the default configuration does not carry it', () => {
    const core = createCore(nodeHasher);
    for (const v of [999, 365 * 86_400_000 + 1, 'x']) {
      const g = core.parseGenesis(castGenesis({ max_proposal_age_ms: v }));
      expect(g.ok ? 'ok' : `${g.error.path}: ${g.error.message}`, String(v))
        .toBe(`genesis.max_proposal_age_ms: expected an integer in 1000..${365 * 86_400_000}`);
    }
    const d = core.parseGenesis(castGenesis());
    expect(d.ok && 'max_proposal_age_ms' in d.value.config).toBe(false);
  });
});
