/**
 * HMMM quorum-certificate guard (split-brain prevention, brief §11). Council_QuorumCert
 * carries the member set, its hash, the term and signed votes (`swoosh/vote/v1`; the shell
 * verified each signature and passes the verdicts in input order). Each vote names the
 * project it is for, inside its signature.
 */
import { deny, pass, type GuardFn } from './contract.js';
import { memberSetHash } from '../domain/quorum.js';
import { expiredAt, rolesIn } from '../model/state.js';

interface Vote {
  readonly voter: string;
  readonly project?: string;
  readonly member_set_hash: string;
  readonly term: number;
}

/** Passes when enough eligible, distinct, validly signed votes certify the member set. */
export const quorumGuard: GuardFn = ({ state, proposal, embedded, hash, log_ms }) => {
  const inputs = proposal.inputs as unknown as {
    members: string[]; member_set_hash: string; term: number; votes: Vote[];
  };
  const expected = memberSetHash(hash, inputs.members);
  if (inputs.member_set_hash !== expected) {
    return deny(
      'member_set_hash_mismatch',
      `member_set_hash ${inputs.member_set_hash}, members hash to ${expected}`,
    );
  }
  const planned = [...new Set((state.council.plan?.assignments ?? []).map((a) => a.agent))].sort();
  const members = [...new Set(inputs.members)].sort();
  if (planned.join('\n') !== members.join('\n')) {
    return deny(
      'members_not_planned',
      `members [${members.join(', ')}], plan assigned [${planned.join(', ')}]`,
    );
  }
  if (inputs.term !== state.council.term) {
    return deny(
      'wrong_term',
      `certificate for term ${inputs.term}, council is in term ${state.council.term}`,
    );
  }
  const seen = new Set<string>();
  for (let i = 0; i < inputs.votes.length; i++) {
    const v = inputs.votes[i] as Vote;
    if (embedded[i] !== true) {
      return deny('bad_vote_signature', `votes[${i}] from ${v.voter} does not verify`);
    }
    const voter = state.identities[v.voter];
    if (!rolesIn(voter, state.meta.project).includes('voter')) {
      return deny('ineligible_voter', `votes[${i}]: ${v.voter} does not hold the voter role`);
    }
    if (expiredAt(voter, log_ms)) {
      return deny('ineligible_voter', `votes[${i}]: ${v.voter} expired at not_after_ms ` +
        `${voter?.not_after_ms ?? '?'}`);
    }
    if (seen.has(v.voter)) return deny('duplicate_voter', `votes[${i}]: ${v.voter} voted twice`);
    seen.add(v.voter);
    if (v.member_set_hash !== expected || v.term !== inputs.term) {
      return deny('vote_mismatch', `votes[${i}] is for another member set or term`);
    }
    // A vote signed for one project never counts in another (contract v2 §2): it names the
    // proposal's project, and a vote naming none counts only for a proposal naming none.
    if ((v.project ?? null) !== proposal.project) {
      return deny(
        'vote_wrong_project',
        `votes[${i}] from ${v.voter} is signed for ${v.project ?? 'no project'}, ` +
        `the proposal for ${proposal.project ?? 'no project'}`,
      );
    }
  }
  const need = state.meta.config.quorum_threshold;
  if (seen.size < need) return deny('quorum_not_met', `${seen.size} of ${need} votes`);
  return pass(`${seen.size} of ${need} votes certify ${expected}`);
};
