/**
 * Council formation (converge-formation shape): required roles, candidate profiles with
 * capabilities, and a plan of assignments, unmatched roles and coverage. The assignment is a
 * maximum bipartite matching (Kuhn's augmenting paths) over roles and candidates in sorted
 * order, so it is deterministic and covers every role whenever any assignment could.
 */
import { deny, pass, type GuardFn } from './contract.js';
import type { Candidate } from '../model/state.js';
import { planCouncil } from '../domain/council.js';

/**
 * Passes when the plan names every role the project requires (its configuration's
 * `required_roles`, from Project_Create or the genesis) and covers every role it names (ELECT
 * needs full coverage).
 */
export const formationGuard: GuardFn = ({ state, proposal }) => {
  const inputs = proposal.inputs as unknown as {
    required_roles: string[];
    candidates: Candidate[];
  };
  const required = state.meta.config.required_roles ?? [];
  const missing = required.filter((r) => !inputs.required_roles.includes(r));
  if (missing.length > 0) {
    return deny(
      'coverage_incomplete',
      `the plan leaves out ${missing.length} of the ${required.length} roles the project requires`,
      ...missing.map((r) => `role ${r} is required by the project but not in required_roles`),
    );
  }
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
