/**
 * An idem key names one request (Stripe's rule): repeating the same request under the key is a
 * `duplicate` answering the original decision; using the key for another transition or other
 * inputs is `idem_conflict`, never a duplicate of something else, and changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { createCore } from '../../../src/core/index.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { CAST, World } from '../../../src/proving/sim/world.js';
import { ok } from '../../../src/proving/sim/walk.js';

const fresh = createCore(nodeHasher);

describe('idem_conflict', () => {
  const grant = { identity: CAST.c3.signer, roles: ['voter'] };

  it('Given an accepted key, When the same request is re-sent with a new HLC, Then duplicate of the original', () => {
    const w = new World();
    const first = ok(w.propose(CAST.admin, 'Identity_Grant', grant, { idem: 'k-1' }));
    const again = w.propose(CAST.admin, 'Identity_Grant', grant, { idem: 'k-1' });
    expect(again.decision.outcome).toBe('duplicate');
    expect(again.decision.original).toMatchObject({ wal_seq: first.decision.seq });
  });

  it('Given an accepted key, When another transition uses it, Then idem_conflict and the state is untouched', () => {
    const w = new World();
    const first = ok(w.propose(CAST.admin, 'Identity_Grant', grant, { idem: 'k-1' }));
    const before = fresh.hashes(w.deployment); // Identity_* is decided in the deployment chain
    const r = w.propose(CAST.admin, 'Identity_Revoke', grant, { idem: 'k-1' });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'idem_conflict', failing_guard: 'idempotency' });
    expect(r.decision.message).toContain(`WAL seq ${first.decision.seq}`);
    expect(r.decision.message).toContain('Identity_Grant:');
    expect(fresh.hashes(r.state)).toEqual(before);
  });

  it('Given an accepted key, When the same transition comes with other inputs, Then idem_conflict', () => {
    const w = new World();
    ok(w.propose(CAST.admin, 'Identity_Grant', grant, { idem: 'k-1' }));
    const r = w.propose(CAST.admin, 'Identity_Grant', { ...grant, roles: ['council'] }, { idem: 'k-1' });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'idem_conflict' });
  });

  it('Given a rejected proposal, When its key is reused for another request, Then it is decided afresh (only accepted keys are remembered)', () => {
    const w = new World();
    const refused = w.propose(CAST.stranger, 'Identity_Grant', grant, { idem: 'k-2' });
    expect(refused.decision.outcome).toBe('rejected');
    ok(w.propose(CAST.admin, 'Identity_Revoke', grant, { idem: 'k-2' }));
  });
});
