/** Approvals guard verdict table (guards/approvals); approvals_threshold is 2 in the cast genesis. */
import { describe, it } from 'vitest';
import { approvalsGuard } from '../../../src/core/guards/approvals.js';
import type { State } from '../../../src/core/index.js';
import { CAST, h } from '../../../src/proving/sim/world.js';
import { ctx, expectVerdict, genesisState } from './context.js';

const s0 = genesisState();
const review = (approvals: string[]): State => ({
  ...s0, execution: { ...s0.execution, state: 'REVIEW', work_hash: h('w'), approvals },
});

describe('approvals guard', () => {
  it.each([
    ['the work under review', null, h('w')],
    ['other work', 'work_hash_mismatch', h('other')],
  ] as const)('Given an approval of %s, When Execution_SubmitApproval is checked, Then verdict %s (null: pass)', (_what, code, work_hash) => {
    expectVerdict(approvalsGuard(ctx('Execution_SubmitApproval', review([]), { inputs: { work_hash } })), code);
  });
  it.each([
    [0, 'approvals_insufficient'],
    [1, 'approvals_insufficient'],
    [2, null],
    [3, null],
  ] as const)('Given %i approvals of 2 needed, When Execution_ApprovalsThreshold is checked, Then verdict %s (null: pass)', (n, code) => {
    const who = [CAST.c1.signer, CAST.c2.signer, CAST.c3.signer].slice(0, n);
    expectVerdict(approvalsGuard(ctx('Execution_ApprovalsThreshold', review(who))), code);
  });
});
