/**
 * POST /transition: the JSON form of a signed proposal (ARCHITECTURE §3) in, the writer's
 * decision out. The body gets exactly the schema stage the writer runs (plus the signature's
 * form) before anything is published, so a malformed proposal never reaches the WAL. A valid
 * one is published in its NATS form and answered from its decision record.
 */
import type { PubAck } from '@nats-io/jetstream';
import {
  type Core,
  type State,
  DEFAULT_PROJECT,
  SIGNATURE_RE,
  rolesIn,
  assertNever,
  isControlTransition,
  isJsonObject,
  jcsOrProblem,
} from '../core/index.js';
import type { DecisionRecord } from '../protocol/decision-record.js';
import { envelopeOfSigned, publishProposal, type ProposalRoute } from '../protocol/publish.js';
import { HttpError, invalidProposal } from './errors.js';
import { DOMAIN } from '../crypto/domains.js';
import type { SignatureVerifier } from '../crypto/verify.js';
import type { DecisionWaiter } from './waiter.js';

/**
 * A request body the gateway admits into the WAL: the signed object and its transition.
 * (The SDK's `checkProposal` is the producer's local schema check; this is the gateway's.)
 */
export interface AdmittedProposal {
  readonly signed: { readonly signature: string } & Record<string, unknown>;
  readonly transition: string;
  /** Where it is published: the body's project, the v1 subject, or the control subject. */
  readonly route: ProposalRoute;
  /** JCS of the body without its signature: what the signature covers. */
  readonly canonical: string;
}

/** Which path the body came in on (contract v2 §4). */
export type TransitionPath =
  | { readonly kind: 'project'; readonly project: string }
  | { readonly kind: 'control' }
  | { readonly kind: 'v1' };

/**
 * Validate a parsed request body: a JSON object, a well-formed `signature`, a canonical form,
 * then the core's schema stage on the body without its signature. Throws `invalid_proposal`.
 */
export function admitProposal(
  core: Core,
  body: unknown,
  path: TransitionPath = { kind: 'v1' },
): AdmittedProposal {
  if (!isJsonObject(body)) {
    throw invalidProposal('invalid_proposal', '', 'body: expected a JSON object');
  }
  const { signature, ...unsigned } = body;
  if (typeof signature !== 'string' || !SIGNATURE_RE.test(signature)) {
    throw invalidProposal('invalid_proposal', 'signature',
      'signature: expected 128 lowercase hex characters (64 bytes of Ed25519)');
  }
  const canonical = jcsOrProblem(unsigned);
  if (!canonical.ok) {
    throw invalidProposal(
      'invalid_proposal',
      '',
      `body: has no canonical JSON form: ${canonical.problem}`,
    );
  }
  const problem = core.validateProposal(unsigned);
  if (problem !== null) throw invalidProposal(problem.code, problem.path, problem.message);
  const transition = unsigned['transition'] as string;
  const route = routeOf(core, transition, unsigned['project'], path);
  return { signed: { ...unsigned, signature }, transition, route, canonical: canonical.text };
}

/**
 * The gateway writes nothing it can tell the writer would refuse for its signer: the
 * signature must verify (the verifier every replica uses) and the signer must hold a role the
 * transition allows, in the registry as this instance last folded it (`identities`). The
 * writer decides again from the log, so a registry change this instance has not seen yet
 * only delays a new identity's first proposal; it never lets a refused one in.
 */
export function verifyAdmitted(
  core: Core,
  verifier: SignatureVerifier,
  identities: State['identities'],
  p: AdmittedProposal,
  nowMs: number,
): void {
  const signer = String(p.signed['signer']);
  const msg = new TextEncoder().encode(`${DOMAIN.proposal}\n${p.canonical}`);
  if (!verifier.verify(signer, msg, p.signed.signature)) {
    throw new HttpError('bad_signature',
      `signature: does not verify for ${signer} over the body's canonical form; nothing was ` +
      'published', { path: 'signature' });
  }
  const identity = identities[signer];
  if (identity === undefined) {
    throw new HttpError('unknown_signer',
      `signer: ${signer} is not in the registry; an admin grants it roles (Identity_Grant); ` +
      'nothing was published', { path: 'signer' });
  }
  if (identity.not_after_ms !== undefined && nowMs >= identity.not_after_ms) {
    throw new HttpError('identity_expired',
      `signer: ${signer} expired at ${new Date(identity.not_after_ms).toISOString()}; an admin ` +
      'renews it with Identity_Grant; nothing was published', { path: 'signer' });
  }
  const spec = core.chart.transitions.find((t) => t.name === p.transition);
  const project = p.route.kind === 'project' ? p.route.project ?? DEFAULT_PROJECT : undefined;
  const roles = rolesIn(identity, project);
  if (spec !== undefined && !spec.roles.some((r) => roles.includes(r))) {
    throw new HttpError('unauthorized_role',
      `signer: ${p.transition} needs one of [${spec.roles.join(', ')}]; ${signer} has ` +
      `[${roles.join(', ')}]${project === undefined ? '' : ` in project ${project}`}; nothing ` +
      'was published', { path: 'signer' });
  }
}

/**
 * The subject a checked body is published to. The path and the body must agree, so nothing is
 * published that the chain would only reject: `/projects/{p}/transition` takes project
 * transitions whose body names `p`; `/control/transition` takes control transitions naming no
 * project; `/transition` (v1) routes a control transition to the control subject and any
 * other by the body's `project` (none: the default project).
 */
function routeOf(
  core: Core,
  transition: string,
  project: unknown,
  path: TransitionPath,
): ProposalRoute {
  const spec = core.chart.transitions.find((t) => t.name === transition);
  const control = spec !== undefined && isControlTransition(spec);
  const named = typeof project === 'string' ? project : null;
  switch (path.kind) {
    case 'v1':
      if (control && named !== null) {
        throw invalidProposal('project_mismatch', 'project',
          `project: a control proposal names no project, got ${named}`);
      }
      return control ? { kind: 'control' } : { kind: 'project', project: named };
    case 'control':
      if (!control) {
        throw invalidProposal('wrong_chain', 'transition',
          `transition: ${transition} is a project transition; POST it to ` +
          '/projects/{project}/transition');
      }
      if (named !== null) {
        throw invalidProposal('project_mismatch', 'project',
          `project: a control proposal names no project, got ${named}`);
      }
      return { kind: 'control' };
    case 'project':
      if (control) {
        throw invalidProposal('wrong_chain', 'transition',
          `transition: ${transition} is a control transition; POST it to /control/transition`);
      }
      if (named !== path.project) {
        throw invalidProposal('project_mismatch', 'project',
          named === null
            ? `project: the body must name project ${path.project} (it is signed)`
            : `project: the body names ${named}, the path names ${path.project}`);
      }
      return { kind: 'project', project: named };
  }
  return assertNever(path, 'transition path');
}

/** What POST /transition answers: an HTTP status and a JSON body. */
export interface Answer {
  readonly http: number;
  readonly body: Record<string, unknown>;
}

/** What answering needs from the gateway. */
export interface TransitionDeps {
  readonly core: Core;
  /** Check a body's signer before it is written (verifyAdmitted over the current registry). */
  readonly verify: (p: AdmittedProposal) => void;
  readonly waiter: DecisionWaiter;
  /** The chain's HEAD and last HLC now (a project id or `_deployment`), for rejections. */
  readonly headOf: (chain: string) => Promise<{ state_hash: string; hlc_last: string | null }>;
  readonly timeoutMs: number;
}

/** Publish a checked proposal to the WAL; NATS failures become `log_unavailable`. */
async function publish(deps: TransitionDeps, p: AdmittedProposal): Promise<PubAck> {
  await deps.waiter.ensureSubscribed();
  const { js, prefix } = deps.waiter.handles();
  try {
    return await publishProposal(js, prefix, p.transition, envelopeOfSigned(p.signed), p.route);
  } catch (err) {
    throw new HttpError('log_unavailable',
      `wal: publishing the proposal failed: ${(err as Error).message}`);
  }
}

/** Run POST /transition for a parsed body. Throws HttpError for every non-decision answer. */
export async function handleTransition(
  deps: TransitionDeps,
  body: unknown,
  path: TransitionPath = { kind: 'v1' },
): Promise<Answer> {
  const p = admitProposal(deps.core, body, path);
  deps.verify(p);
  const ack = await publish(deps, p);
  const rec = await deps.waiter.wait(ack.seq, deps.timeoutMs, ack.duplicate);
  if (rec === null) throw timeout(ack.seq, deps.timeoutMs);
  return answerFor(deps, rec, ack.duplicate);
}

function timeout(seq: number, ms: number): HttpError {
  return new HttpError('decision_timeout',
    `wal_seq: entry ${seq} is in the WAL but its decision was not seen within ${ms} ms; ` +
    `read GET /decisions/${seq} later`, { wal_seq: seq });
}

/**
 * Map a record to the answer. `resent` is true when JetStream acked the publish as a
 * duplicate of an entry already in the WAL: the answer is that entry's decision, marked as a
 * duplicate when it was accepted.
 */
async function answerFor(
  deps: TransitionDeps,
  rec: DecisionRecord,
  resent: boolean,
): Promise<Answer> {
  switch (rec.outcome) {
    case 'accepted':
      return accepted(rec, resent);
    case 'rejected':
    case 'quarantined':
      return rejected(deps, rec);
    case 'duplicate': {
      const seq = rec.original?.wal_seq;
      if (seq === undefined) {
        throw new HttpError('internal_error',
          `wal_seq: duplicate record ${rec.wal_seq} names no original`);
      }
      const orig = await deps.waiter.wait(seq, deps.timeoutMs, true);
      if (orig === null) throw timeout(rec.wal_seq, deps.timeoutMs);
      return orig.outcome === 'accepted' ? accepted(orig, true) : rejected(deps, orig);
    }
    case 'fact':
      throw new HttpError('internal_error', `wal_seq: entry ${rec.wal_seq} was decided as a fact`);
  }
  return assertNever(rec.outcome, 'record outcome');
}

function accepted(rec: DecisionRecord, duplicate: boolean): Answer {
  return {
    http: 202,
    body: {
      status: 'accepted',
      duplicate,
      dr_id: rec.dr_id,
      wal_seq: rec.wal_seq,
      state_hash: rec.state_post_hash,
      hlc: rec.hlc,
    },
  };
}

async function rejected(deps: TransitionDeps, rec: DecisionRecord): Promise<Answer> {
  let st: { state_hash: string; hlc_last: string | null };
  try {
    st = await deps.headOf(rec.project);
  } catch (err) {
    // The project is out of this member's memory and cannot be loaded, or its replay is not
    // there yet: the decision stands; the head it left is the record's post-state.
    if (!(err instanceof HttpError) || err.code !== 'project_unavailable') throw err;
    st = { state_hash: rec.state_post_hash, hlc_last: null };
  }
  return {
    http: 400,
    body: {
      status: 'rejected',
      code: rec.code,
      message: rec.message,
      failing_guard: rec.failing_guard,
      guard_outcomes: rec.guard_outcomes,
      dr_id: rec.dr_id,
      head: { state_hash: st.state_hash, hlc_last: st.hlc_last },
    },
  };
}
