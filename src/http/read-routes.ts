/**
 * GET /state and GET /health: read-only views of what this process knows now. Both are built
 * from `Instance.status()` and the replica's current (immutable) state, read in the same tick
 * so the hashes and the projection describe the same state.
 */
import { PROJECT_RE, type Chart, type Core, type State } from '../core/index.js';
import type { InstanceStatus } from '../server/process/instance.js';
import { HttpError } from './errors.js';
import { redactSection, type RedactionKey } from './redact.js';

/** Section names a projection may ask for (lowercase; matched case-insensitively). */
export const PROJECTION_SECTIONS = [
  'boot', 'ingestion', 'council', 'environment', 'execution', 'control', 'policy', 'epochs',
  'clock', 'identities', 'meta', 'facts', 'idem', 'projects',
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

/**
 * The sections asked for; `idem` is summarized as `{count, base, head}`, never dumped, and
 * `identities` (who holds which role: a map of the deployment's keys) as `{count, hash}`
 * unless `showIdentities` (a request with the admin token); values from sensitive inputs are
 * redacted (redact.ts) for every reader.
 */
export function project(
  chart: Chart,
  state: State,
  names: readonly ProjectionSection[],
  identitiesHash: string,
  showIdentities: boolean,
  redactionKey: RedactionKey,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    if (name === 'idem') {
      const { count, base, head } = state.idem;
      out[name] = { count, base, head };
    } else if (name === 'identities' && !showIdentities) {
      out[name] = { count: Object.keys(state.identities).length, hash: identitiesHash };
    } else {
      out[name] = redactSection(name, state[name], chart, redactionKey);
    }
  }
  return out;
}

/**
 * The body of GET /projects/{project}/state (and of GET /state, the v1 alias on the default
 * project): the project's view, caught up to the deployment's facts. Throws `not_ready` before
 * the instance has recovered, `not_found` for a project the registry does not hold.
 */
export function stateBody(
  core: Core,
  st: InstanceStatus,
  projectId: string,
  state: State | null,
  projectionRaw: unknown,
  showIdentities: boolean,
  redactionKey: RedactionKey,
): Record<string, unknown> {
  const names = parseProjection(projectionRaw);
  if (st.role === 'starting') {
    throw new HttpError('not_ready', 'state: the instance has not recovered its state yet');
  }
  if (state === null) {
    throw new HttpError('not_found', `project: no project ${projectId} in the registry; ` +
      'GET /projects lists them');
  }
  const hs = core.hashes(state);
  return {
    project: projectId,
    hash: hs.head,
    facts_hash: hs.facts,
    hlc_last: state.clock.hlc_last,
    wal_seq: st.wal_seq,
    region_hashes: hs.sections,
    projection: project(core.chart, state, names, hs.identities, showIdentities, redactionKey),
  };
}

/** A project id in a path or query, checked; `not_found`-free (the caller looks it up). */
export function projectParam(raw: unknown, name = 'project'): string {
  if (typeof raw !== 'string' || !PROJECT_RE.test(raw)) {
    throw new HttpError('invalid_parameter',
      `${name}: expected a project id matching ^[a-z0-9][a-z0-9-]{0,62}$`, { path: name });
  }
  return raw;
}

/** Projects per page of GET /projects when `limit` is not given, and the largest page. */
export const PROJECTS_LIMIT_DEFAULT = 100;
export const PROJECTS_LIMIT_MAX = 1000;

/** One row of GET /projects. */
export interface ProjectRow {
  readonly project: string;
  readonly top: string;
  readonly hash: string;
  readonly hlc_last: string | null;
  readonly bucket: number;
  readonly writer: string | null;
}

/** GET /projects: a page of projects in id order after `after`. */
export async function projectsPage(
  ids: readonly string[],
  row: (id: string) => Promise<ProjectRow | null>,
  q: Record<string, unknown>,
): Promise<{ projects: ProjectRow[]; next: string | null }> {
  const unknown = Object.keys(q).find((k) => k !== 'after' && k !== 'limit');
  if (unknown !== undefined) {
    throw new HttpError('invalid_parameter',
      `${unknown}: unknown query parameter; expected after, limit`, { path: unknown });
  }
  const after = q['after'] === undefined ? null : projectParam(q['after'], 'after');
  const rawLimit = q['limit'];
  const limit = rawLimit === undefined ? PROJECTS_LIMIT_DEFAULT : Number(rawLimit);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > PROJECTS_LIMIT_MAX ||
    (typeof rawLimit === 'string' && !/^[0-9]{1,4}$/.test(rawLimit))) {
    throw new HttpError('invalid_parameter',
      `limit: expected an integer in 1..${PROJECTS_LIMIT_MAX}`, { path: 'limit' });
  }
  const from = after === null ? 0 : ids.findIndex((id) => id > after);
  const slice = from < 0 ? [] : ids.slice(from, from + limit);
  const rows: (ProjectRow | null)[] = [];
  for (const id of slice) rows.push(await row(id)); // one at a time: a cold one reads KV
  const projects = rows.filter((r): r is ProjectRow => r !== null);
  const more = from >= 0 && from + limit < ids.length;
  return { projects, next: more ? (slice.at(-1) ?? null) : null };
}

/** What GET /health reports. */
export interface HealthBody {
  readonly status: 'ok' | 'starting' | 'diverged' | 'degraded' | 'stopped';
  /** Why `degraded` or `diverged` (absent otherwise). */
  readonly reason?: string;
  readonly consensus: {
    readonly role: InstanceStatus['role'];
    readonly term: number;
    readonly leader: string | null;
  };
  readonly lastSnapshotHLC: string | null;
  readonly walLag: number;
  /** Writers by bucket only: what this process holds and how far its records are stored. */
  readonly buckets?: {
    readonly held: readonly number[];
    readonly stored_seq: number;
    readonly backlog: number;
  };
}

/** The health body and its HTTP status: 200 for a writer or follower that has not diverged. */
export function healthOf(
  st: InstanceStatus,
  leader: string | null,
): { http: number; body: HealthBody } {
  let status: HealthBody['status'];
  if (st.role === 'starting' || st.role === 'stopped') status = st.role;
  else if (st.diverged !== null) status = 'diverged';
  else status = st.degraded !== null ? 'degraded' : 'ok';
  const reason = status === 'diverged' ? st.diverged : status === 'degraded' ? st.degraded : null;
  return {
    http: status === 'ok' ? 200 : 503,
    body: {
      status,
      ...(reason === null ? {} : { reason }),
      consensus: { role: st.role, term: st.term, leader },
      lastSnapshotHLC: st.last_snapshot_hlc,
      walLag: st.wal_lag,
      ...(st.buckets_held === undefined
        ? {}
        : {
            buckets: {
              held: st.buckets_held,
              stored_seq: st.stored_seq ?? 0,
              backlog: st.backlog ?? 0,
              ...(st.deciding === undefined ? {} : { deciding: st.deciding }),
              ...(st.queued_bytes === undefined ? {} : { queued_bytes: st.queued_bytes }),
              ...(st.resident_projects === undefined
                ? {} : { resident_projects: st.resident_projects }),
              ...(st.cold_projects === undefined ? {} : { cold_projects: st.cold_projects }),
            },
          }),
    },
  };
}
