/**
 * Council formation (converge-formation shape): required roles, candidate profiles with
 * capabilities, and a plan of assignments, unmatched roles and coverage. The assignment is a
 * maximum bipartite matching (Kuhn's augmenting paths) over roles and candidates in sorted
 * order, so it is deterministic and covers every role whenever any assignment could.
 */
import { deny, pass, type GuardFn } from './contract.js';
import type { Candidate } from '../model/state.js';
import { planCouncil } from '../domain/council.js';

/** Passes when the plan covers every required role (ELECT needs full coverage). */
export const formationGuard: GuardFn = ({ state, proposal }) => {
  const inputs = proposal.inputs as unknown as {
    required_roles: string[];
    candidates: Candidate[];
  };
  const plan = planCouncil(inputs.required_roles, inputs.candidates, state.council.ejected);
  if (plan.unmatched_roles.length > 0) {
    return deny(
      'coverage_incomplete',
      `coverage ${plan.coverage.matched}/${plan.coverage.required}`,
      ...plan.unmatched_roles.map((r) => `no candidate for role ${r}`),
    );
  }
  return pass(`coverage ${plan.coverage.matched}/${plan.coverage.required}`);
};
