/**
 * Many projects in one deployment (contract v2; src/core/world/world.ts): the registry and
 * Project_Create, routing of every entry to exactly one chain, signatures that never cross
 * projects, idempotency and HLC per chain, and facts reaching projects by catch-up.
 */
import { describe, expect, it } from 'vitest';
import { DEPLOYMENT_CHAIN } from '../../../src/core/index.js';
import { DeploymentSim } from '../../../src/proving/sim/deployment.js';
import { CAST, World, actor, castGenesis, h } from '../../../src/proving/sim/world.js';
import { createCore } from '../../../src/core/index.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { COUNCIL_INPUTS, boot, ingest, loop, ok, toExecution } from '../../../src/proving/sim/walk.js';

describe('the registry', () => {
  it('Given a v1 genesis (no projects field), When the deployment starts, Then it holds one project named default', () => {
    const sim = new DeploymentSim();
    expect(Object.keys(sim.deployment.projects)).toEqual(['default']);
    expect(sim.view('default').meta.project).toBe('default');
    expect(sim.view('default').control.top).toBe('BOOT');
  });

  it('Given genesis projects [], When the deployment starts, Then no project exists and a v1 proposal is unknown_project', () => {
    const sim = new DeploymentSim(castGenesis({ projects: [] }));
    expect(sim.projects.size).toBe(0);
    const r = sim.propose(CAST.operator, 'default', 'Boot_ConfigOk', { config_hash: h('c') }, { v1: true });
    expect(r.chain).toBe(DEPLOYMENT_CHAIN);
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'unknown_project' });
    expect(r.decision.message).toContain('project default is not in the registry');
  });

  it('Given an admin, When Project_Create names a new project with parameters, Then it is registered with them and the rest from the genesis', () => {
    const sim = new DeploymentSim();
    const r = ok(sim.create('chorus-api', {
      quorum_threshold: 3,
      mcp_pins: [{ tool: 'repo-tools', version: '2.0.0' }],
      window_policy: [{ class: 'plan', phases: ['plan', 'execute'] }],
    }));
    expect(r.chain).toBe(DEPLOYMENT_CHAIN);
    expect(r.created.map((c) => c.project)).toEqual(['chorus-api']);
    expect(sim.deployment.projects['chorus-api']).toMatchObject({ created_seq: r.decision.seq });
    const cfg = sim.view('chorus-api').meta.config;
    expect(cfg.quorum_threshold).toBe(3);
    expect(cfg.approvals_threshold).toBe(2); // the genesis value
    expect(cfg.mcp_pins).toEqual({ 'repo-tools': '2.0.0' });
    expect(cfg.window_policy['plan']).toEqual(['execute', 'plan']);
    expect(cfg.window_policy['review']).toEqual(['review']);
    expect(sim.view('chorus-api').meta.project).toBe('chorus-api');
  });

  it('Given a project created with required_roles, When its council plan leaves one out, Then coverage_incomplete names it; a plan naming every one passes', () => {
    const sim = new DeploymentSim();
    ok(sim.create('strict', { required_roles: ['security', 'architect', 'reviewer'] }));
    ok(sim.create('lenient'));
    expect(sim.view('strict').meta.config.required_roles).toEqual(['architect', 'reviewer', 'security']);
    expect(sim.view('lenient').meta.config.required_roles).toBeUndefined();
    // A configuration without required roles hashes as one written before the field existed.
    expect(sim.deployment.projects['lenient']?.config_hash).toBe(sim.deployment.projects['default']?.config_hash);
    const strict = sim.lens('strict');
    const lenient = sim.lens('lenient');
    for (const w of [strict, lenient]) {
      boot(w);
      ingest(w);
    }
    const before = sim.core.hashes(sim.view('strict')).head;
    const r = strict.propose(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS);
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'coverage_incomplete', failing_guard: 'formation' });
    const formation = r.decision.guard_outcomes.find((g) => g.guard === 'formation');
    expect(formation?.reasons).toContain('role security is required by the project but not in required_roles');
    expect(sim.core.hashes(sim.view('strict')).head).toBe(before); // a rejection changes nothing
    expect(sim.view('strict').council.plan).toBeNull();
    // The same plan is enough for a project that requires nothing.
    ok(lenient.propose(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS));
    // Naming (and covering) every required role passes.
    const full = {
      required_roles: ['architect', 'reviewer', 'security'],
      candidates: [...COUNCIL_INPUTS.candidates, { agent: CAST.c3.signer, capabilities: ['security'] }],
    };
    ok(strict.propose(CAST.c1, 'Council_ProfilesLoaded', full));
    expect(sim.view('strict').council.plan?.required_roles).toEqual(['architect', 'reviewer', 'security']);
  });

  it('Given required_roles [] or a role named twice, When Project_Create, Then [] means none and a repeat is invalid_project_config', () => {
    const sim = new DeploymentSim(castGenesis({ required_roles: ['architect'] }));
    expect(sim.view('default').meta.config.required_roles).toEqual(['architect']);
    ok(sim.create('inherits'));
    expect(sim.view('inherits').meta.config.required_roles).toEqual(['architect']);
    ok(sim.create('none', { required_roles: [] }));
    expect(sim.view('none').meta.config.required_roles).toBeUndefined();
    const r = sim.create('twice', { required_roles: ['a', 'b', 'a'] });
    expect(r.decision.outcome).toBe('rejected');
    expect(sim.deployment.projects['twice']).toBeUndefined();
  });

  it('Given an existing project, When Project_Create names it again, Then project_exists and nothing changes', () => {
    const sim = new DeploymentSim();
    ok(sim.create('a'));
    const before = sim.core.hashes(sim.deployment);
    const r = sim.create('a');
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'project_exists', failing_guard: 'project' });
    expect(sim.core.hashes(sim.deployment)).toEqual(before);
  });

  it('Given a window class the chart does not know, When Project_Create names it, Then invalid_project_config names the field', () => {
    const sim = new DeploymentSim();
    const r = sim.create('b', { window_policy: [{ class: 'nope', phases: ['plan'] }] });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'invalid_project_config' });
    expect(r.decision.message).toContain('inputs.window_policy.nope');
    expect(sim.projects.has('b')).toBe(false);
  });

  it('Given a council agent, When it proposes Project_Create, Then unauthorized_role', () => {
    const sim = new DeploymentSim();
    const r = sim.propose(CAST.c1, null, 'Project_Create', { project: 'x' });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'unauthorized_role' });
  });
});

describe('chains', () => {
  it('Given two projects walked in turn, When each reaches EXECUTION and loops, Then each chain holds only its own entries', () => {
    const sim = new DeploymentSim();
    ok(sim.create('a'));
    ok(sim.create('b'));
    const a = sim.lens('a');
    const b = sim.lens('b');
    boot(a);
    boot(b);
    toExecutionAfterBoot(a);
    toExecutionAfterBoot(b);
    loop(a, 1);
    loop(b, 2);
    expect(sim.view('a').control.top).toBe('EXECUTION');
    expect(sim.view('b').execution.loop).toBe(1);
    for (const s of sim.log) {
      if (s.entry.channel === 'fact') expect(s.chain).toBe(DEPLOYMENT_CHAIN);
      else if (s.entry.scope?.kind === 'project') expect(s.chain).toBe(s.entry.scope.project);
    }
    expect(sim.log.filter((s) => s.chain === 'a').length).toBeGreaterThan(10);
    expect(sim.view('default').control.top).toBe('BOOT');
  });

  it('Given a project, When a proposal names another project in its body, Then project_mismatch in the subject project', () => {
    const sim = new DeploymentSim();
    ok(sim.create('a'));
    ok(sim.create('b'));
    const r = sim.propose(CAST.operator, 'a', 'Boot_ConfigOk', { config_hash: h('c') }, { bodyProject: 'b' });
    expect(r.chain).toBe('a');
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'project_mismatch' });
    expect(r.decision.message).toBe('project: the body names b, the subject names a');
  });

  it('Given a body naming no project, When it arrives on a project subject, Then project_mismatch (the signature must cover the project)', () => {
    const sim = new DeploymentSim();
    ok(sim.create('a'));
    const r = sim.propose(CAST.operator, 'a', 'Boot_ConfigOk', { config_hash: h('c') }, { bodyProject: null });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'project_mismatch' });
  });

  it('Given the v1 subject, When a body names no project, Then it is decided in the default project', () => {
    const sim = new DeploymentSim();
    const r = sim.propose(CAST.operator, 'default', 'Boot_ConfigOk', { config_hash: h('c') }, { v1: true, bodyProject: null });
    expect(r.chain).toBe('default');
    expect(r.decision.outcome).toBe('accepted');
  });

  it('Given a signed proposal for project a, When its exact bytes are replayed on project b\'s subject, Then it never counts in b', () => {
    const sim = new DeploymentSim();
    ok(sim.create('a'));
    ok(sim.create('b'));
    const e = sim.proposalEntry(CAST.operator, 'a', 'Boot_ConfigOk', { config_hash: h('c') });
    const replay = { ...e, scope: { kind: 'project' as const, project: 'b' } };
    const r = sim.apply(replay);
    expect(r.chain).toBe('b');
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'project_mismatch' });
    expect(sim.view('b').boot.state).toBe('UNINITIALIZED');
  });

  it('Given votes signed for project a, When they certify a quorum in project b, Then vote_wrong_project', () => {
    const sim = new DeploymentSim();
    ok(sim.create('a'));
    ok(sim.create('b'));
    const b = sim.lens('b');
    boot(b);
    const inputsFor = (voteProject: string): Record<string, unknown> => {
      const members = [CAST.c1.signer, CAST.c2.signer].sort();
      const msh = sim.core.hash(members);
      const lens = sim.lens(voteProject);
      return {
        members, member_set_hash: msh, term: 0,
        votes: [lens.vote(CAST.v1, msh, 0), lens.vote(CAST.v2, msh, 0)],
      };
    };
    ok(b.propose(CAST.c1, 'Council_ProfilesLoaded', {
      required_roles: ['architect', 'reviewer'],
      candidates: [
        { agent: CAST.c1.signer, capabilities: ['architect'] },
        { agent: CAST.c2.signer, capabilities: ['architect', 'reviewer'] },
      ],
    }));
    const bad = b.propose(CAST.c1, 'Council_QuorumCert', inputsFor('a') as never);
    expect(bad.decision).toMatchObject({ outcome: 'rejected', code: 'vote_wrong_project', failing_guard: 'quorum' });
    ok(b.propose(CAST.c1, 'Council_QuorumCert', inputsFor('b') as never));
  });

  it('Given a control transition, When it is published on a project subject, Then wrong_chain; and a project transition on the control subject too', () => {
    const sim = new DeploymentSim();
    const r1 = sim.propose(CAST.admin, 'default', 'Identity_Grant', { identity: CAST.c3.signer, roles: ['voter'] });
    expect(r1.chain).toBe('default');
    expect(r1.decision).toMatchObject({ outcome: 'rejected', code: 'wrong_chain' });
    const r2 = sim.propose(CAST.operator, null, 'Boot_ConfigOk', { config_hash: h('c') });
    expect(r2.chain).toBe(DEPLOYMENT_CHAIN);
    expect(r2.decision).toMatchObject({ outcome: 'rejected', code: 'wrong_chain' });
    const r3 = sim.propose(CAST.operator, null, 'Project_Create', { project: 'z' }, { bodyProject: 'default' });
    expect(r3.decision).toMatchObject({ outcome: 'rejected', code: 'project_mismatch' });
  });

  it('Given the same idem key in two projects, When both are proposed, Then both are accepted (idempotency is per chain)', () => {
    const sim = new DeploymentSim();
    ok(sim.create('a'));
    ok(sim.create('b'));
    ok(sim.propose(CAST.operator, 'a', 'Boot_ConfigOk', { config_hash: h('c') }, { idem: 'same' }));
    ok(sim.propose(CAST.operator, 'b', 'Boot_ConfigOk', { config_hash: h('c') }, { idem: 'same' }));
    const again = sim.propose(CAST.operator, 'b', 'Boot_ConfigOk', { config_hash: h('c') }, { idem: 'same' });
    expect(again.decision.outcome).toBe('duplicate');
  });

  it('Given project a accepted a later HLC, When project b gets an earlier one, Then b accepts it (HLC order is per chain)', () => {
    const sim = new DeploymentSim();
    ok(sim.create('a'));
    ok(sim.create('b'));
    const earlier = sim.nextHlc();
    const early = sim.nextHlc();
    ok(sim.propose(CAST.operator, 'a', 'Boot_ConfigOk', { config_hash: h('c') }));
    ok(sim.propose(CAST.operator, 'b', 'Boot_ConfigOk', { config_hash: h('c') }, { hlc: early }));
    const stale = sim.propose(CAST.operator, 'b', 'Control_Terminate', { reason: 'x' }, { hlc: earlier });
    expect(stale.decision).toMatchObject({ outcome: 'rejected', code: 'hlc_regression' });
  });

  it('Given a beat fact, When it is recorded, Then no project HEAD changes (facts are the deployment\'s)', () => {
    const sim = new DeploymentSim();
    const before = sim.head('default');
    ok(sim.beat('backbeat:W-1', 'plan'));
    expect(sim.head('default')).toBe(before);
  });
});

describe('facts reach projects by catch-up', () => {
  it('Given a project in EXECUTION, When the licence is revoked, Then the fact is one deployment record, the view shows DEGRADED, and the next entry records the catch-up', () => {
    const sim = new DeploymentSim();
    ok(sim.create('a'));
    const a = sim.lens('a');
    toExecution(a);
    const before = sim.projects.get('a');
    const f = ok(sim.fact('license', { status: 'revoked', license_id: 'lic-1' }));
    expect(f.chain).toBe(DEPLOYMENT_CHAIN);
    expect(f.decision.applied).toEqual([]);
    expect(sim.projects.get('a')).toBe(before); // the stored document is untouched
    expect(sim.view('a').control.top).toBe('DEGRADED');
    const revokedAt = sim.logMs;
    sim.advance(1_000);
    const r = a.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'license_degraded' });
    expect(r.decision.applied).toEqual(['Control_LicenseGrace']);
    expect(sim.projects.get('a')?.control).toMatchObject({ top: 'DEGRADED', degraded: 'GRACE' });
    // The grace runs from the revocation's log time, not from the catch-up.
    expect(sim.projects.get('a')?.control.grace_until_ms).toBe(revokedAt + 60_000);
    ok(sim.fact('license', { status: 'active', license_id: 'lic-1' }));
    const back = a.propose(CAST.operator, 'Control_Pause', { reason: 'r' });
    expect(back.decision.applied).toEqual(['Control_LicenseRestored', 'Control_Pause']);
    expect(back.decision.outcome).toBe('accepted');
  });

  it('Given a revocation older than the grace, When the idle project next acts, Then grace and expiry are both caught up and only termination applies', () => {
    const sim = new DeploymentSim();
    boot(sim.lens('default'));
    ok(sim.fact('license', { status: 'revoked', license_id: 'lic-1' }));
    sim.advance(120_000);
    const r = sim.propose(CAST.operator, 'default', 'Control_Pause', { reason: 'r' });
    expect(r.decision.applied).toEqual(['Control_LicenseGrace', 'Control_LicenseExpired']);
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'license_expired' });
    ok(sim.propose(CAST.operator, 'default', 'Control_Terminate', { reason: 'done' }));
    expect(sim.view('default').control.top).toBe('TERMINATED');
  });

  it('Given a project quarantined under policy v1, When a policy v2 that clears the breach is recorded, Then its next entry auto-releases it first', () => {
    const sim = new DeploymentSim();
    const d = sim.lens('default');
    boot(d);
    ok(sim.fact('policy', { version: 1, denied_source_patterns: ['git://evil/*'], max_council_size: 0, required_evidence: {} }));
    const q = d.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'git://evil/x', kind: 'git' }] });
    expect(q.decision.outcome).toBe('quarantined');
    expect(sim.view('default').control.top).toBe('QUARANTINED');
    ok(sim.fact('policy', { version: 2, denied_source_patterns: [], max_council_size: 0, required_evidence: {} }));
    expect(sim.view('default').control.top).toBe('PROJECT_LIFECYCLE');
    const r = d.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'git://evil/x', kind: 'git' }] });
    expect(r.decision.applied).toEqual(['Policy_AutoRelease', 'Ingestion_SourcesResolved']);
  });
});

function toExecutionAfterBoot(w: ReturnType<DeploymentSim['lens']>): void {
  const { ingest, formCouncil, provision, pinsOf } = walkParts;
  ingest(w);
  formCouncil(w);
  provision(w);
  ok(w.propose(CAST.operator, 'Lifecycle_AllReady', { pins: pinsOf(w) }));
}

import * as walkParts from '../../../src/proving/sim/walk.js';

describe('a World focused on one project', () => {
  it('Given a World focused on p1, When the walk runs, Then p1 reaches EXECUTION, its bodies and votes name it, and default is untouched', () => {
    const w = new World(castGenesis({ projects: ['default', 'p1'] }), undefined, { project: 'p1' });
    toExecution(w);
    loop(w, 1);
    expect(w.state.meta.project).toBe('p1');
    expect(w.state.execution.loop).toBe(1);
    const proposals = w.results.filter((r) => r.decision.channel === 'proposal');
    expect(proposals.every((r) => r.chain === 'p1')).toBe(true);
    const defaultDoc = w.projects.get('default');
    expect(defaultDoc?.control.top).toBe('BOOT');
    const cert = w.results.find((r) => r.decision.transition === 'Council_QuorumCert');
    expect(cert?.decision.outcome).toBe('accepted');
  });
});

describe('catch-up after a restore and a new revocation', () => {
  it('Given a DEGRADED project, When the licence is restored and revoked again before it acts, Then its grace runs from the new revocation', () => {
    const sim = new DeploymentSim(castGenesis({ license_grace_ms: 60_000 }));
    boot(sim.lens('default'));
    ok(sim.fact('license', { status: 'revoked', license_id: 'lic-1' }));
    const first = sim.propose(CAST.operator, 'default', 'Control_Pause', { reason: 'r' });
    expect(first.decision.applied).toEqual(['Control_LicenseGrace']); // and refused: degraded
    sim.advance(10_000);
    ok(sim.fact('license', { status: 'active', license_id: 'lic-1' }));
    sim.advance(10_000);
    ok(sim.fact('license', { status: 'revoked', license_id: 'lic-1' }));
    const revokedAgainAt = sim.logMs;
    sim.advance(45_000); // 65 s after the first revocation, 45 s into the second
    const r = sim.propose(CAST.operator, 'default', 'Control_Resume');
    expect(r.decision.applied).toEqual(['Control_LicenseRestored', 'Control_LicenseGrace']);
    expect(r.decision.code).toBe('license_degraded');
    expect(sim.view('default').control).toMatchObject({ degraded: 'GRACE', grace_until_ms: revokedAgainAt + 60_000 });
  });
});

describe('identities limited to projects (contract v2 §2)', () => {
  const scoped = actor('scoped-operator');
  function sim(): DeploymentSim {
    const g = castGenesis({ projects: ['a', 'b'] }) as { identities: Record<string, unknown> };
    g.identities[scoped.signer] = { roles: ['operator', 'feeder'], projects: ['a'] };
    return new DeploymentSim(g);
  }

  it('Given an operator limited to project a, Then it acts in a, not in b, and feeds no facts', () => {
    const s = sim();
    ok(s.propose(scoped, 'a', 'Boot_ConfigOk', { config_hash: h('c') }));
    const b = s.propose(scoped, 'b', 'Boot_ConfigOk', { config_hash: h('c') });
    expect(b.decision).toMatchObject({ outcome: 'rejected', code: 'unauthorized_role' });
    expect(b.decision.message).toContain('limited to projects [a]');
    const f = s.fact('tick', {}, scoped);
    expect(f.decision).toMatchObject({ outcome: 'rejected', code: 'unauthorized_role' });
  });

  it('Given an admin grant with projects, Then the identity is limited to them; a later grant without projects keeps the limit', () => {
    const s = sim();
    ok(s.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.c3.signer, roles: ['operator'], projects: ['b'] }));
    // c3 is a council member in the cast; its roles are now all limited to b.
    expect(s.deployment.identities[CAST.c3.signer]).toEqual({ roles: ['council', 'operator'], projects: ['b'] });
    ok(s.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.c3.signer, roles: ['voter'] }));
    expect(s.deployment.identities[CAST.c3.signer]).toEqual({ roles: ['council', 'operator', 'voter'], projects: ['b'] });
    ok(s.propose(CAST.c3, 'b', 'Boot_ConfigOk', { config_hash: h('c') }));
    expect(s.propose(CAST.c3, 'a', 'Boot_ConfigOk', { config_hash: h('c') }).decision.code).toBe('unauthorized_role');
  });

  it('Given a genesis naming a project id that is not one, Then invalid_genesis naming the field', () => {
    const core = createCore(nodeHasher);
    const g = castGenesis() as { identities: Record<string, unknown> };
    g.identities[scoped.signer] = { roles: ['operator'], projects: ['Not_An_Id'] };
    const r = core.parseGenesis(g);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.path).toBe(`genesis.identities["${scoped.signer}"].projects`);
  });
});
