/** The guard registry: every guard id the statechart may name, mapped to its provider. */
import type { GuardFn } from './contract.js';
import type { GuardId } from '../generated/chart.js';
import { approvalsGuard } from './approvals.js';
import { capacityGuard } from './capacity.js';
import { formationGuard } from './formation.js';
import { identityGuard } from './identity.js';
import { licenseGuard } from './license.js';
import { membershipGuard } from './membership.js';
import { policyGuard } from './policy.js';
import { projectGuard } from './project.js';
import { quorumGuard } from './quorum.js';
import { readinessGuard } from './readiness.js';
import { toolingGuard } from './tooling.js';
import { windowGuard } from './window.js';
import { writersGuard } from './writers.js';

/**
 * Guard id → provider. Typed by the generated union, so a chart guard without a provider fails to
 * compile.
 */
export const GUARDS: { readonly [K in GuardId]: GuardFn } = {
  approvals: approvalsGuard,
  capacity: capacityGuard,
  formation: formationGuard,
  identity: identityGuard,
  license: licenseGuard,
  membership: membershipGuard,
  policy: policyGuard,
  project: projectGuard,
  quorum: quorumGuard,
  readiness: readinessGuard,
  tooling: toolingGuard,
  window: windowGuard,
  writers: writersGuard,
};

