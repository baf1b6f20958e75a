/**
 * Every decision of generated streams checked against an independent reference model of the
 * statechart (oracle.ts): the replay properties compare the core with itself, this compares it
 * with the chart. A disabled check (optimistic concurrency, idempotency, the HLC order, a gate)
 * shows up as a wrong outcome class at a named WAL seq.
 * Every run prints its seed; replay one with SWOOSH_SEED=<n>.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCore, type Decision, type State, type WalEntry } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { announceSeed } from '../support/seed.js';
import { CHAOS, generateStream, type FaultRates } from '../../src/proving/sim/stream.js';
import { CAST, World, h } from '../../src/proving/sim/world.js';
import { Oracle, type Expected } from './oracle.js';

const seed = Math.abs(announceSeed('oracle properties'));
fc.configureGlobal({ seed });

function oracleFor(s: State): Oracle {
  const c = s.meta.config;
  return new Oracle({
    identities: s.identities, idem_retention_ms: c.idem_retention_ms, idem_max: c.idem_max,
    max_clock_skew_ms: c.max_clock_skew_ms, license_grace_ms: c.license_grace_ms,
  });
}

const regionsOf = (s: State): Record<string, string> => ({
  boot: s.boot.state, ingestion: s.ingestion.state, council: s.council.state,
  environment: s.environment.state, execution: s.execution.state,
});

/** Fold the stream through a fresh core, judging each decision; returns the predictions made. */
function judgeStream(genesis: Record<string, unknown>, entries: readonly WalEntry[], label: string): Map<string, number> {
  const core = createCore(nodeHasher);
  const g = core.parseGenesis(genesis);
  if (!g.ok) throw new Error(g.error.message);
  let st = core.genesis(g.value);
  const oracle = oracleFor(st);
  const seen = new Map<string, number>();
  for (const e of entries) {
    const exp = oracle.expect(e, core.hashes(st));
    const key = exp.kind === 'rejected' ? exp.codes.join('|') : exp.kind;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const r = core.step(st, e);
    const problem = oracle.judge(e, exp, r.decision) ?? oracle.compare(r.state.control.top, regionsOf(r.state), r.decision.seq);
    expect(problem, `${label}: ${problem ?? ''}`).toBeNull();
    st = r.state;
  }
  return seen;
}

const rate = (max: number): fc.Arbitrary<number> => fc.double({ min: 0, max, noNaN: true });
const ratesArb: fc.Arbitrary<FaultRates> = fc.record({
  dup: rate(0.1), reorder: rate(0.1), drop: rate(0.1), stale: rate(0.15), badsig: rate(0.05),
  stranger: rate(0.05), skew: rate(0.05), resubmit: rate(0.1), disrupt: rate(0.08), advance: rate(0.05),
});

describe('reference model of the statechart', () => {
  it('Given random fault mixes, When every decision is judged by the model, Then each has the outcome class the chart and the fixed checks predict', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), ratesArb, (s, rates) => {
        const stream = generateStream(s, 300, rates);
        judgeStream(stream.genesis, stream.entries, `stream seed ${s}`);
      }),
      { numRuns: 25, endOnFailure: true },
    );
  });

  it('Given a 3,000-entry chaos stream, Then the model agrees at every step and predicted every fixed-check class', () => {
    const stream = generateStream(seed, 3000, { ...CHAOS, stale: 0.08, skew: 0.04 });
    const seen = judgeStream(stream.genesis, stream.entries, `stream seed ${seed}`);
    for (const k of ['guarded', 'fact', 'duplicate', 'stale_state_hash', 'hlc_too_far_ahead', 'unknown_signer', 'invalid_phase']) {
      expect(seen.get(k) ?? 0, `${k} never predicted: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
    }
  });

  it('Given a proposal naming a stale hash, When a decision accepts it, Then the model reports the wrong outcome (it is not vacuous)', () => {
    const w = new World();
    const oracle = oracleFor(w.state);
    const e = w.proposalEntry(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, { hash: h('stale') });
    const exp: Expected = oracle.expect(e, w.core.hashes(w.state));
    expect(exp).toEqual({ kind: 'rejected', codes: ['stale_state_hash'] });
    const real = w.core.step(w.state, e).decision;
    expect(oracle.judge(e, exp, real)).toBeNull();
    const forged: Decision = { ...real, outcome: 'accepted', code: null, failing_guard: null, applied: ['Boot_ConfigOk'] };
    expect(oracle.judge(e, exp, forged)).toContain('expected rejected stale_state_hash');
  });
});
