/** Council membership guard verdict table (guards/membership). */
import { describe, it } from 'vitest';
import { membershipGuard } from '../../../guards/membership/index.js';
import { CAST } from '../../support/world.js';
import { ctx, expectVerdict, genesisState } from './context.js';

const s0 = genesisState();
const state = { ...s0, council: { ...s0.council, members: [CAST.c1.signer, CAST.c2.signer].sort() } };

describe('membership guard', () => {
  it.each([
    ['an elected member', CAST.c1.signer, null],
    ['another elected member', CAST.c2.signer, null],
    ['a council agent not elected', CAST.c3.signer, 'not_council_member'],
  ] as const)('Given %s as signer, When Execution_PlanLocked is checked, Then %s', (_who, signer, code) => {
    expectVerdict(membershipGuard(ctx('Execution_PlanLocked', state, { signer })), code);
  });
});
