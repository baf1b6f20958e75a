/**
 * The HTTP API's answers (ARCHITECTURE §4) as typed values, and the parsing that turns a status
 * and a JSON body into them. Wire fields keep the server's names; `kind` (ours) discriminates
 * and `httpStatus` carries the HTTP status. A body that does not have the documented shape
 * becomes an {@link ErrorAnswer} naming the field, never an exception. Portable.
 */
import type { GuardOutcome } from '../core/index.js';
import type { DecisionRecord } from '../protocol/decision-record.js';

/** `202 {status:"accepted", duplicate, dr_id, wal_seq, state_hash, hlc}`. */
export interface AcceptedAnswer {
  readonly kind: 'accepted';
  readonly httpStatus: number;
  /** True when the idem key was already accepted: this is the original decision. */
  readonly duplicate: boolean;
  readonly dr_id: string;
  readonly wal_seq: number;
  readonly state_hash: string;
  readonly hlc: string;
}

/** `400 {status:"rejected", code, message, failing_guard, guard_outcomes, dr_id, head}`. */
export interface RejectedAnswer {
  readonly kind: 'rejected';
  readonly httpStatus: number;
  /** Stable rejection code (docs/errors.md); match on it, never on the message. */
  readonly code: string;
  readonly message: string;
  readonly failing_guard: string | null;
  readonly guard_outcomes: readonly GuardOutcome[];
  readonly dr_id: string;
  readonly head: { readonly state_hash: string; readonly hlc_last: string | null };
}

/**
 * Refused by the gateway before publishing, so there is no decision record:
 * `400 {status:"rejected", code:"invalid_proposal", reason, message, path}` for a malformed
 * proposal (`reason` is the schema-stage code the writer would have recorded), `403` with
 * `bad_signature`, `unknown_signer`, `identity_expired` or `unauthorized_role` (checked
 * against the registry before writing), or another gateway code such as `413
 * body_too_large` or `415 unsupported_media_type` (docs/openapi.yaml).
 */
export interface InvalidAnswer {
  readonly kind: 'invalid';
  readonly httpStatus: number;
  readonly code: string;
  /** The specific schema-stage code (e.g. `invalid_inputs`); `code` when the body has none. */
  readonly reason: string;
  readonly message: string;
  /** The field at fault (`''` for the whole body). */
  readonly path: string;
}

/**
 * `504` with `wal_seq`: the proposal is in the WAL but its decision was not seen in time. It
 * will still be decided; look it up with `decision(wal_seq)` rather than re-proposing blindly.
 */
export interface TimeoutAnswer {
  readonly kind: 'timeout';
  readonly httpStatus: number;
  readonly wal_seq: number | null;
  readonly message: string;
}

/**
 * Any other answer: a gateway error (`503 not_ready` / `log_unavailable`: retry later; `404
 * not_found`; `500 internal_error`), an unexpected status, or a body without the documented
 * shape.
 */
export interface ErrorAnswer {
  readonly kind: 'error';
  readonly httpStatus: number;
  /** The body's stable `code` when it has one (docs/openapi.yaml), else null. */
  readonly code: string | null;
  readonly message: string;
  /** The parsed JSON body, or its text when it was not JSON. */
  readonly body: unknown;
}

/** Every answer of `POST /transition`. */
export type SubmitAnswer =
  | AcceptedAnswer | RejectedAnswer | InvalidAnswer | TimeoutAnswer | ErrorAnswer;

/** A read's answer: the parsed body, or an {@link ErrorAnswer}. */
export type HttpResult<T> =
  | { readonly kind: 'ok'; readonly httpStatus: number; readonly body: T }
  | ErrorAnswer;

/** `GET /state` → `{hash, facts_hash, hlc_last, wal_seq, region_hashes, projection}`. */
export interface StateAnswer {
  /** The HEAD hash (global transitions name it). */
  readonly hash: string;
  readonly facts_hash: string;
  /** The last accepted HLC; feed it to `ProducerClock.observe`. */
  readonly hlc_last: string | null;
  readonly wal_seq: number;
  /** Section hashes by name; region-scoped transitions name their region's. */
  readonly region_hashes: Readonly<Record<string, string>>;
  /** The requested projection of the state, as the server sent it. */
  readonly projection: unknown;
}

/** `GET /deployment` (the fields a producer and an operator read). */
export interface DeploymentAnswer {
  readonly genesis_hash: string;
  readonly chart_hash: string;
  /** HEAD of the deployment's document: what control proposals name. */
  readonly hash: string;
  readonly facts_hash: string;
  readonly identities_hash: string;
  readonly hlc_last: string | null;
  readonly buckets: number;
  readonly projects: number;
}

/** One row of `GET /projects`. */
export interface ProjectRowAnswer {
  readonly project: string;
  readonly top: string;
  readonly hash: string;
  readonly hlc_last: string | null;
  readonly bucket: number;
  readonly writer: string | null;
}

/** `GET /projects` → `{projects, next}`. */
export interface ProjectsPage {
  readonly projects: readonly ProjectRowAnswer[];
  readonly next: string | null;
}

/** `GET /health` → `{status, consensus:{role, term, leader}, lastSnapshotHLC, walLag}`. */
export interface HealthAnswer {
  readonly status: string;
  readonly consensus: {
    readonly role: string;
    readonly term: number;
    readonly leader: string | null;
  };
  readonly lastSnapshotHLC: string | null;
  readonly walLag: number;
}

/** `GET /decisions?…`: a page of matching records, in WAL order. */
export interface DecisionsPage {
  readonly records: readonly DecisionRecord[];
  /** Ask for the next page with `after_seq` = this (the request's own when the page is empty). */
  readonly next_after_seq: number;
}

/** Thrown inside this module only, when a body lacks the documented shape. */
class ShapeError extends Error {}

type Obj = Readonly<Record<string, unknown>>;

function objectAt(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ShapeError(`${what}: expected an object`);
  }
  return v as Obj;
}

function str(o: Obj, k: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new ShapeError(`${k}: expected a string`);
  return v;
}

function strOrNull(o: Obj, k: string): string | null {
  const v = o[k];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new ShapeError(`${k}: expected a string or null`);
  return v;
}

function int(o: Obj, k: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new ShapeError(`${k}: expected an integer`);
  }
  return v;
}

function guardOutcomes(v: unknown): readonly GuardOutcome[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ShapeError('guard_outcomes: expected an array');
  v.forEach((g: unknown, i) => {
    const o = objectAt(g, `guard_outcomes[${i}]`);
    if (typeof o['guard'] !== 'string' || typeof o['ok'] !== 'boolean') {
      throw new ShapeError(`guard_outcomes[${i}]: expected {guard, ok, code, reasons}`);
    }
  });
  return v as GuardOutcome[];
}

/** A decision record's identifying fields are present; the rest is taken as sent. */
export function asDecisionRecord(v: unknown, what = 'record'): DecisionRecord {
  const o = objectAt(v, what);
  for (const k of ['dr_id', 'writer', 'signature', 'prev_dr_hash', 'outcome']) {
    if (typeof o[k] !== 'string') throw new ShapeError(`${what}.${k}: expected a string`);
  }
  if (!Number.isSafeInteger(o['wal_seq'])) {
    throw new ShapeError(`${what}.wal_seq: expected an integer`);
  }
  return o as unknown as DecisionRecord;
}

function errorAnswer(httpStatus: number, body: unknown, why: string): ErrorAnswer {
  const o = typeof body === 'object' && body !== null ? body as Obj : {};
  const code = typeof o['code'] === 'string' ? o['code'] : null;
  const message = typeof o['message'] === 'string' ? `${why}: ${o['message']}` : why;
  return { kind: 'error', httpStatus, code, message, body };
}

/** Run a shape parser; a missing or mistyped field becomes an ErrorAnswer naming it. */
function shaped<T>(httpStatus: number, body: unknown, parse: () => T): T | ErrorAnswer {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof ShapeError)) throw err;
    return errorAnswer(httpStatus, body, `unexpected HTTP ${httpStatus} answer: ${err.message}`);
  }
}

function rejectedOrInvalid(httpStatus: number, o: Obj): RejectedAnswer | InvalidAnswer {
  const code = str(o, 'code');
  const message = strOrNull(o, 'message') ?? '';
  if (o['dr_id'] === undefined) {
    const reason = strOrNull(o, 'reason') ?? code;
    return { kind: 'invalid', httpStatus, code, reason, message, path: strOrNull(o, 'path') ?? '' };
  }
  const head = objectAt(o['head'], 'head');
  return {
    kind: 'rejected', httpStatus, code, message,
    failing_guard: strOrNull(o, 'failing_guard'),
    guard_outcomes: guardOutcomes(o['guard_outcomes']),
    dr_id: str(o, 'dr_id'),
    head: { state_hash: str(head, 'state_hash'), hlc_last: strOrNull(head, 'hlc_last') },
  };
}

/** Classify a `POST /transition` answer by its status and body. Never throws. */
export function parseSubmitAnswer(httpStatus: number, body: unknown): SubmitAnswer {
  const o = typeof body === 'object' && body !== null && !Array.isArray(body) ? body as Obj : {};
  const ok = httpStatus >= 200 && httpStatus < 300;
  if (ok && o['status'] === 'accepted') {
    return shaped<SubmitAnswer>(httpStatus, body, () => ({
      kind: 'accepted', httpStatus, duplicate: o['duplicate'] === true, dr_id: str(o, 'dr_id'),
      wal_seq: int(o, 'wal_seq'), state_hash: str(o, 'state_hash'), hlc: str(o, 'hlc'),
    }));
  }
  if (httpStatus >= 400 && httpStatus < 500 && o['status'] === 'rejected') {
    return shaped<SubmitAnswer>(httpStatus, body, () => rejectedOrInvalid(httpStatus, o));
  }
  if (httpStatus === 504) {
    const seq = o['wal_seq'];
    return {
      kind: 'timeout', httpStatus,
      wal_seq: typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : null,
      message: typeof o['message'] === 'string' ? o['message'] : 'decision not seen in time',
    };
  }
  return errorAnswer(httpStatus, body, `unexpected HTTP ${httpStatus} answer`);
}

/** Parse a 2xx read with `parse`; any other status becomes an ErrorAnswer. Never throws. */
export function parseRead<T>(
  httpStatus: number,
  body: unknown,
  parse: (body: unknown) => T,
  okStatuses: readonly number[] = [200],
): HttpResult<T> {
  if (!okStatuses.includes(httpStatus)) {
    return errorAnswer(httpStatus, body, `HTTP ${httpStatus}`);
  }
  return shaped<HttpResult<T>>(httpStatus, body, () => ({
    kind: 'ok', httpStatus, body: parse(body),
  }));
}

/** The shape of `GET /state`. */
export function asStateAnswer(body: unknown): StateAnswer {
  const o = objectAt(body, 'state');
  const regions = objectAt(o['region_hashes'], 'region_hashes');
  for (const [k, v] of Object.entries(regions)) {
    if (typeof v !== 'string') throw new ShapeError(`region_hashes.${k}: expected a string`);
  }
  return {
    hash: str(o, 'hash'), facts_hash: str(o, 'facts_hash'), hlc_last: strOrNull(o, 'hlc_last'),
    wal_seq: int(o, 'wal_seq'), region_hashes: regions as Readonly<Record<string, string>>,
    projection: o['projection'] ?? null,
  };
}

/** The shape of `GET /deployment`. */
export function asDeploymentAnswer(body: unknown): DeploymentAnswer {
  const o = objectAt(body, 'deployment');
  return {
    genesis_hash: str(o, 'genesis_hash'), chart_hash: str(o, 'chart_hash'), hash: str(o, 'hash'),
    facts_hash: str(o, 'facts_hash'), identities_hash: str(o, 'identities_hash'),
    hlc_last: strOrNull(o, 'hlc_last'), buckets: int(o, 'buckets'), projects: int(o, 'projects'),
  };
}

/** The shape of `GET /projects`. */
export function asProjectsPage(body: unknown): ProjectsPage {
  const o = objectAt(body, 'projects page');
  const rows = o['projects'];
  if (!Array.isArray(rows)) throw new ShapeError('projects: expected an array');
  return {
    projects: rows.map((r, i) => {
      const x = objectAt(r, `projects[${i}]`);
      const writer = x['writer'];
      return {
        project: str(x, 'project'), top: str(x, 'top'), hash: str(x, 'hash'),
        hlc_last: strOrNull(x, 'hlc_last'), bucket: int(x, 'bucket'),
        writer: typeof writer === 'string' ? writer : null,
      };
    }),
    next: strOrNull(o, 'next'),
  };
}

/** The shape of `GET /health` (a 503 carries the same body). */
export function asHealthAnswer(body: unknown): HealthAnswer {
  const o = objectAt(body, 'health');
  const c = objectAt(o['consensus'], 'consensus');
  return {
    status: str(o, 'status'),
    consensus: { role: str(c, 'role'), term: int(c, 'term'), leader: strOrNull(c, 'leader') },
    lastSnapshotHLC: strOrNull(o, 'lastSnapshotHLC'),
    walLag: int(o, 'walLag'),
  };
}

/** The shape of `GET /decisions?…`: `{records, next_after_seq}`. */
export function asDecisionsPage(body: unknown): DecisionsPage {
  const o = objectAt(body, 'decisions');
  const list = o['records'];
  if (!Array.isArray(list)) throw new ShapeError('records: expected an array');
  return {
    records: list.map((r: unknown, i) => asDecisionRecord(r, `records[${i}]`)),
    next_after_seq: int(o, 'next_after_seq'),
  };
}
