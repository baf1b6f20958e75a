/**
 * Accepted paths: every proposable transition in Given/When/Then form, walking the statechart
 * from BOOT through the lifecycle regions, EXECUTION and its loop, control and compensations.
 */
import { describe, expect, it } from 'vitest';
import { CAST, World, h } from '../../../src/proving/sim/world.js';
import { boot, elect, formCouncil, ingest, loop, ok, pinsOf, provision, toExecution } from '../../../src/proving/sim/walk.js';

describe('boot', () => {
  it('Given a fresh instance, When config is confirmed and the licence is active, Then PROJECT_LIFECYCLE', () => {
    const w = new World();
    expect(w.state.control.top).toBe('BOOT');
    boot(w);
    expect(w.state.control.top).toBe('PROJECT_LIFECYCLE');
    expect(w.state.boot).toMatchObject({ state: 'DONE', config_hash: h('config') });
    expect(w.state.boot.licensed_at_ms).toBeGreaterThan(0);
    expect(w.state.epochs['boot']).toBe(2);
  });
});

describe('lifecycle regions', () => {
  it('Given PROJECT_LIFECYCLE, When ingestion runs, Then READY pinned by content hash and version', () => {
    const w = new World();
    boot(w);
    ingest(w);
    expect(w.state.ingestion).toMatchObject({
      state: 'READY', content_hash: h('corpus-v1'), version: 'v1', bytes_total: 1024,
      validation: { checked: 10, failed: 0 }, sources: [{ uri: 'git://repo/a', kind: 'git' }],
    });
    expect(w.state.epochs['ingestion']).toBe(4);
  });

  it('Given profiles and votes, When the council forms, Then READY with a certificate over the member set', () => {
    const w = new World();
    boot(w);
    formCouncil(w);
    const c = w.state.council;
    expect(c.state).toBe('READY');
    expect(c.plan?.assignments).toEqual(
      [{ role: 'architect', agent: CAST.c1.signer }, { role: 'reviewer', agent: CAST.c2.signer }]
        .sort((a, b) => (a.role < b.role ? -1 : 1)),
    );
    expect(c.plan?.coverage).toEqual({ matched: 2, required: 2 });
    expect(c.member_set_hash).toBe(w.core.hash([CAST.c1.signer, CAST.c2.signer].sort()));
    expect(c.quorum_cert?.voters).toEqual([CAST.v1.signer, CAST.v2.signer].sort());
  });

  it('Given capacity, When the environment provisions and checks green, Then READY', () => {
    const w = new World();
    boot(w);
    provision(w);
    expect(w.state.environment).toMatchObject({
      state: 'READY', env_version: 'e1', assets: ['runner'], health: { checks_passed: 3 },
      allocation: { cpu_millis: 2000, memory_mb: 4096, slots: 1 },
    });
  });

  it('Given an amber healthcheck, When rechecked and green, Then READY', () => {
    const w = new World();
    boot(w);
    ok(w.fact('capacity', { cpu_millis: 10, memory_mb: 10, slots: 1 }));
    ok(w.propose(CAST.env, 'Environment_CapacityOk', { cpu_millis: 1, memory_mb: 1, slots: 1 }));
    ok(w.propose(CAST.env, 'Environment_Installed', { assets: ['a'], env_version: 'e1' }));
    ok(w.propose(CAST.env, 'Environment_Amber', { reasons: ['disk slow'] }));
    expect(w.state.environment.state).toBe('DEGRADED');
    expect(w.state.environment.amber_reasons).toEqual(['disk slow']);
    ok(w.propose(CAST.env, 'Environment_Recheck'));
    ok(w.propose(CAST.env, 'Environment_Green', { checks_passed: 1 }));
    expect(w.state.environment.state).toBe('READY');
  });
});

describe('execution', () => {
  it('Given all regions READY with matching pins, When AllReady, Then EXECUTION.PLAN with the pins', () => {
    const w = new World();
    toExecution(w);
    expect(w.state.control.top).toBe('EXECUTION');
    expect(w.state.execution.state).toBe('PLAN');
    expect(w.state.execution.pins).toEqual(pinsOf(w));
  });

  it('Given EXECUTION, When a full loop runs in its windows, Then back at PLAN with loop 1', () => {
    const w = new World();
    toExecution(w);
    loop(w, 1);
    expect(w.state.execution).toMatchObject({ state: 'PLAN', loop: 1, approvals: [], work_hash: null });
    loop(w, 2);
    expect(w.state.execution.loop).toBe(2);
  });

  it('Given quorum lost in EXECUTION, When the council is re-elected and recovery completes, Then EXECUTION again', () => {
    const w = new World();
    toExecution(w);
    ok(w.propose(CAST.c1, 'Execution_QuorumLost', { reason: 'two members unreachable' }));
    expect(w.state.control.top).toBe('RECOVERY');
    expect(w.state.council).toMatchObject({ state: 'ELECT', members: [], quorum_cert: null, term: 1 });
    expect(w.state.execution.pins).toBeNull();
    ok(w.propose(CAST.operator, 'Control_RecoveryComplete'));
    elect(w);
    ok(w.propose(CAST.c1, 'Council_McpGreen'));
    ok(w.propose(CAST.operator, 'Lifecycle_AllReady', { pins: pinsOf(w) }));
    expect(w.state.control.top).toBe('EXECUTION');
  });
});

describe('control', () => {
  it('Given EXECUTION.WORK, When paused and resumed, Then back in EXECUTION.WORK', () => {
    const w = new World();
    toExecution(w);
    ok(w.beat('W1', 'plan'));
    ok(w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') }));
    ok(w.propose(CAST.operator, 'Control_Pause', { reason: 'maintenance' }));
    expect(w.state.control).toMatchObject({ top: 'PAUSED', history: ['EXECUTION'], reason: 'maintenance' });
    ok(w.propose(CAST.operator, 'Control_Resume'));
    expect(w.state.control).toMatchObject({ top: 'EXECUTION', history: [], reason: null });
    expect(w.state.execution.state).toBe('WORK');
  });

  it('Given the lifecycle, When an operator enters recovery and completes it, Then PROJECT_LIFECYCLE', () => {
    const w = new World();
    boot(w);
    ok(w.propose(CAST.operator, 'Control_EnterRecovery', { reason: 'drill' }));
    expect(w.state.control.top).toBe('RECOVERY');
    ok(w.propose(CAST.operator, 'Control_RecoveryComplete'));
    expect(w.state.control.top).toBe('PROJECT_LIFECYCLE');
  });

  it('Given any live state, When terminated, Then TERMINATED with the reason', () => {
    const w = new World();
    boot(w);
    ok(w.propose(CAST.operator, 'Control_Terminate', { reason: 'project cancelled' }));
    expect(w.state.control).toMatchObject({ top: 'TERMINATED', reason: 'project cancelled', history: [] });
  });
});

describe('compensations', () => {
  it('Given ingestion READY, When the index is rolled back, Then VALIDATE without a content pin', () => {
    const w = new World();
    boot(w);
    ingest(w);
    ok(w.propose(CAST.ingest, 'Ingestion_RollbackIndex', { reason: 'bad embeddings' }));
    expect(w.state.ingestion).toMatchObject({ state: 'VALIDATE', content_hash: null, version: null, rollbacks: 1 });
    ok(w.propose(CAST.ingest, 'Ingestion_SchemaOk', { schema_version: 's1', checked: 1, failed: 0 }));
    ok(w.propose(CAST.ingest, 'Ingestion_CorpusBuilt', { content_hash: h('corpus-v2'), version: 'v2' }));
    expect(w.state.ingestion.version).toBe('v2');
  });

  it('Given environment READY, When deprovisioned, Then ALLOCATE with nothing allocated', () => {
    const w = new World();
    boot(w);
    provision(w);
    ok(w.propose(CAST.env, 'Environment_Deprovision', { reason: 'budget' }));
    expect(w.state.environment).toMatchObject({ state: 'ALLOCATE', allocation: null, assets: [], env_version: null });
  });

  it('Given a READY council, When a member is ejected and the plan still covers, Then ELECT in the next term', () => {
    const w = new World();
    boot(w);
    ok(w.propose(CAST.c1, 'Council_ProfilesLoaded', {
      required_roles: ['architect'],
      candidates: [
        { agent: CAST.c1.signer, capabilities: ['architect'] },
        { agent: CAST.c3.signer, capabilities: ['architect'] },
      ],
    }));
    expect(w.state.council.plan?.assignments).toEqual([{ role: 'architect', agent: [CAST.c1.signer, CAST.c3.signer].sort()[0] }]);
    const first = w.state.council.plan?.assignments[0]?.agent ?? '';
    ok(w.propose(CAST.operator, 'Council_Eject', { agent: first, reason: 'misbehaving' }));
    expect(w.state.council.state).toBe('ELECT');
    expect(w.state.council.term).toBe(1);
    expect(w.state.council.ejected).toEqual([first]);
    expect(w.state.council.plan?.assignments[0]?.agent).not.toBe(first);
  });

  it('Given a council whose only candidate is ejected, Then back to PLAN_ROLES', () => {
    const w = new World();
    boot(w);
    ok(w.propose(CAST.c1, 'Council_ProfilesLoaded', {
      required_roles: ['architect'], candidates: [{ agent: CAST.c1.signer, capabilities: ['architect'] }],
    }));
    ok(w.propose(CAST.operator, 'Council_Eject', { agent: CAST.c1.signer, reason: 'left' }));
    expect(w.state.council.state).toBe('PLAN_ROLES');
    expect(w.state.council.plan?.unmatched_roles).toEqual(['architect']);
  });

  it('Given a READY council, When re-elected, Then ELECT with no members and the next term', () => {
    const w = new World();
    boot(w);
    formCouncil(w);
    ok(w.propose(CAST.operator, 'Council_ReElect', { reason: 'rotation' }));
    expect(w.state.council).toMatchObject({ state: 'ELECT', members: [], quorum_cert: null, term: 1 });
  });
});
