/** The guard registry: every guard id the statechart may name, mapped to its provider. */
import type { GuardFn } from '../src/core/guard.js';
import type { GuardId } from '../src/core/generated/chart.js';
import { approvalsGuard } from './approvals/index.js';
import { capacityGuard } from './capacity/index.js';
import { formationGuard } from './formation/index.js';
import { licenseGuard } from './license/index.js';
import { membershipGuard } from './membership/index.js';
import { policyGuard } from './policy/index.js';
import { quorumGuard } from './quorum/index.js';
import { readinessGuard } from './readiness/index.js';
import { toolingGuard } from './tooling/index.js';
import { windowGuard } from './window/index.js';

/** Guard id → provider. Typed by the generated union, so a chart guard without a provider fails to compile. */
export const GUARDS: { readonly [K in GuardId]: GuardFn } = {
  approvals: approvalsGuard,
  capacity: capacityGuard,
  formation: formationGuard,
  license: licenseGuard,
  membership: membershipGuard,
  policy: policyGuard,
  quorum: quorumGuard,
  readiness: readinessGuard,
  tooling: toolingGuard,
  window: windowGuard,
};

export { planCouncil } from './formation/index.js';
export { evaluatePolicy, globMatch, policySubject } from './policy/index.js';
export { memberSetHash } from './quorum/index.js';
