/**
 * Facts and the automatic transitions they fire: licence grace → hard stop → restore, and
 * SHHH policy breaches → QUARANTINED → release (operator or clearing policy) or block.
 */
import { describe, expect, it } from 'vitest';
import { createCore, type StepResult } from '../../../src/core/index.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { CAST, World, castGenesis, h } from '../../../src/proving/sim/world.js';
import { boot, ingest, ok, toExecution } from '../../../src/proving/sim/walk.js';

/** A separate reducer, so "untouched" is checked by hashing from scratch, not from a cache. */
const fresh = createCore(nodeHasher);

function rejected(r: StepResult, code: string): void {
  expect(r.decision.outcome, `${r.decision.code ?? ''} ${r.decision.message ?? ''}`).toBe('rejected');
  expect(r.decision.code).toBe(code);
  // State untouched: the returned state, hashed afresh, has every hash of the state before;
  // unless the entry carried a project's catch-up (automatic transitions it owed to facts).
  if (r.decision.applied.length === 0) expect(fresh.hashes(r.state)).toEqual(r.pre);
}

describe('fact checks', () => {
  it('Given a fact from a signer without the feeder role, Then unauthorized_role', () => {
    const w = new World();
    rejected(w.fact('tick', {}, CAST.operator), 'unauthorized_role');
  });
  it('Given a fact from an unknown signer, Then unknown_signer', () => {
    const w = new World();
    rejected(w.fact('tick', {}, CAST.stranger), 'unknown_signer');
  });
  it('Given a payload that breaks its schema, Then invalid_fact naming the field', () => {
    const w = new World();
    const r = w.fact('capacity', { cpu_millis: -1, memory_mb: 1, slots: 1 });
    rejected(r, 'invalid_fact');
    expect(r.decision.message).toContain('payload.cpu_millis');
  });
  it('Given an INT-A frame as BACKBEAT publishes it (hex hlc, fractional tempo, RFC 3339 deadline with an offset), Then it is recorded with whole milli-bpm and BACKBEAT\'s hlc kept as data', () => {
    const w = new World();
    const r = w.apply(w.factEntry('backbeat', {
      type: 'backbeat.beatframe.v1', cluster_id: 'c', beat_index: 1, downbeat: true, phase: 'plan',
      hlc: '7fa3:0001:00a0', deadline_at: '2025-10-19T04:00:00.123456+02:00', tempo_bpm: 120.5,
      window_id: '0123456789abcdef0123456789abcdef',
    }));
    expect(r.decision.outcome).toBe('fact');
    expect(w.state.facts.backbeat).toMatchObject({
      tempo_mbpm: 120_500, source_hlc: '7fa3:0001:00a0', deadline_ms: Date.UTC(2025, 9, 19, 2, 0, 0, 123),
      window_id: '0123456789abcdef0123456789abcdef',
    });
  });
  it('Given a tempo outside 0.1..1000 or a deadline that is not RFC 3339, Then invalid_fact naming the field', () => {
    const frame = (over: Record<string, unknown>) => ({
      type: 'backbeat.beatframe.v1', cluster_id: 'c', beat_index: 1, downbeat: true, phase: 'plan',
      hlc: '7fa3:0001:00a0', deadline_at: '2025-10-19T02:00:00Z', tempo_bpm: 2, window_id: 'w', ...over,
    });
    for (const [over, field] of [
      [{ tempo_bpm: 0.09 }, 'payload.tempo_bpm: expected a number in 0.1..1000'],
      [{ tempo_bpm: 1000.5 }, 'payload.tempo_bpm: expected a number in 0.1..1000'],
      [{ deadline_at: '2025-10-19 02:00:00Z' }, 'payload.deadline_at: expected an RFC 3339'],
      [{ deadline_at: '2025-10-19T23:59:60Z' }, 'payload.deadline_at: expected an RFC 3339'],
      [{ deadline_at: '2025-10-19T02:00:00+24:00' }, 'payload.deadline_at: expected an RFC 3339'],
    ] as const) {
      const w = new World();
      const r = w.apply(w.factEntry('backbeat', frame(over)));
      rejected(r, 'invalid_fact');
      expect(r.decision.message, JSON.stringify(over)).toContain(field);
    }
  });
  it('Given a fact kind other than its subject, Then subject_mismatch', () => {
    const w = new World();
    const e = w.factEntry('tick', {});
    rejected(w.apply({ ...e, name: 'license' }), 'subject_mismatch');
  });
  it('Given a fact HLC not after the recorded one, Then stale_fact', () => {
    const w = new World();
    ok(w.apply(w.factEntry('tick', {}, CAST.feeder, { hlc: '2025-10-19T01:00:00.000+00:00#5' })));
    rejected(w.apply(w.factEntry('tick', {}, CAST.feeder, { hlc: '2025-10-19T01:00:00.000+00:00#5' })), 'stale_fact');
  });
  it('Given a beat frame not after the last beat of its cluster, Then stale_fact', () => {
    const w = new World();
    ok(w.beat('W1', 'plan'));
    const b = w.state.facts.backbeat;
    rejected(w.apply(w.factEntry('backbeat', {
      type: 't', cluster_id: 'c1', beat_index: b.beat_index, downbeat: false, phase: 'plan',
      hlc: '2025-10-19T01:00:00.000+00:00#0', deadline_at: '2025-10-19T02:00:00Z', tempo_bpm: 120, window_id: 'W2',
    })), 'stale_fact');
  });
  it('Given a policy version not after the current one, Then stale_fact', () => {
    const w = new World(castGenesis({ policy: { version: 3 } }));
    rejected(w.fact('policy', { version: 3 }), 'stale_fact');
  });
  it('Given a valid fact, Then outcome fact, facts_hash moves and HEAD does not', () => {
    const w = new World();
    const r = ok(w.fact('mcp', { tools: [{ name: 'b', reachable: true, version: '2' }, { name: 'a', reachable: false, version: '1' }] }));
    expect(r.decision.outcome).toBe('fact');
    expect(r.post.facts).not.toBe(r.pre.facts);
    expect(r.post.head).toBe(r.pre.head);
    expect(Object.keys(w.state.facts.mcp.tools)).toEqual(['a', 'b']);
  });
});

describe('licence grace', () => {
  it('Given EXECUTION, When the licence is revoked, Then DEGRADED.GRACE and only compensations apply', () => {
    const w = new World();
    toExecution(w);
    const head = w.head();
    // The fact is the deployment's record; the project reads it through its view at once and
    // records the catch-up with its next entry (src/core/world/world.ts).
    const r = ok(w.fact('license', { status: 'revoked' }));
    expect(r.decision.applied).toEqual([]);
    expect(w.head()).not.toBe(head);
    expect(w.state.control).toMatchObject({ top: 'DEGRADED', degraded: 'GRACE', history: ['EXECUTION'] });
    expect(w.state.control.grace_until_ms).toBe(w.logMs + 60_000);
    const q = w.propose(CAST.c1, 'Execution_QuorumLost', { reason: 'x' });
    rejected(q, 'license_degraded');
    expect(q.decision.applied).toEqual(['Control_LicenseGrace']);
    ok(w.propose(CAST.env, 'Environment_Deprovision', { reason: 'licence gone' }));
  });
  it('Given DEGRADED.GRACE, When the licence is restored, Then back where it was', () => {
    const w = new World();
    toExecution(w);
    ok(w.fact('license', { status: 'revoked' }));
    // The project acts while revoked, so DEGRADED is in its chain; then the licence returns.
    const q = w.propose(CAST.c1, 'Execution_QuorumLost', { reason: 'x' });
    expect(q.decision.applied).toEqual(['Control_LicenseGrace']);
    ok(w.fact('license', { status: 'active' }));
    expect(w.state.control).toMatchObject({ top: 'EXECUTION', degraded: null, grace_until_ms: null, history: [] });
    const next = w.propose(CAST.c1, 'Execution_QuorumLost', { reason: 'y' }, { hash: h('stale') });
    expect(next.decision.applied).toEqual(['Control_LicenseRestored']);
  });
  it('Given a compensation during grace, When the licence is restored, Then RECOVERY, not EXECUTION', () => {
    const w = new World();
    toExecution(w);
    ok(w.fact('license', { status: 'revoked' }));
    ok(w.propose(CAST.env, 'Environment_Deprovision', { reason: 'cost' }));
    ok(w.fact('license', { status: 'active' }));
    expect(w.state.control.top).toBe('RECOVERY');
    expect(w.state.control.reason).toContain('compensation');
  });
  it('Given a pause, a revoked licence and a compensation, When restored and resumed, Then RECOVERY', () => {
    const w = new World();
    toExecution(w);
    ok(w.propose(CAST.operator, 'Control_Pause', { reason: 'window' }));
    ok(w.fact('license', { status: 'revoked' }));
    expect(w.state.control.history).toEqual(['EXECUTION', 'PAUSED']);
    ok(w.propose(CAST.ingest, 'Ingestion_RollbackIndex', { reason: 'bad index' }));
    ok(w.fact('license', { status: 'active' }));
    expect(w.state.control.top).toBe('PAUSED');
    ok(w.propose(CAST.operator, 'Control_Resume'));
    expect(w.state.control.top).toBe('RECOVERY');
  });
  it('Given grace over, When a proposal arrives before the tick, Then license_expired; the tick hard-stops', () => {
    const w = new World();
    boot(w);
    ok(w.fact('license', { status: 'revoked' }));
    w.advance(61_000);
    const late = w.propose(CAST.env, 'Environment_Deprovision', { reason: 'x' });
    rejected(late, 'license_expired');
    expect(late.decision.applied).toEqual(['Control_LicenseGrace', 'Control_LicenseExpired']);
    const t = ok(w.fact('tick', {}));
    expect(t.decision.applied).toEqual([]);
    expect(w.state.control.degraded).toBe('HARD_STOP');
    rejected(w.propose(CAST.env, 'Environment_Deprovision', { reason: 'x' }), 'license_expired');
    ok(w.fact('license', { status: 'active' }));
    expect(w.state.control.top).toBe('PROJECT_LIFECYCLE');
  });
  it('Given DEGRADED, When terminated, Then TERMINATED even after the grace period', () => {
    const w = new World();
    boot(w);
    ok(w.fact('license', { status: 'revoked' }));
    w.advance(120_000);
    ok(w.propose(CAST.operator, 'Control_Terminate', { reason: 'licence lost' }));
    expect(w.state.control.top).toBe('TERMINATED');
  });
});

describe('policy quarantine', () => {
  function breached(): World {
    const w = new World(castGenesis({ policy: { version: 1, denied_source_patterns: ['*://evil.example/*'] } }));
    boot(w);
    return w;
  }
  it('Given a denied source, When resolved, Then quarantined with the rationale and the idem key kept', () => {
    const w = breached();
    const r = w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'https://evil.example/x' }] }, { idem: 'q1' });
    expect(r.decision).toMatchObject({ outcome: 'quarantined', code: 'policy_breach', failing_guard: 'policy' });
    expect(r.decision.applied).toEqual(['Policy_Quarantine']);
    expect(w.state.control).toMatchObject({ top: 'QUARANTINED', history: ['PROJECT_LIFECYCLE'] });
    expect(w.state.policy.quarantine?.rationale).toContain('evil.example');
    expect(w.state.ingestion.state).toBe('DISCOVER');
    const again = w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'https://evil.example/x' }] }, { idem: 'q1' });
    expect(again.decision.original).toEqual({ wal_seq: r.decision.seq, outcome: 'quarantined' });
  });
  it('Given QUARANTINED, Then everything but release and block is refused with in_quarantine', () => {
    const w = breached();
    w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'https://evil.example/x' }] });
    rejected(w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'git://ok' }] }), 'in_quarantine');
    rejected(w.propose(CAST.operator, 'Control_Pause', { reason: 'x' }), 'in_quarantine');
  });
  it('Given QUARANTINED, When an operator releases it, Then back to the saved configuration', () => {
    const w = breached();
    w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'https://evil.example/x' }] });
    ok(w.propose(CAST.operator, 'Policy_Release', { justification: 'false positive, ticket 42' }));
    expect(w.state.control.top).toBe('PROJECT_LIFECYCLE');
    expect(w.state.policy).toMatchObject({ quarantine: null, quarantines: 1, releases: 1 });
  });
  it('Given QUARANTINED, When a newer policy clears the breach, Then released automatically', () => {
    const w = breached();
    w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'https://evil.example/x' }] });
    const still = ok(w.fact('policy', { version: 2, denied_source_patterns: ['https://evil.example/*'] }));
    expect(still.decision.applied).toEqual([]);
    expect(w.state.control.top).toBe('QUARANTINED');
    const cleared = ok(w.fact('policy', { version: 3, denied_source_patterns: [] }));
    expect(cleared.decision.applied).toEqual([]);
    expect(w.state.control.top).toBe('PROJECT_LIFECYCLE');
    const next = ok(w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'git://a' }] }));
    expect(next.decision.applied).toEqual(['Policy_AutoRelease', 'Ingestion_SourcesResolved']);
  });
  it('Given QUARANTINED, When the block is confirmed, Then TERMINATED', () => {
    const w = breached();
    w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'https://evil.example/x' }] });
    ok(w.propose(CAST.operator, 'Policy_ConfirmedBlock', { justification: 'exfiltration attempt' }));
    expect(w.state.control.top).toBe('TERMINATED');
  });
  it('Given a policy tightened after sources resolved, When SchemaOk, Then quarantined (VALIDATE → QUARANTINED)', () => {
    const w = new World();
    boot(w);
    ok(w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'https://mirror.example/a' }] }));
    ok(w.propose(CAST.ingest, 'Ingestion_BytesOk', { manifest_hash: h('m'), bytes_total: 1 }));
    ok(w.fact('policy', { version: 1, denied_source_patterns: ['*mirror.example*'] }));
    const r = w.propose(CAST.ingest, 'Ingestion_SchemaOk', { schema_version: 's', checked: 1, failed: 0 });
    expect(r.decision.outcome).toBe('quarantined');
  });
  it('Given a council size limit, When too many candidates load, Then quarantined', () => {
    const w = new World(castGenesis({ policy: { version: 1, max_council_size: 1 } }));
    boot(w);
    const r = w.propose(CAST.c1, 'Council_ProfilesLoaded', {
      required_roles: ['a'],
      candidates: [{ agent: CAST.c1.signer, capabilities: ['a'] }, { agent: CAST.c2.signer, capabilities: ['a'] }],
    });
    expect(r.decision.outcome).toBe('quarantined');
    expect(r.decision.message).toContain('council_size');
  });
  it('Given required evidence, When a proposal lacks it, Then quarantined; with it, accepted', () => {
    const g = castGenesis({ policy: { version: 1, required_evidence: { Ingestion_CorpusBuilt: ['ucxl://chorus:spec@'] } } });
    const w = new World(g);
    boot(w);
    ingestUntilIndex(w);
    const bad = w.propose(CAST.ingest, 'Ingestion_CorpusBuilt', { content_hash: h('c'), version: 'v' });
    expect(bad.decision.outcome).toBe('quarantined');
    const w2 = new World(g);
    boot(w2);
    ingestUntilIndex(w2);
    ok(w2.propose(CAST.ingest, 'Ingestion_CorpusBuilt', { content_hash: h('c'), version: 'v' }, {
      evidence: ['ucxl://chorus:spec@council:plan/*^/1'],
    }));
  });
});

function ingestUntilIndex(w: World): void {
  ok(w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'git://a' }] }));
  ok(w.propose(CAST.ingest, 'Ingestion_BytesOk', { manifest_hash: h('m'), bytes_total: 1 }));
  ok(w.propose(CAST.ingest, 'Ingestion_SchemaOk', { schema_version: 's', checked: 1, failed: 0 }));
}

describe('ingest helper sanity', () => {
  it('Given the walk helpers, Then ingestion reaches READY', () => {
    const w = new World();
    boot(w);
    ingest(w);
    expect(w.state.ingestion.state).toBe('READY');
  });
});
