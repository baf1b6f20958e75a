/** Council membership guard verdict table (guards/membership). */
import { describe, it } from 'vitest';
import { membershipGuard } from '../../../src/core/guards/membership.js';
import { CAST } from '../../../src/proving/sim/world.js';
import { ctx, expectVerdict, genesisState } from './context.js';

const s0 = genesisState();
const state = { ...s0, council: { ...s0.council, members: [CAST.c1.signer, CAST.c2.signer].sort() } };

describe('membership guard', () => {
  it.each([
    ['an elected member', null, CAST.c1.signer],
    ['another elected member', null, CAST.c2.signer],
    ['a council agent not elected', 'not_council_member', CAST.c3.signer],
  ] as const)('Given %s as signer, When Execution_PlanLocked is checked, Then verdict %s (null: pass)', (_who, code, signer) => {
    expectVerdict(membershipGuard(ctx('Execution_PlanLocked', state, { signer })), code);
  });
});
