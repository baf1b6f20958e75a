/**
 * GET /state and GET /health: read-only views of what this process knows now. Both are built
 * from `Instance.status()` and the replica's current (immutable) state, read in the same tick
 * so the hashes and the projection describe the same state.
 */
import type { State } from '../core/index.js';
import type { InstanceStatus } from '../server/process/instance.js';
import { HttpError } from './errors.js';

/** Section names a projection may ask for (lowercase; matched case-insensitively). */
export const PROJECTION_SECTIONS = [
  'boot', 'ingestion', 'council', 'environment', 'execution', 'control', 'policy', 'epochs',
  'clock', 'identities', 'meta', 'facts', 'idem',
] as const satisfies readonly (keyof State)[];

/** A projectable section name. */
export type ProjectionSection = (typeof PROJECTION_SECTIONS)[number];

const SECTION_SET: ReadonlySet<string> = new Set(PROJECTION_SECTIONS);

/**
 * Parse the `projection` query value (a comma-separated list, possibly repeated) into section
 * names; undefined means every section. Throws `invalid_projection` naming the bad entry.
 */
export function parseProjection(raw: unknown): ProjectionSection[] {
  if (raw === undefined) return [...PROJECTION_SECTIONS];
  const parts = (Array.isArray(raw) ? raw : [raw]).map(String).join(',').split(',');
  const out: ProjectionSection[] = [];
  for (const part of parts) {
    const name = part.trim().toLowerCase();
    if (!SECTION_SET.has(name)) {
      const shown = part.trim() === '' ? 'an empty name' : JSON.stringify(part.trim());
      throw new HttpError('invalid_projection',
        `projection: ${shown} is not a state section; expected names from ` +
        `${PROJECTION_SECTIONS.join(', ')}`, { path: 'projection' });
    }
    if (!out.includes(name as ProjectionSection)) out.push(name as ProjectionSection);
  }
  return out;
}

/** The sections asked for; `idem` is summarized as `{count, base, head}`, never dumped. */
export function project(
  state: State,
  names: readonly ProjectionSection[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    if (name === 'idem') {
      const { count, base, head } = state.idem;
      out[name] = { count, base, head };
    } else {
      out[name] = state[name];
    }
  }
  return out;
}

/** The body of GET /state; throws `not_ready` before the instance has a state. */
export function stateBody(
  st: InstanceStatus,
  state: State | null,
  projectionRaw: unknown,
): Record<string, unknown> {
  const names = parseProjection(projectionRaw);
  if (state === null) {
    throw new HttpError('not_ready', 'state: the instance has not recovered its state yet');
  }
  return {
    hash: st.state_hash,
    facts_hash: st.facts_hash,
    hlc_last: st.hlc_last,
    wal_seq: st.wal_seq,
    region_hashes: st.region_hashes,
    projection: project(state, names),
  };
}

/** What GET /health reports. */
export interface HealthBody {
  readonly status: 'ok' | 'starting' | 'diverged' | 'stopped';
  readonly consensus: {
    readonly role: InstanceStatus['role'];
    readonly term: number;
    readonly leader: string | null;
  };
  readonly lastSnapshotHLC: string | null;
  readonly walLag: number;
}

/** The health body and its HTTP status: 200 for a writer or follower that has not diverged. */
export function healthOf(
  st: InstanceStatus,
  leader: string | null,
): { http: number; body: HealthBody } {
  let status: HealthBody['status'];
  if (st.role === 'starting' || st.role === 'stopped') status = st.role;
  else status = st.diverged !== null ? 'diverged' : 'ok';
  return {
    http: status === 'ok' ? 200 : 503,
    body: {
      status,
      consensus: { role: st.role, term: st.term, leader },
      lastSnapshotHLC: st.last_snapshot_hlc,
      walLag: st.wal_lag,
    },
  };
}
