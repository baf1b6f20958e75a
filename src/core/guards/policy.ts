/**
 * SHHH policy guard. Rules come from `facts.policy` (seeded by genesis, replaced by newer
 * policy facts). A breach does not merely reject: the reducer moves the machine to
 * QUARANTINED with the rationale. The checked data is kept in the breach so that a newer
 * policy can be evaluated against exactly the same subject (automatic release).
 */
import { deny, pass, type GuardFn, type GuardVerdict } from './contract.js';
import type { JsonObject } from '../encoding/json.js';
import { evaluatePolicy, policySubject } from '../domain/policy.js';

/** Passes when no rule is breached; otherwise fails with a breach (→ QUARANTINED). */
export const policyGuard: GuardFn = ({ state, proposal }): GuardVerdict => {
  const rules = state.facts.policy.rules;
  const subject = policySubject(proposal.transition, proposal.inputs, state.ingestion.sources);
  const breaches = evaluatePolicy(rules, proposal.transition, subject, proposal.evidence);
  const first = breaches[0];
  if (first === undefined) return pass(`policy v${rules.version}: no rule breached`);
  const subjectJson: JsonObject = { uris: [...subject.uris], council_size: subject.council_size };
  return {
    ...deny('policy_breach', ...breaches.map(([rule, why]) => `${rule}: ${why}`)),
    breach: { rule: first[0], subject: subjectJson },
  } as GuardVerdict;
};
