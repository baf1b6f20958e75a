/**
 * Writer keys in the registry (contract §2: "`writers` are part of the same registry") and
 * identity safety (issue: lock it down, items 4 and 7): the genesis `writers`, Writer_Rotate,
 * the reserved `writer` role, self-grants of admin/feeder, and the last admin.
 */
import { describe, expect, it } from 'vitest';
import { createCore, writerAllowed, writerKeys } from '../../../src/core/index.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { DeploymentSim } from '../../../src/proving/sim/deployment.js';
import { CAST, actor, castGenesis } from '../../../src/proving/sim/world.js';
import type { JsonObject } from '../../../src/core/encoding/json.js';

const W1 = actor('writer-1');
const W2 = actor('writer-2');

describe('writer keys', () => {
  it('Given a genesis with writers, When it is parsed, Then those keys hold the writer role and only they may sign records', () => {
    const sim = new DeploymentSim(castGenesis({ writers: [W1.signer] }));
    const ids = sim.deployment.identities;
    expect(writerKeys(ids)).toEqual([W1.signer]);
    expect(ids[W1.signer]?.roles).toEqual(['writer']);
    expect(writerAllowed(ids, W1.signer)).toBe(true);
    expect(writerAllowed(ids, W2.signer)).toBe(false);
    expect(writerAllowed(ids, CAST.admin.signer)).toBe(false);
  });

  it('Given a genesis without writers, Then the registry is unpinned: any key may sign records', () => {
    const sim = new DeploymentSim(castGenesis());
    expect(writerKeys(sim.deployment.identities)).toEqual([]);
    expect(writerAllowed(sim.deployment.identities, W2.signer)).toBe(true);
  });

  it('Given bad genesis writers, Then parsing names the field and the problem', () => {
    const core = createCore(nodeHasher);
    const bad = (writers: unknown): string => {
      const g = core.parseGenesis(castGenesis({ writers }));
      return g.ok ? 'ok' : `${g.error.path}: ${g.error.message}`;
    };
    expect(bad([])).toBe('genesis.writers: expected at least one key (or leave writers out)');
    expect(bad(['nope'])).toBe('genesis.writers: "nope" is not of the form hmmm:pubkey:<64 hex>');
    expect(bad('x')).toBe('genesis.writers: expected an array of at most 16 strings');
  });

  it('Given writer-1, When an admin rotates in writer-2 then out writer-1, Then each step is accepted and the registry follows', () => {
    const sim = new DeploymentSim(castGenesis({ writers: [W1.signer] }));
    const add = sim.propose(CAST.admin, null, 'Writer_Rotate', { add: [W2.signer] });
    expect(add.decision.outcome).toBe('accepted');
    expect(writerKeys(sim.deployment.identities)).toEqual([W1.signer, W2.signer].sort());
    const rm = sim.propose(CAST.admin, null, 'Writer_Rotate', { remove: [W1.signer] });
    expect(rm.decision.outcome).toBe('accepted');
    expect(writerKeys(sim.deployment.identities)).toEqual([W2.signer]);
    // A key left with no role leaves the registry.
    expect(sim.deployment.identities[W1.signer]).toBeUndefined();
    expect(sim.deployment.epochs['writer']).toBe(2);
  });

  it('Given rotations that name nothing, a stranger, a writer already there, both lists, or leave none, Then each is invalid_writers with its reason and the registry is untouched', () => {
    const sim = new DeploymentSim(castGenesis({ writers: [W1.signer] }));
    const before = sim.deployment.identities;
    const cases: [JsonObject, string][] = [
      [{}, 'name at least one key in add or remove'],
      [{ add: [], remove: [] }, 'name at least one key in add or remove'],
      [{ remove: [W2.signer] }, `${W2.signer} is not a writer`],
      [{ add: [W1.signer] }, `${W1.signer} is a writer already`],
      [{ add: [W2.signer], remove: [W2.signer] }, `${W2.signer} is both added and removed`],
      [{ remove: [W1.signer] }, 'the rotation would leave no writer; add the successor in the same rotation or before'],
    ];
    for (const [inputs, reason] of cases) {
      const r = sim.propose(CAST.admin, null, 'Writer_Rotate', inputs);
      expect(r.decision, JSON.stringify(inputs)).toMatchObject({ outcome: 'rejected', code: 'invalid_writers' });
      expect(r.decision.message).toContain(reason);
      expect(sim.deployment.identities).toBe(before);
    }
    // Adding and removing in one rotation is the one-step swap.
    const swap = sim.propose(CAST.admin, null, 'Writer_Rotate', { add: [W2.signer], remove: [W1.signer] });
    expect(swap.decision.outcome).toBe('accepted');
    expect(writerKeys(sim.deployment.identities)).toEqual([W2.signer]);
  });

  it('Given an operator (not an admin), When it proposes Writer_Rotate, Then unauthorized_role', () => {
    const sim = new DeploymentSim(castGenesis({ writers: [W1.signer] }));
    const r = sim.propose(CAST.operator, null, 'Writer_Rotate', { add: [W2.signer] });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'unauthorized_role' });
  });

  it('Given Identity_Grant or Identity_Revoke naming the writer role, Then reserved_role and nothing changes', () => {
    const sim = new DeploymentSim(castGenesis({ writers: [W1.signer] }));
    const before = sim.deployment.identities;
    const g = sim.propose(CAST.admin, null, 'Identity_Grant', { identity: W2.signer, roles: ['writer'] });
    expect(g.decision).toMatchObject({ outcome: 'rejected', code: 'reserved_role' });
    const r = sim.propose(CAST.admin, null, 'Identity_Revoke', { identity: W1.signer, roles: ['writer'] });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'reserved_role' });
    expect(sim.deployment.identities).toBe(before);
  });
});

describe('identity safety', () => {
  it('Given an admin, When it grants admin or feeder to its own key, Then self_grant; granting itself voter, or admin to another key, is accepted', () => {
    const sim = new DeploymentSim();
    for (const roles of [['admin'], ['feeder'], ['voter', 'feeder']]) {
      const r = sim.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.admin.signer, roles });
      expect(r.decision, roles.join()).toMatchObject({ outcome: 'rejected', code: 'self_grant' });
    }
    expect(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.admin.signer, roles: ['voter'] }).decision.outcome).toBe('accepted');
    expect(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.operator.signer, roles: ['admin'] }).decision.outcome).toBe('accepted');
  });

  it('Given one admin, When admin is revoked from it, Then last_admin; with a second admin the revocation is accepted', () => {
    const sim = new DeploymentSim();
    const before = sim.deployment.identities;
    const r = sim.propose(CAST.admin, null, 'Identity_Revoke', { identity: CAST.admin.signer, roles: ['admin'] });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'last_admin' });
    expect(sim.deployment.identities).toBe(before);
    // Revoking another role from the last admin is fine.
    expect(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.admin.signer, roles: ['voter'] }).decision.outcome).toBe('accepted');
    expect(sim.propose(CAST.admin, null, 'Identity_Revoke', { identity: CAST.admin.signer, roles: ['voter'] }).decision.outcome).toBe('accepted');
    ok(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.operator.signer, roles: ['admin'] }));
    const again = sim.propose(CAST.admin, null, 'Identity_Revoke', { identity: CAST.admin.signer, roles: ['admin'] });
    expect(again.decision.outcome).toBe('accepted');
    expect(sim.deployment.identities[CAST.admin.signer]).toBeUndefined();
  });

  it('Given a second admin limited to projects, Then it does not count: the last deployment admin is still kept, and cannot be limited to projects itself', () => {
    const sim = new DeploymentSim();
    ok(sim.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.operator.signer, roles: ['admin'], projects: ['default'] }));
    const r = sim.propose(CAST.admin, null, 'Identity_Revoke', { identity: CAST.admin.signer, roles: ['admin'] });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'last_admin' });
    const limit = sim.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.admin.signer, roles: ['voter'], projects: ['default'] });
    expect(limit.decision).toMatchObject({ outcome: 'rejected', code: 'last_admin' });
    expect(limit.decision.message).toContain('limiting it to projects would leave none');
  });
});

function ok<T extends { decision: { outcome: string } }>(r: T): T {
  expect(r.decision.outcome).toBe('accepted');
  return r;
}

describe('clock skew is bounded', () => {
  it('Given a genesis max_clock_skew_ms past 5,000 ms, Then it is refused; 5,000 and the 5,000 default are taken', () => {
    const core = createCore(nodeHasher);
    const g = core.parseGenesis(castGenesis({ max_clock_skew_ms: 5001 }));
    expect(g.ok ? 'ok' : `${g.error.path}: ${g.error.message}`).toBe('genesis.max_clock_skew_ms: expected an integer in 0..5000');
    const at = core.parseGenesis(castGenesis({ max_clock_skew_ms: 5000 }));
    expect(at.ok && at.value.config.max_clock_skew_ms).toBe(5000);
    const dflt = core.parseGenesis(castGenesis());
    expect(dflt.ok && dflt.value.config.max_clock_skew_ms).toBe(5000);
  });
});
