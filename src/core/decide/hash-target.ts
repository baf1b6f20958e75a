/**
 * Which hash a proposal must name as `current_state_hash` (decide step 8): the section hash of
 * its region when the transition is region-scoped and the region is one of the five lifecycle
 * sections, HEAD otherwise. One rule for the core, the SDK and the simulator. (A `monotone`
 * transition is not checked at all; decide skips the step before asking.)
 */
import type { TransitionSpec } from '../model/chart-spec.js';
import type { HeadSection } from '../model/state.js';

/** The five lifecycle sections a region-scoped proposal may name the hash of. */
export const REGION_SECTIONS = [
  'boot', 'ingestion', 'council', 'environment', 'execution',
] as const satisfies readonly HeadSection[];

/** One of the five lifecycle sections. */
export type RegionSection = (typeof REGION_SECTIONS)[number];

const REGION_SET: ReadonlySet<string> = new Set(REGION_SECTIONS);

/** The section whose hash a proposal for `spec` names, or `'head'` for the HEAD hash. */
export function hashTargetOf(
  spec: Pick<TransitionSpec, 'scope' | 'region'>,
): RegionSection | 'head' {
  const regional = spec.scope === 'region' && REGION_SET.has(spec.region);
  return regional ? (spec.region as RegionSection) : 'head';
}
