/**
 * Council formation (converge-formation shape): required roles, candidate profiles with
 * capabilities, and a plan of assignments, unmatched roles and coverage. The formation guard
 * checks a plan's coverage; the reducer stores the plan. Both call this one function.
 */
import type { Candidate, CouncilPlan } from '../model/state.js';

/** Compute the role plan; ejected agents are left out. */
export function planCouncil(
  requiredRoles: readonly string[],
  candidates: readonly Candidate[],
  ejected: readonly string[],
): CouncilPlan {
  const roles = [...new Set(requiredRoles)].sort();
  const pool = candidates
    .filter((c) => !ejected.includes(c.agent))
    .map((c) => ({ agent: c.agent, capabilities: [...new Set(c.capabilities)].sort() }))
    .sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0));
  const agentOf = new Map<string, string>(); // role → agent
  const roleOf = new Map<string, string>(); // agent → role
  const tryAssign = (role: string, seen: Set<string>): boolean => {
    for (const c of pool) {
      if (!c.capabilities.includes(role) || seen.has(c.agent)) continue;
      seen.add(c.agent);
      const held = roleOf.get(c.agent);
      if (held === undefined || tryAssign(held, seen)) {
        agentOf.set(role, c.agent);
        roleOf.set(c.agent, role);
        return true;
      }
    }
    return false;
  };
  for (const role of roles) tryAssign(role, new Set());
  const assignments = roles.flatMap((role) => {
    const agent = agentOf.get(role);
    return agent === undefined ? [] : [{ role, agent }];
  });
  return {
    required_roles: roles,
    candidates: pool,
    assignments,
    unmatched_roles: roles.filter((r) => !agentOf.has(r)),
    coverage: { matched: assignments.length, required: roles.length },
  };
}
