/**
 * Readiness guard for Lifecycle_AllReady: all three lifecycle regions READY, and the pins the
 * proposal carries equal the state's (index-swap and split-council protection, brief §11).
 */
import { deny, pass, type GuardFn } from './contract.js';
import { isJsonObject, jcs } from '../encoding/json.js';

/** Passes when every region is READY and every pin matches. */
export const readinessGuard: GuardFn = ({ state, proposal }) => {
  const notReady: string[] = [];
  if (state.ingestion.state !== 'READY') notReady.push(`ingestion is ${state.ingestion.state}`);
  if (state.council.state !== 'READY') notReady.push(`council is ${state.council.state}`);
  if (state.environment.state !== 'READY') {
    notReady.push(`environment is ${state.environment.state}`);
  }
  if (notReady.length > 0) return deny('region_not_ready', ...notReady);
  const pins = proposal.inputs['pins'];
  if (!isJsonObject(pins)) return deny('pin_mismatch', 'pins missing');
  const expected: [string, string | null][] = [
    ['content_hash', state.ingestion.content_hash],
    ['ingestion_version', state.ingestion.version],
    ['member_set_hash', state.council.member_set_hash],
    ['env_version', state.environment.env_version],
  ];
  const bad = expected
    .filter(([k, v]) => pins[k] !== v)
    .map(
      ([k, v]) => `pins.${k}: proposal has ${jcs(pins[k] ?? null)}, state has ${v ?? 'nothing'}`,
    );
  if (bad.length > 0) return deny('pin_mismatch', ...bad);
  return pass('ingestion, council and environment READY with matching pins');
};
