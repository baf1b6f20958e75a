/** The seeded schedule of process faults: which fault, after how many published entries. */
import { Rng } from '../sim/planner.js';
import type { ChaosOptions, ProcessFaultKind } from './types.js';

/**
 * Default number of process faults for a run length: one per ~250 entries, at least one of
 * each kind.
 */
export function defaultFaultCount(transitions: number, kinds: number): number {
  return Math.max(kinds, Math.round(transitions / 250));
}

/** The seeded schedule: which fault, after how many published entries. */
export function faultSchedule(o: ChaosOptions): { at: number; kind: ProcessFaultKind }[] {
  const kinds = o.processFaults;
  if (kinds.length === 0 || o.faultCount <= 0) return [];
  const rng = new Rng((o.seed ^ 0xc4a05) >>> 0);
  const order = [...kinds];
  for (let i = order.length - 1; i > 0; i -= 1) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j] as ProcessFaultKind, order[i] as ProcessFaultKind];
  }
  const drawn: ProcessFaultKind[] = [];
  for (let i = 0; i < o.faultCount; i += 1) {
    drawn.push(i < order.length ? order[i] as ProcessFaultKind : rng.pick(kinds));
  }
  // Faults land between 5% and 80% of the load: the rest shows the system settling under load.
  const at = drawn
    .map(() => Math.floor(o.transitions * (0.05 + 0.75 * rng.next())))
    .sort((a, b) => a - b);
  return drawn.map((kind, i) => ({ at: at[i] ?? 0, kind }));
}
