/**
 * The fixed checks of ARCHITECTURE §3, in order, each with its stable code. Every rejection
 * must leave the state untouched (same object, same hash).
 */
import { describe, expect, it } from 'vitest';
import type { StepResult, WalEntry, WalSeq } from '../../../src/core/index.js';
import { CAST, World, actor, castGenesis, h } from '../../../src/proving/sim/world.js';
import { boot, ingest, ok, toExecution } from '../../../src/proving/sim/walk.js';

function expectRejected(w: World, r: StepResult, code: string, guard?: string): void {
  expect(r.decision.outcome, `${r.decision.code ?? ''} ${r.decision.message ?? ''}`).toBe('rejected');
  expect(r.decision.code).toBe(code);
  if (guard !== undefined) expect(r.decision.failing_guard).toBe(guard);
  expect(r.decision.message).toBeTruthy();
  expect(r.decision.events).toEqual([]);
  // State untouched: the returned state, hashed afresh, has every hash of the state before.
  expect(w.core.hashes(r.state)).toEqual(r.pre);
}

describe('schema stage', () => {
  it('Given a malformed envelope, When decided, Then it is rejected as malformed_envelope', () => {
    const w = new World();
    const entry: WalEntry = {
      type: 'malformed', seq: 1 as WalSeq, log_ms: w.logMs, channel: 'proposal', name: null,
      code: 'msgpack_decode', message: 'unexpected end of buffer',
    };
    const r = w.apply(entry);
    expectRejected(w, r, 'malformed_envelope', 'schema');
    expect(r.decision.message).toContain('msgpack_decode');
  });

  it('Given a body that is not JSON, Then invalid_proposal', () => {
    const w = new World();
    const r = w.apply(w.proposalEntry(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { tamper: () => '{not json' }));
    expectRejected(w, r, 'invalid_proposal', 'schema');
  });

  it('Given a body with keys out of JCS order, Then non_canonical_body', () => {
    const w = new World();
    const r = w.apply(w.proposalEntry(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, {
      tamper: (t) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(t) as object).reverse())),
    }));
    expectRejected(w, r, 'non_canonical_body');
  });

  it('Given an unknown field, Then invalid_proposal naming the field', () => {
    const w = new World();
    const r = w.apply(w.proposalEntry(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, {
      tamper: (t) => JSON.stringify({ ...(JSON.parse(t) as object), zzz: 1 }),
    }));
    expectRejected(w, r, 'invalid_proposal');
    expect(r.decision.message).toContain('zzz');
  });

  it('Given an unknown transition, Then unknown_transition', () => {
    const w = new World();
    expectRejected(w, w.propose(CAST.operator, 'Boot_Nope'), 'unknown_transition');
  });

  it('Given an automatic transition proposed, Then not_proposable', () => {
    const w = new World();
    expectRejected(w, w.propose(CAST.operator, 'Policy_Quarantine'), 'not_proposable');
  });

  it('Given a subject naming another transition, Then subject_mismatch', () => {
    const w = new World();
    const r = w.apply(w.proposalEntry(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { name: 'Boot_Licensed' }));
    expectRejected(w, r, 'subject_mismatch');
  });

  it('Given inputs that break the schema, Then invalid_inputs naming the path', () => {
    const w = new World();
    const r = w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: 'nope' });
    expectRejected(w, r, 'invalid_inputs');
    expect(r.decision.message).toContain('inputs.config_hash');
  });

  it('Given an inputs_hash that is not the hash of the inputs, Then inputs_hash_mismatch', () => {
    const w = new World();
    const r = w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { inputsHash: h('other') });
    expectRejected(w, r, 'inputs_hash_mismatch');
  });

  it('Given a bad HLC string, Then invalid_proposal naming hlc', () => {
    const w = new World();
    const r = w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { hlc: '2025-10-19T01:00:00Z#1' });
    expectRejected(w, r, 'invalid_proposal');
    expect(r.decision.message).toContain('hlc');
  });
});

describe('signature and authorization', () => {
  it('Given a body changed after signing, Then bad_signature', () => {
    const w = new World();
    const r = w.apply(w.proposalEntry(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, {
      tamper: (t) => t.replace('"Boot_ConfigOk"', '"Boot_ConfigOk"').replace('goal:', 'goaL:'),
    }));
    expectRejected(w, r, 'bad_signature', 'signature');
  });

  it('Given a signer not in the registry, Then unknown_signer', () => {
    const w = new World();
    expectRejected(w, w.propose(CAST.stranger, 'Boot_ConfigOk', { config_hash: h('c') }), 'unknown_signer', 'authorization');
  });

  it('Given a signer without an allowed role, Then unauthorized_role', () => {
    const w = new World();
    const r = w.propose(CAST.ingest, 'Boot_ConfigOk', { config_hash: h('c') });
    expectRejected(w, r, 'unauthorized_role', 'authorization');
    expect(r.decision.message).toContain('operator');
  });
});

describe('idempotency and HLC', () => {
  it('Given an accepted idem key, When re-submitted with a new HLC, Then duplicate answering the original', () => {
    const w = new World();
    const first = ok(w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { idem: 'k1' }));
    const again = w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { idem: 'k1', hash: first.pre.head });
    expect(again.decision.outcome).toBe('duplicate');
    expect(again.decision.original).toEqual({ wal_seq: first.decision.seq, outcome: 'accepted' });
    expect(again.stored).toBe(first.stored);
  });

  it('Given a rejected idem key, When retried correctly, Then it is accepted (only accepted keys are remembered)', () => {
    const w = new World();
    expectRejected(w, w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { idem: 'k', hash: h('x') }), 'stale_state_hash');
    ok(w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { idem: 'k' }));
  });

  it('Given an HLC not after the last accepted, Then hlc_regression', () => {
    const w = new World();
    const first = ok(w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }));
    const r = w.propose(CAST.admin, 'Identity_Grant', { identity: CAST.stranger.signer, roles: ['voter'] }, {
      hlc: first.decision.hlc ?? '',
    });
    // Same (ms, logical): the tie breaks by signer then idem key, so compare explicitly.
    const expected = CAST.admin.signer > CAST.operator.signer ? 'accepted' : 'rejected';
    expect(r.decision.outcome).toBe(expected);
    const older = w.propose(CAST.admin, 'Identity_Grant', { identity: CAST.stranger.signer, roles: ['council'] }, {
      hlc: '2025-10-19T00:00:00.000+00:00#0',
    });
    expectRejected(w, older, 'hlc_regression', 'hlc');
  });

  it('Given an HLC further ahead of log time than max_clock_skew_ms, Then hlc_too_far_ahead', () => {
    const w = new World(castGenesis({ max_clock_skew_ms: 1000 }));
    const r = w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { hlc: '2030-01-01T00:00:00.000+00:00#0' });
    expectRejected(w, r, 'hlc_too_far_ahead', 'hlc');
  });
});

describe('gates, phase and concurrency', () => {
  it('Given the machine in BOOT, When a lifecycle transition is proposed, Then not_licensed', () => {
    const w = new World();
    expectRejected(w, w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'a' }] }), 'not_licensed', 'gate');
  });

  it('Given a region in another local state, Then invalid_phase', () => {
    const w = new World();
    boot(w);
    expectRejected(w, w.propose(CAST.ingest, 'Ingestion_BytesOk', { manifest_hash: h('m'), bytes_total: 1 }), 'invalid_phase', 'phase');
  });

  it('Given a stale HEAD hash on a global transition, Then stale_state_hash', () => {
    const w = new World();
    expectRejected(w, w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { hash: h('old') }), 'stale_state_hash', 'concurrency');
  });

  it('Given a region-scoped transition, Then it names the region hash, and HEAD is refused', () => {
    const w = new World();
    boot(w);
    const head = w.head();
    expectRejected(w, w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'a' }] }, { hash: head }), 'stale_state_hash');
    ok(w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'a' }] }));
  });

  it('Given a change in another region, Then a region-scoped proposal made before it still applies', () => {
    const w = new World();
    boot(w);
    const before = w.section('ingestion');
    ok(w.fact('capacity', { cpu_millis: 1, memory_mb: 1, slots: 1 }));
    ok(w.propose(CAST.env, 'Environment_CapacityOk', { cpu_millis: 1, memory_mb: 1, slots: 1 }));
    ok(w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'a' }] }, { hash: before }));
  });

  it('Given a monotone transition, Then any current_state_hash is accepted (CALM)', () => {
    const w = new World();
    toExecution(w);
    ok(w.beat('W1', 'plan'));
    ok(w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') }));
    ok(w.beat('W1', 'review'));
    ok(w.propose(CAST.c1, 'Execution_BeatReviewGate', { work_hash: h('w') }));
    ok(w.propose(CAST.c2, 'Execution_SubmitApproval', { work_hash: h('w') }, { hash: h('anything') }));
  });

  it('Given a facts change, Then HEAD does not move and in-flight global proposals stay valid', () => {
    const w = new World();
    const head = w.head();
    const r = ok(w.fact('tick', {}));
    expect(w.head()).toBe(head);
    expect(r.post.facts).not.toBe(r.pre.facts);
    ok(w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { hash: head }));
  });

  it('Given a TERMINATED machine, Then terminated', () => {
    const w = new World();
    ok(w.propose(CAST.operator, 'Control_Terminate', { reason: 'test' }));
    expectRejected(w, w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }), 'terminated', 'gate');
  });

  it('Given an unsigned-role stranger granted a role, Then the registry change authorizes them', () => {
    const w = new World();
    const s = actor('stranger');
    ok(w.propose(CAST.admin, 'Identity_Grant', { identity: s.signer, roles: ['operator'] }));
    ok(w.propose(s, 'Boot_ConfigOk', { config_hash: h('c') }));
    ok(w.propose(CAST.admin, 'Identity_Revoke', { identity: s.signer, roles: ['operator'] }));
    expect(w.state.identities[s.signer]).toBeUndefined();
    expectRejected(w, w.propose(s, 'Control_Pause', { reason: 'x' }), 'unknown_signer');
  });

  it('Given an identity grant naming an unknown role, Then invalid_inputs', () => {
    const w = new World();
    const r = w.propose(CAST.admin, 'Identity_Grant', { identity: CAST.stranger.signer, roles: ['emperor'] });
    expectRejected(w, r, 'invalid_inputs');
    expect(r.decision.message).toContain('inputs.roles[0]');
  });

  it('Given ingestion done, Then the decision carries every passed check and guard in order', () => {
    const w = new World();
    boot(w);
    ingest(w);
    const last = w.results[w.results.length - 1];
    expect(last?.decision.guard_outcomes.map((g) => g.guard)).toEqual([
      'schema', 'signature', 'authorization', 'idempotency', 'hlc', 'gate', 'phase', 'concurrency', 'policy',
    ]);
  });
});
