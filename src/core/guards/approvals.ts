/**
 * Approvals guard. For Execution_SubmitApproval: the approval names the work under review.
 * For Execution_ApprovalsThreshold: enough distinct members approved that work.
 */
import { deny, pass, type GuardFn } from './contract.js';
import { jcs } from '../encoding/json.js';

/** Passes when the approval targets the current work, or when the threshold is met. */
export const approvalsGuard: GuardFn = ({ state, proposal, spec }) => {
  const ex = state.execution;
  if (spec.name === 'Execution_SubmitApproval') {
    if (proposal.inputs['work_hash'] !== ex.work_hash) {
      return deny(
        'work_hash_mismatch',
        `approval for ${jcs(proposal.inputs['work_hash'] ?? null)}, under review ` +
        `${ex.work_hash ?? 'nothing'}`,
      );
    }
    return pass(`approval of ${ex.work_hash ?? ''}`);
  }
  const need = state.meta.config.approvals_threshold;
  if (ex.approvals.length < need) {
    return deny('approvals_insufficient', `${ex.approvals.length} of ${need} approvals`);
  }
  return pass(`${ex.approvals.length} of ${need} approvals: ${ex.approvals.join(', ')}`);
};
