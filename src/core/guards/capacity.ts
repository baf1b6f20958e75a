/** Environment capacity guard: the request must fit the latest capacity fact. */
import { deny, pass, type GuardFn } from './contract.js';

const RESOURCES = ['cpu_millis', 'memory_mb', 'slots'] as const;

/** Passes when every requested resource is at most what the capacity fact reports. */
export const capacityGuard: GuardFn = ({ state, proposal }) => {
  const cap = state.facts.capacity;
  if (!cap.known) return deny('no_capacity_fact', 'no capacity fact recorded yet');
  const short: string[] = [];
  for (const r of RESOURCES) {
    const want = proposal.inputs[r];
    if (typeof want === 'number' && want > cap[r]) {
      short.push(`${r}: requested ${want}, available ${cap[r]}`);
    }
  }
  if (short.length > 0) return deny('capacity_insufficient', ...short);
  return pass(`fits capacity ${cap.cpu_millis}m cpu, ${cap.memory_mb} MB, ${cap.slots} slots`);
};
