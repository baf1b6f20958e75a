/**
 * The rejection-code catalogue. Every code a decision can carry is listed here once, with
 * the check or guard that raises it. docs/errors.md documents each one; a test keeps the two
 * in step. Codes are stable snake_case strings: clients match on them, never on messages.
 */

/** Code → the check (or guard) that raises it and a one-line meaning. */
export const REJECTION_CODES = {
  // envelope and schema
  malformed_envelope: ['schema', 'The NATS envelope could not be decoded.'],
  invalid_proposal: ['schema', 'The proposal body is not valid JSON of the proposal shape.'],
  invalid_fact: ['schema', 'The fact body is not valid JSON of the fact shape.'],
  non_canonical_body: ['schema', 'The signed body is not the JCS form of itself.'],
  unknown_transition: ['schema', 'The transition is not in the statechart.'],
  not_proposable: ['schema', 'The transition is automatic; only the reducer fires it.'],
  subject_mismatch: ['schema', 'The subject names another transition or fact kind.'],
  invalid_inputs: ['schema', 'The inputs do not match the transition schema.'],
  invalid_evidence: ['schema', 'A ucxl:// evidence reference is not a UCXL address.'],
  inputs_hash_mismatch: ['schema', 'inputs_hash is not the hash of the JCS inputs.'],
  // projects and chains (contract v2)
  unknown_project: ['schema', 'The subject names a project the registry does not hold.'],
  project_mismatch: ['schema', 'The body names another project than its subject, or none.'],
  wrong_chain: ['schema', 'A control transition on a project subject, or the reverse.'],
  project_exists: ['project', 'Project_Create names a project that already exists.'],
  invalid_project_config: ['project', 'Project_Create parameters are not a valid config.'],
  // identity safety and writer keys
  reserved_role: ['identity', 'The writer role changes only by Writer_Rotate.'],
  self_grant: ['identity', 'An admin tried to grant admin or feeder to its own key.'],
  last_admin: ['identity', 'The revocation would leave the registry without an admin.'],
  invalid_writers: ['writers', 'Writer_Rotate names no key, a wrong key, or leaves no writer.'],
  // signature and authorization
  bad_signature: ['signature', 'The signature does not verify for the signer.'],
  unknown_signer: ['authorization', 'The signer is not in the identity registry.'],
  unauthorized_role: ['authorization', 'The signer holds none of the roles allowed.'],
  identity_expired: ['authorization', "The log time reached the signer's not_after_ms."],
  idem_conflict: ['idempotency', 'The idem key was already accepted for another request.'],
  // ordering
  hlc_regression: ['hlc', 'The HLC is not after the last accepted one.'],
  hlc_too_far_ahead: ['hlc', 'The HLC is further ahead of log time than allowed.'],
  hlc_too_old: ['hlc', 'The HLC is further behind log time than max_proposal_age_ms.'],
  stale_fact: ['hlc', 'The fact is not newer than the one already recorded.'],
  // gates
  in_quarantine: ['gate', 'The machine is QUARANTINED; only release or block apply.'],
  terminated: ['gate', 'The machine is TERMINATED.'],
  not_licensed: ['gate', 'Only boot transitions apply before the licence check passed.'],
  license_degraded: ['gate', 'The licence is revoked; only compensations and control apply.'],
  license_expired: ['gate', 'The licence grace period is over; only termination applies.'],
  // configuration and concurrency
  invalid_phase: ['phase', 'The transition is not allowed from the current configuration.'],
  stale_state_hash: ['concurrency', 'current_state_hash is not the HEAD (or region) hash.'],
  // guards
  license_inactive: ['license', 'No active licence fact.'],
  no_window: ['window', 'No BACKBEAT beat frame has been recorded.'],
  window_mismatch: ['window', 'window_id is not the open window.'],
  phase_not_allowed: ['window', 'The beat phase does not allow this window class.'],
  window_closed: ['window', 'The entry was logged after the window deadline.'],
  window_not_new: ['window', 'The class needs a window newer than the planned one.'],
  member_set_hash_mismatch: ['quorum', 'member_set_hash is not the hash of the member set.'],
  members_not_planned: ['quorum', 'The members are not the agents the plan assigned.'],
  wrong_term: ['quorum', 'The certificate is for another council term.'],
  bad_vote_signature: ['quorum', 'A vote signature does not verify.'],
  ineligible_voter: ['quorum', 'A voter does not hold the voter role.'],
  duplicate_voter: ['quorum', 'A voter voted twice.'],
  vote_mismatch: ['quorum', 'A vote is for another member set or term.'],
  vote_wrong_project: ['quorum', 'A vote is signed for another project.'],
  quorum_not_met: ['quorum', 'Fewer valid votes than the threshold.'],
  coverage_incomplete: ['formation', 'Some required roles have no candidate.'],
  tool_unreachable: ['tooling', 'A required MCP tool is unreachable or unknown.'],
  tool_version_mismatch: ['tooling', 'A required MCP tool is not at its pinned version.'],
  policy_breach: ['policy', 'A SHHH policy rule is breached; the machine is quarantined.'],
  region_not_ready: ['readiness', 'A lifecycle region is not READY.'],
  pin_mismatch: ['readiness', 'A pinned hash or version differs from the state.'],
  capacity_insufficient: ['capacity', 'The request exceeds the recorded capacity.'],
  no_capacity_fact: ['capacity', 'No capacity fact has been recorded.'],
  approvals_insufficient: ['approvals', 'Too few distinct members approved the work.'],
  work_hash_mismatch: ['approvals', 'The approval is for other work than the work under review.'],
  not_council_member: ['membership', 'The signer is not an elected council member.'],
} as const satisfies Record<string, readonly [string, string]>;

/** A stable rejection code. */
export type RejectionCode = keyof typeof REJECTION_CODES;

/** True when `code` is in the catalogue. */
export function isRejectionCode(code: string): code is RejectionCode {
  return Object.hasOwn(REJECTION_CODES, code);
}
