/** KACHING licence guard: a hard gate in LICENSE_CHECK (Boot_Licensed). */
import { deny, pass, type GuardFn } from './contract.js';

/** Passes only while the latest licence fact says `active`. */
export const licenseGuard: GuardFn = ({ state }) => {
  const lic = state.facts.license;
  if (lic.status !== 'active') {
    return deny('license_inactive', `licence status is ${lic.status}`);
  }
  return pass(`licence ${lic.license_id ?? '(unnamed)'} active since ${lic.since_ms ?? 0}`);
};
