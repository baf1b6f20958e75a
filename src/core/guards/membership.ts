/** Council membership guard: execution steps are proposed by elected members only. */
import { deny, pass, type GuardFn } from './contract.js';

/** Passes when the signer is in the elected member set. */
export const membershipGuard: GuardFn = ({ state, proposal }) => {
  if (!state.council.members.includes(proposal.signer)) {
    return deny('not_council_member', `${proposal.signer} is not an elected member`);
  }
  return pass(`signer is a member of term ${state.council.term}`);
};
