/**
 * The invariant checker itself (ARCHITECTURE §7). Property (c) "no invariant is ever violated"
 * only means something if `assertInvariants` throws on a violating step, so each invariant is
 * handed a (pre, decision, post) triple that breaks exactly it and must name it. Each triple
 * starts from a real step that passes (checked first), then changes one thing in `post` or the
 * decision.
 */
import { describe, expect, it } from 'vitest';
import { HISTORY_MAX } from '../../../src/core/evolve/evolve.js';
import { InvariantViolation, assertInvariants } from '../../../src/core/invariants.js';
import type { ChainStep, Decision, State } from '../../../src/core/index.js';
import { CAST, World, castGenesis, h } from '../../../src/proving/sim/world.js';
import { boot, ok, toExecution } from '../../../src/proving/sim/walk.js';

interface Triple {
  readonly pre: State;
  readonly d: Decision;
  readonly post: State;
}

function regionOf(w: World): (t: string) => string {
  return (t) => w.core.chart.transitions.find((s) => s.name === t)?.region ?? 'unknown';
}

function check(w: World, t: Triple): void {
  assertInvariants(t.pre, t.d, t.post, regionOf(w), (v) => w.core.hash(v));
}

/** The pre state of the world's last step and that step, as a triple. */
function lastStep(_w: World, r: ChainStep): Triple {
  return { pre: r.before, d: r.decision, post: r.state };
}

function expectViolation(w: World, t: Triple, invariant: string): void {
  let caught: unknown = null;
  try {
    check(w, t);
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${invariant} to be reported`).toBeInstanceOf(InvariantViolation);
  expect((caught as InvariantViolation).invariant).toBe(invariant);
  expect((caught as InvariantViolation).seq).toBe(t.d.seq);
}

/**
 * A world in EXECUTION and a real fact decision (a tick) over its project's state, which the
 * fact leaves as it is (facts are the deployment's): a valid triple to break.
 */
function executionTick(): { w: World; t: Triple } {
  const w = new World();
  toExecution(w);
  const r = ok(w.fact('tick', {}));
  const view = w.state;
  const t = { pre: view, d: r.decision, post: view };
  check(w, t);
  return { w, t };
}

/** A booted world and a real accepted proposal step (an ingestion transition). */
function acceptedProposal(): { w: World; t: Triple } {
  const w = new World();
  boot(w);
  const t = lastStep(w, ok(w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'git://a' }] })));
  check(w, t);
  return { w, t };
}

describe('assertInvariants: each invariant is reported by name', () => {
  it('Given a rejected decision whose post is a new object, Then rejection_changes_nothing', () => {
    const w = new World();
    const r = w.propose(CAST.stranger, 'Boot_ConfigOk', { config_hash: h('c') });
    expect(r.decision.outcome).toBe('rejected');
    const pre = r.state;
    check(w, { pre, d: r.decision, post: pre });
    expectViolation(w, { pre, d: r.decision, post: { ...pre } }, 'rejection_changes_nothing');
  });

  it('Given a duplicate decision whose post is a new object, Then rejection_changes_nothing', () => {
    const w = new World();
    ok(w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { idem: 'k' }));
    const r = w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { idem: 'k' });
    expect(r.decision.outcome).toBe('duplicate');
    expectViolation(w, { pre: r.state, d: r.decision, post: { ...r.state } }, 'rejection_changes_nothing');
  });

  it('Given an accepted proposal whose post clock equals the pre clock, Then hlc_monotone', () => {
    const { w, t } = acceptedProposal();
    const post = { ...t.post, clock: { ...t.post.clock, hlc_last: t.pre.clock.hlc_last,
      hlc_last_signer: t.pre.clock.hlc_last_signer, hlc_last_idem_key: t.pre.clock.hlc_last_idem_key } };
    expectViolation(w, { ...t, post }, 'hlc_monotone');
  });

  it('Given an accepted proposal whose post clock is cleared, Then hlc_monotone', () => {
    const { w, t } = acceptedProposal();
    expectViolation(w, { ...t, post: { ...t.post, clock: { ...t.post.clock, hlc_last: null } } }, 'hlc_monotone');
  });

  it('Given a fact step that moves hlc_last, Then hlc_monotone (only proposals move the clock)', () => {
    const { w, t } = executionTick();
    const post = { ...t.post, clock: { ...t.post.clock, hlc_last: '2025-10-19T09:00:00.000+00:00#0' } };
    expectViolation(w, { ...t, post }, 'hlc_monotone');
  });

  it('Given an accepted proposal whose region epoch advanced by two, Then epoch_exactly_once', () => {
    const { w, t } = acceptedProposal();
    const ing = t.post.epochs['ingestion'] ?? 0;
    expect(ing).toBe((t.pre.epochs['ingestion'] ?? 0) + 1);
    expectViolation(w, { ...t, post: { ...t.post, epochs: { ...t.post.epochs, ingestion: ing + 1 } } }, 'epoch_exactly_once');
  });

  it('Given an accepted proposal whose epoch did not advance, Then epoch_exactly_once', () => {
    const { w, t } = acceptedProposal();
    expectViolation(w, { ...t, post: { ...t.post, epochs: t.pre.epochs } }, 'epoch_exactly_once');
  });

  it('Given applied_count not advanced by the applied transitions, Then applied_count', () => {
    const { w, t } = acceptedProposal();
    const post = { ...t.post, clock: { ...t.post.clock, applied_count: t.pre.clock.applied_count } };
    expectViolation(w, { ...t, post }, 'applied_count');
  });

  it('Given EXECUTION with a lifecycle region not READY, Then execution_requires_ready', () => {
    const { w, t } = executionTick();
    expectViolation(w, { ...t, post: { ...t.post, council: { ...t.post.council, state: 'ELECT' } } }, 'execution_requires_ready');
  });

  it('Given EXECUTION without pins, Then execution_requires_ready', () => {
    const { w, t } = executionTick();
    expectViolation(w, { ...t, post: { ...t.post, execution: { ...t.post.execution, pins: null } } }, 'execution_requires_ready');
  });

  it('Given EXECUTION whose pins differ from the ingestion content hash, Then execution_pins_match', () => {
    const { w, t } = executionTick();
    const pins = t.post.execution.pins;
    expect(pins).not.toBeNull();
    const post = { ...t.post, execution: { ...t.post.execution, pins: { ...pins!, content_hash: h('other') } } };
    expectViolation(w, { ...t, post }, 'execution_pins_match');
  });

  it('Given a council whose certificate names another member set, Then quorum_cert_matches', () => {
    const { w, t } = executionTick();
    const c = t.post.council;
    expect(c.quorum_cert).not.toBeNull();
    const post = { ...t.post, council: { ...c, quorum_cert: { ...c.quorum_cert!, member_set_hash: h('forged') } } };
    expectViolation(w, { ...t, post }, 'quorum_cert_matches');
  });

  it('Given members without a quorum certificate, Then quorum_cert_matches', () => {
    const { w, t } = executionTick();
    const post = { ...t.post, council: { ...t.post.council, quorum_cert: null } };
    expectViolation(w, { ...t, post }, 'quorum_cert_matches');
  });

  it('Given QUARANTINED left by a decision that applied no release, Then quarantine_sticky', () => {
    const w = new World(castGenesis({ policy: { version: 1, denied_source_patterns: ['*://evil.example/*'] } }));
    boot(w);
    w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'https://evil.example/x' }] });
    expect(w.state.control.top).toBe('QUARANTINED');
    const view = w.state;
    const t = { pre: view, d: ok(w.fact('tick', {})).decision, post: view };
    check(w, t);
    const post = { ...t.post, control: { ...t.post.control, top: 'PROJECT_LIFECYCLE', history: [] } };
    expectViolation(w, { ...t, post }, 'quarantine_sticky');
    // The same exit under a release is legal: the rule names the releases, it does not forbid leaving.
    const release = lastStep(w, ok(w.propose(CAST.operator, 'Policy_Release', { justification: 'false positive' })));
    expect(release.post.control.top).toBe('PROJECT_LIFECYCLE');
    check(w, release);
  });

  it('Given a history stack deeper than HISTORY_MAX, Then history_bounded', () => {
    const { w, t } = executionTick();
    const history = Array.from({ length: HISTORY_MAX + 1 }, () => 'PAUSED');
    expectViolation(w, { ...t, post: { ...t.post, control: { ...t.post.control, history } } }, 'history_bounded');
  });

  it('Given more idem keys than idem_max, Then idem_bounded', () => {
    const { w, t } = executionTick();
    const post = { ...t.post, idem: { ...t.post.idem, count: t.post.meta.config.idem_max + 1 } };
    expectViolation(w, { ...t, post }, 'idem_bounded');
  });

  it('Given a fractional number in a HEAD section, Then json_integers_only', () => {
    const { w, t } = executionTick();
    const post = { ...t.post, policy: { ...t.post.policy, quarantines: 0.5 } };
    expectViolation(w, { ...t, post }, 'json_integers_only');
  });

  it('Given a fractional number in the facts, Then json_integers_only', () => {
    const { w, t } = executionTick();
    const post = { ...t.post, facts: { ...t.post.facts, tick: { ...t.post.facts.tick, last_ms: 0.5 } } };
    expectViolation(w, { ...t, post }, 'json_integers_only');
  });

  it.each(['ingestion', 'council', 'environment'] as const)('Given EXECUTION with %s alone not READY, Then execution_requires_ready', (region) => {
    const { w, t } = executionTick();
    expectViolation(w, { ...t, post: { ...t.post, [region]: { ...t.post[region], state: 'X' } } }, 'execution_requires_ready');
  });

  it.each(['content_hash', 'ingestion_version', 'member_set_hash', 'env_version'] as const)('Given EXECUTION whose %s pin alone differs, Then execution_pins_match', (pin) => {
    const { w, t } = executionTick();
    const post = { ...t.post, execution: { ...t.post.execution, pins: { ...t.post.execution.pins!, [pin]: h('other') } } };
    expectViolation(w, { ...t, post }, 'execution_pins_match');
  });

  it('Given a council whose member_set_hash alone differs from its certificate, Then quorum_cert_matches', () => {
    const { w, t } = executionTick();
    // The execution pin follows it, so only the certificate check can see the difference.
    const post = {
      ...t.post, council: { ...t.post.council, member_set_hash: h('other') },
      execution: { ...t.post.execution, pins: { ...t.post.execution.pins!, member_set_hash: h('other') } },
    };
    expectViolation(w, { ...t, post }, 'quorum_cert_matches');
  });

  it('Given a history exactly HISTORY_MAX deep and exactly idem_max keys, Then no violation (the bounds are inclusive)', () => {
    const { w, t } = executionTick();
    const history = Array.from({ length: HISTORY_MAX }, () => 'PAUSED');
    check(w, { ...t, post: { ...t.post, control: { ...t.post.control, history } } });
    check(w, { ...t, post: { ...t.post, idem: { ...t.post.idem, count: t.post.meta.config.idem_max } } });
  });
});
