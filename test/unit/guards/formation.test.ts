/** Council formation guard and planner (guards/formation): coverage, ejection, augmenting paths. */
import { describe, expect, it } from 'vitest';
import { formationGuard } from '../../../src/core/guards/formation.js';
import { planCouncil } from '../../../src/core/domain/council.js';
import type { JsonObject } from '../../../src/core/index.js';
import { ctx, expectVerdict, genesisState } from './context.js';

const s0 = genesisState();
const inputs = (roles: string[], cands: [string, string[]][]): JsonObject => ({
  required_roles: roles, candidates: cands.map(([agent, capabilities]) => ({ agent, capabilities })),
});

describe('formation guard', () => {
  it.each([
    ['every role covered', null, inputs(['a', 'b'], [['p', ['a']], ['q', ['b']]]), []],
    ['a role nobody can take', 'coverage_incomplete', inputs(['a', 'b'], [['p', ['a']], ['q', ['a']]]), []],
    ['the only candidate for a role ejected', 'coverage_incomplete', inputs(['a', 'b'], [['p', ['a']], ['q', ['b']]]), ['q']],
    // Greedy would give a to p and leave b open; the matching moves a to q and gives b to p.
    ['coverage only an augmenting path finds', null, inputs(['a', 'b'], [['p', ['a', 'b']], ['q', ['a']]]), []],
    ['one agent for two roles', 'coverage_incomplete', inputs(['a', 'b'], [['p', ['a', 'b']]]), []],
  ] as const)('Given %s, When Council_ProfilesLoaded is checked, Then verdict %s (null: pass)', (_what, code, inp, ejected) => {
    const state = { ...s0, council: { ...s0.council, ejected: [...ejected] } };
    expectVerdict(formationGuard(ctx('Council_ProfilesLoaded', state, { inputs: inp })), code);
  });
  it('Given duplicated roles and capabilities, Then the plan is sorted, distinct and counts coverage as integers', () => {
    const plan = planCouncil(['b', 'a', 'b'], [{ agent: 'q', capabilities: ['b', 'b'] }, { agent: 'p', capabilities: ['a'] }], []);
    expect(plan).toEqual({
      required_roles: ['a', 'b'],
      candidates: [{ agent: 'p', capabilities: ['a'] }, { agent: 'q', capabilities: ['b'] }],
      assignments: [{ role: 'a', agent: 'p' }, { role: 'b', agent: 'q' }],
      unmatched_roles: [],
      coverage: { matched: 2, required: 2 },
    });
  });
});
