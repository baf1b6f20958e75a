/**
 * Guard verdict tables: for each guard, the accepted path is covered by the lifecycle tests;
 * here every rejection code of every guard, each leaving the state untouched.
 */
import { describe, expect, it } from 'vitest';
import { createCore, type StepResult } from '../../../src/core/index.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { CAST, World, castGenesis, h } from '../../../src/proving/sim/world.js';
import { boot, COUNCIL_INPUTS, formCouncil, ingest, ok, pinsOf, provision, toExecution } from '../../../src/proving/sim/walk.js';

/** A separate reducer, so "untouched" is checked by hashing from scratch, not from a cache. */
const core = createCore(nodeHasher);

function rejectedBy(r: StepResult, guard: string, code: string): void {
  const d = r.decision;
  expect(d.outcome, `${d.code ?? ''}: ${d.message ?? ''}`).toBe('rejected');
  expect(d.failing_guard).toBe(guard);
  expect(d.code).toBe(code);
  const last = d.guard_outcomes[d.guard_outcomes.length - 1];
  expect(last).toMatchObject({ guard, ok: false, code });
  expect(last?.reasons.length).toBeGreaterThan(0);
  // State untouched: the returned state, hashed afresh, has every hash of the state before.
  expect(core.hashes(r.state)).toEqual(r.pre);
}

describe('license guard', () => {
  it('Given no licence fact, When Boot_Licensed, Then license_inactive', () => {
    const w = new World();
    ok(w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }));
    rejectedBy(w.propose(CAST.operator, 'Boot_Licensed'), 'license', 'license_inactive');
  });
  it('Given a revoked licence fact, When Boot_Licensed, Then license_inactive', () => {
    const w = new World();
    ok(w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }));
    ok(w.fact('license', { status: 'revoked' }));
    rejectedBy(w.propose(CAST.operator, 'Boot_Licensed'), 'license', 'license_inactive');
  });
});

function inWork(): World {
  const w = new World();
  toExecution(w);
  return w;
}

describe('window guard', () => {
  it('Given no beat frame, Then no_window', () => {
    rejectedBy(inWork().propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') }), 'window', 'no_window');
  });
  it('Given another window id, Then window_mismatch', () => {
    const w = inWork();
    ok(w.beat('W1', 'plan'));
    rejectedBy(w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') }, { window: 'W0' }), 'window', 'window_mismatch');
  });
  it('Given a phase the class may not act in, Then phase_not_allowed', () => {
    const w = inWork();
    ok(w.beat('W1', 'execute'));
    rejectedBy(w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') }), 'window', 'phase_not_allowed');
  });
  it('Given an entry logged after the deadline, Then window_closed', () => {
    const w = inWork();
    ok(w.beat('W1', 'plan', 1000));
    w.advance(5000);
    rejectedBy(w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') }), 'window', 'window_closed');
  });
  it('Given REVERB in the window the loop was planned in, When NextWindow, Then window_not_new', () => {
    const w = inWork();
    ok(w.beat('W1', 'plan'));
    ok(w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') }));
    ok(w.beat('W1', 'review'));
    ok(w.propose(CAST.c1, 'Execution_BeatReviewGate', { work_hash: h('w') }));
    ok(w.propose(CAST.c1, 'Execution_SubmitApproval', { work_hash: h('w') }));
    ok(w.propose(CAST.c2, 'Execution_SubmitApproval', { work_hash: h('w') }));
    ok(w.propose(CAST.c1, 'Execution_ApprovalsThreshold'));
    ok(w.beat('W1', 'plan'));
    rejectedBy(w.propose(CAST.c1, 'Execution_NextWindow'), 'window', 'window_not_new');
  });
  it('Given a genesis window policy letting plan act in execute, Then PlanLocked passes in execute', () => {
    const w = new World(castGenesis({ window_policy: { plan: ['plan', 'execute'] } }));
    toExecution(w);
    ok(w.beat('W1', 'execute'));
    ok(w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') }));
  });
});

describe('membership and approvals guards', () => {
  function inReview(): World {
    const w = inWork();
    ok(w.beat('W1', 'plan'));
    ok(w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('p') }));
    ok(w.beat('W1', 'review'));
    ok(w.propose(CAST.c1, 'Execution_BeatReviewGate', { work_hash: h('w') }));
    return w;
  }
  it('Given a council-role signer who was not elected, Then not_council_member', () => {
    rejectedBy(inReview().propose(CAST.c3, 'Execution_SubmitApproval', { work_hash: h('w') }), 'membership', 'not_council_member');
  });
  it('Given an approval of other work, Then work_hash_mismatch', () => {
    rejectedBy(inReview().propose(CAST.c1, 'Execution_SubmitApproval', { work_hash: h('other') }), 'approvals', 'work_hash_mismatch');
  });
  it('Given one approval of two needed, Then approvals_insufficient; the same member twice still counts once', () => {
    const w = inReview();
    ok(w.propose(CAST.c1, 'Execution_SubmitApproval', { work_hash: h('w') }));
    ok(w.propose(CAST.c1, 'Execution_SubmitApproval', { work_hash: h('w') }));
    expect(w.state.execution.approvals).toEqual([CAST.c1.signer]);
    rejectedBy(w.propose(CAST.c1, 'Execution_ApprovalsThreshold'), 'approvals', 'approvals_insufficient');
  });
});

describe('quorum guard', () => {
  function inElect(): World {
    const w = new World();
    boot(w);
    ok(w.propose(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS));
    return w;
  }
  const members = (): string[] => [CAST.c1.signer, CAST.c2.signer].sort();
  function cert(w: World, o: { members?: string[]; msh?: string; term?: number; votes?: unknown[] } = {}): StepResult {
    const m = o.members ?? members();
    const msh = o.msh ?? w.core.hash(m);
    const term = o.term ?? w.state.council.term;
    const votes = o.votes ?? [w.vote(CAST.v1, msh, term), w.vote(CAST.v2, msh, term)];
    return w.propose(CAST.c1, 'Council_QuorumCert', { members: m, member_set_hash: msh, term, votes: votes as never });
  }
  it('Given a member_set_hash that is not the hash of the members, Then member_set_hash_mismatch (split brain)', () => {
    const w = inElect();
    rejectedBy(cert(w, { msh: h('forged') }), 'quorum', 'member_set_hash_mismatch');
  });
  it('Given members other than the plan assigned, Then members_not_planned', () => {
    const w = inElect();
    rejectedBy(cert(w, { members: [CAST.c1.signer, CAST.c3.signer].sort() }), 'quorum', 'members_not_planned');
  });
  it('Given another term, Then wrong_term', () => {
    const w = inElect();
    rejectedBy(cert(w, { term: 7 }), 'quorum', 'wrong_term');
  });
  it('Given a vote whose signature does not verify, Then bad_vote_signature', () => {
    const w = inElect();
    const msh = w.core.hash(members());
    const forged = { ...w.vote(CAST.v1, msh, 0), voter: CAST.v2.signer };
    rejectedBy(cert(w, { votes: [w.vote(CAST.v1, msh, 0), forged] }), 'quorum', 'bad_vote_signature');
  });
  it('Given a voter without the voter role, Then ineligible_voter', () => {
    const w = inElect();
    const msh = w.core.hash(members());
    rejectedBy(cert(w, { votes: [w.vote(CAST.v1, msh, 0), w.vote(CAST.c3, msh, 0)] }), 'quorum', 'ineligible_voter');
  });
  it('Given the same voter twice, Then duplicate_voter', () => {
    const w = inElect();
    const msh = w.core.hash(members());
    rejectedBy(cert(w, { votes: [w.vote(CAST.v1, msh, 0), w.vote(CAST.v1, msh, 0)] }), 'quorum', 'duplicate_voter');
  });
  it('Given a vote for another member set, Then vote_mismatch', () => {
    const w = inElect();
    const msh = w.core.hash(members());
    rejectedBy(cert(w, { votes: [w.vote(CAST.v1, msh, 0), w.vote(CAST.v2, h('other'), 0)] }), 'quorum', 'vote_mismatch');
  });
  it('Given fewer valid votes than the threshold, Then quorum_not_met', () => {
    const w = inElect();
    const msh = w.core.hash(members());
    rejectedBy(cert(w, { votes: [w.vote(CAST.v1, msh, 0)] }), 'quorum', 'quorum_not_met');
  });
});

describe('formation guard', () => {
  it('Given a role no candidate can fill, Then coverage_incomplete listing it', () => {
    const w = new World();
    boot(w);
    const r = w.propose(CAST.c1, 'Council_ProfilesLoaded', {
      required_roles: ['architect', 'security'],
      candidates: [{ agent: CAST.c1.signer, capabilities: ['architect'] }],
    });
    rejectedBy(r, 'formation', 'coverage_incomplete');
    expect(r.decision.message).toContain('security');
  });
  it('Given capabilities a greedy choice would waste, Then the matching still covers every role', () => {
    const w = new World();
    boot(w);
    // c-first alphabetically can do both roles; greedy would give it the first role and strand the other.
    const [a, b] = [CAST.c1.signer, CAST.c2.signer].sort() as [string, string];
    ok(w.propose(CAST.c1, 'Council_ProfilesLoaded', {
      required_roles: ['alpha', 'beta'],
      candidates: [{ agent: a, capabilities: ['alpha', 'beta'] }, { agent: b, capabilities: ['alpha'] }],
    }));
    expect(w.state.council.plan?.unmatched_roles).toEqual([]);
    expect(w.state.council.plan?.assignments).toEqual([{ role: 'alpha', agent: b }, { role: 'beta', agent: a }]);
  });
});

describe('tooling guard', () => {
  function inToolingSync(): World {
    const w = new World();
    boot(w);
    ok(w.propose(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS));
    const m = [CAST.c1.signer, CAST.c2.signer].sort();
    const msh = w.core.hash(m);
    ok(w.propose(CAST.c1, 'Council_QuorumCert', {
      members: m, member_set_hash: msh, term: 0, votes: [w.vote(CAST.v1, msh, 0), w.vote(CAST.v2, msh, 0)],
    }));
    return w;
  }
  it('Given no MCP fact, Then tool_unreachable', () => {
    rejectedBy(inToolingSync().propose(CAST.c1, 'Council_McpGreen'), 'tooling', 'tool_unreachable');
  });
  it('Given the tool down, Then tool_unreachable', () => {
    const w = inToolingSync();
    ok(w.fact('mcp', { tools: [{ name: 'repo-tools', reachable: false, version: '1.2.0' }] }));
    rejectedBy(w.propose(CAST.c1, 'Council_McpGreen'), 'tooling', 'tool_unreachable');
  });
  it('Given the tool at another version, Then tool_version_mismatch', () => {
    const w = inToolingSync();
    ok(w.fact('mcp', { tools: [{ name: 'repo-tools', reachable: true, version: '1.3.0' }] }));
    rejectedBy(w.propose(CAST.c1, 'Council_McpGreen'), 'tooling', 'tool_version_mismatch');
  });
});

describe('capacity guard', () => {
  it('Given no capacity fact, Then no_capacity_fact', () => {
    const w = new World();
    boot(w);
    rejectedBy(w.propose(CAST.env, 'Environment_CapacityOk', { cpu_millis: 1, memory_mb: 1, slots: 1 }), 'capacity', 'no_capacity_fact');
  });
  it('Given a request above capacity, Then capacity_insufficient naming the resource', () => {
    const w = new World();
    boot(w);
    ok(w.fact('capacity', { cpu_millis: 100, memory_mb: 100, slots: 1 }));
    const r = w.propose(CAST.env, 'Environment_CapacityOk', { cpu_millis: 1, memory_mb: 1, slots: 2 });
    rejectedBy(r, 'capacity', 'capacity_insufficient');
    expect(r.decision.message).toContain('slots');
  });
});

describe('readiness guard', () => {
  it('Given a region not READY, Then region_not_ready', () => {
    const w = new World();
    boot(w);
    ingest(w);
    formCouncil(w);
    const pins = { ...pinsOf(w), env_version: 'e-none' };
    rejectedBy(w.propose(CAST.operator, 'Lifecycle_AllReady', { pins }), 'readiness', 'region_not_ready');
  });
  it('Given a pin of an older index (index swap), Then pin_mismatch', () => {
    const w = new World();
    boot(w);
    ingest(w);
    formCouncil(w);
    provision(w);
    const pins = { ...pinsOf(w), content_hash: h('corpus-v0') };
    const r = w.propose(CAST.operator, 'Lifecycle_AllReady', { pins });
    rejectedBy(r, 'readiness', 'pin_mismatch');
    expect(r.decision.message).toContain('pins.content_hash');
  });
});
