/**
 * The proposal's shape (ARCHITECTURE §3) and its schema stage: JSON, canonical bytes, fields,
 * the transition's inputs schema and inputs_hash. Everything here runs before the signature
 * check, so a malformed proposal is refused without looking at who signed it.
 */
import { isRecordBacklink, isUcxlRef, parseUcxl } from '../domain/ucxl.js';
import type { TransitionSpec } from '../model/chart-spec.js';
import type { RejectionCode } from '../model/codes.js';
import { parseCanonical } from '../encoding/canonical.js';
import type { DecideDeps } from './deps.js';
import { hashJcs, isSha256 } from '../encoding/hash.js';
import { parseHlc, type Hlc } from '../model/hlc.js';
import { isJsonObject, type JsonObject } from '../encoding/json.js';
import { validateInputs } from '../encoding/schema.js';
import type { EntryScope, Proposal, WalEntry } from '../model/types.js';
import { PROJECT_RE } from '../genesis.js';
import { SIGNER_RE } from '../model/ids.js';

/** Longest idem key: bounds idempotency memory per entry. */
export const IDEM_KEY_LENGTH_MAX = 256;
/** Most evidence references a proposal may carry. */
export const EVIDENCE_MAX = 64;
/** Longest evidence reference or window id. */
export const REF_LENGTH_MAX = 1000;

const FIELDS = new Set([
  'project', 'current_state_hash', 'transition', 'inputs', 'inputs_hash', 'signer', 'idem_key',
  'hlc', 'window_id', 'evidence',
]);

type Parsed =
  | { ok: true; proposal: Proposal; spec: TransitionSpec; hlc: Hlc }
  | { ok: false; code: RejectionCode; message: string };

const no = (code: RejectionCode, message: string): Parsed => ({ ok: false, code, message });

function shapeProblem(o: JsonObject): string | null {
  for (const k of Object.keys(o).sort()) if (!FIELDS.has(k)) return `${k}: unknown field`;
  const str = (k: string, max: number, min = 1): string | null => {
    const v = o[k];
    return typeof v === 'string' && v.length >= min && v.length <= max
      ? null : `${k}: expected a string of ${min}..${max} characters`;
  };
  const project = o['project'];
  if (project !== undefined && (typeof project !== 'string' || !PROJECT_RE.test(project))) {
    return 'project: expected a project id matching ^[a-z0-9][a-z0-9-]{0,62}$';
  }
  if (!isSha256(o['current_state_hash'])) return 'current_state_hash: expected sha256-<64 hex>';
  const t = str('transition', 100);
  if (t !== null) return t;
  if (o['inputs'] !== undefined && !isJsonObject(o['inputs'])) return 'inputs: expected an object';
  if (!isSha256(o['inputs_hash'])) return 'inputs_hash: expected sha256-<64 hex>';
  if (typeof o['signer'] !== 'string' || !SIGNER_RE.test(o['signer'])) {
    return 'signer: expected hmmm:pubkey:<64 lowercase hex>';
  }
  const idem = str('idem_key', IDEM_KEY_LENGTH_MAX);
  if (idem !== null) return idem;
  if (typeof o['hlc'] !== 'string') return 'hlc: expected a string';
  if (o['window_id'] !== undefined) {
    const w = str('window_id', REF_LENGTH_MAX, 0);
    if (w !== null) return w;
  }
  const ev = o['evidence'];
  if (ev !== undefined) {
    if (!Array.isArray(ev) || ev.length > EVIDENCE_MAX) {
      return `evidence: expected at most ${EVIDENCE_MAX} strings`;
    }
    const i = ev.findIndex(
      (e) => typeof e !== 'string' || e.length === 0 || e.length > REF_LENGTH_MAX,
    );
    if (i >= 0) return `evidence[${i}]: expected a string of 1..${REF_LENGTH_MAX} characters`;
  }
  return null;
}

/**
 * Why a proposal object failed the schema stage: a stable code, the field, and what was expected.
 */
export interface ProposalProblem {
  readonly code: RejectionCode;
  readonly path: string;
  readonly message: string;
}

/**
 * The schema stage on a parsed proposal object (without its signature): fields, transition,
 * HLC form, the transition's inputs schema and inputs_hash. The same function serves WAL
 * entries and the HTTP gateway, so both refuse the same things with the same codes.
 */
export function validateProposalObject(
  deps: Pick<DecideDeps, 'specs' | 'hasher' | 'chart'>,
  o: JsonObject,
):
  | { ok: true; proposal: Proposal; spec: TransitionSpec; hlc: Hlc }
  | { ok: false; problem: ProposalProblem } {
  const no = (code: RejectionCode, message: string): { ok: false; problem: ProposalProblem } => {
    const path = /^[\w.[\]]+(?=:)/.exec(message)?.[0] ?? '';
    return { ok: false, problem: { code, path, message } };
  };
  const shape = shapeProblem(o);
  if (shape !== null) return no('invalid_proposal', shape);
  const evidence = (o['evidence'] ?? []) as readonly string[];
  for (let i = 0; i < evidence.length; i++) {
    const e = evidence[i] as string;
    if (!isUcxlRef(e) || isRecordBacklink(e)) continue;
    const u = parseUcxl(e);
    if (!u.ok) return no('invalid_evidence', `evidence[${i}]: not a UCXL address: ${u.problem}`);
  }
  const name = o['transition'] as string;
  const spec = deps.specs.get(name);
  if (spec === undefined) {
    return no('unknown_transition', `transition: ${name} is not in the statechart`);
  }
  if (spec.automatic) {
    return no('not_proposable', `transition: ${name} is automatic; only the reducer fires it`);
  }
  const hlc = parseHlc(o['hlc'] as string);
  if (!hlc.ok) {
    return no(
      'invalid_proposal',
      hlc.message.startsWith('hlc') ? hlc.message : `hlc: ${hlc.message}`,
    );
  }
  const inputs = (o['inputs'] ?? {}) as JsonObject;
  const bad = validateInputs(spec.inputs, inputs, 'inputs');
  if (bad !== null) return no('invalid_inputs', `${bad.path}: ${bad.message}`);
  const roleProblem = unknownRole(deps, spec, inputs);
  if (roleProblem !== null) return no('invalid_inputs', roleProblem);
  const expected = hashJcs(deps.hasher, inputs);
  if (o['inputs_hash'] !== expected) {
    return no(
      'inputs_hash_mismatch',
      `inputs_hash: ${jcsText(o['inputs_hash'])} is not the hash of the JCS inputs, ${expected}`,
    );
  }
  const proposal = {
    project: o['project'] ?? null,
    current_state_hash: o['current_state_hash'],
    transition: name,
    inputs,
    inputs_hash: expected,
    signer: o['signer'],
    idem_key: o['idem_key'],
    hlc: o['hlc'],
    window_id: o['window_id'] ?? '',
    evidence: o['evidence'] ?? [],
  } as unknown as Proposal;
  return { ok: true, proposal, spec, hlc: hlc.hlc };
}

function jcsText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v ?? null);
}

/** Schema stage for a signed proposal entry. */
export function parseProposal(
  deps: DecideDeps,
  entry: Extract<WalEntry, { type: 'signed' }>,
  here?: string,
): Parsed {
  const body = parseCanonical(entry.body);
  if (!body.ok) return no(body.canonical ? 'invalid_proposal' : 'non_canonical_body', body.message);
  const v = validateProposalObject(deps, body.value);
  if (!v.ok) return no(v.problem.code, v.problem.message);
  if (entry.name !== v.proposal.transition) {
    return no(
      'subject_mismatch',
      `subject names ${entry.name}, body names ${v.proposal.transition}`,
    );
  }
  const chain = chainProblem(entry.scope, v.proposal, v.spec, here);
  return chain === null ? v : chain;
}

/**
 * Regions whose transitions are control transitions, decided in the deployment chain and
 * published to `<prefix>.control.<transition>` (contract v2 §3, §7).
 */
export const CONTROL_REGIONS: readonly string[] = ['identity', 'project', 'writer'];

/** True when a transition is a control transition (deployment chain). */
export function isControlTransition(spec: TransitionSpec): boolean {
  return CONTROL_REGIONS.includes(spec.region);
}

/**
 * The subject and the body must agree on the chain (contract v2 §3). A body signed for one
 * project is never valid in another: on a project's subject it must name that project; on the
 * v1 subject (no project token, the default project) it may name none; a control proposal
 * names none. Entries decided without a scope (a single-project core) skip this stage.
 */
function chainProblem(
  scope: EntryScope | undefined,
  p: Proposal,
  spec: TransitionSpec,
  here: string | undefined,
): Parsed | null {
  if (scope === undefined) return null;
  // The v1 subject carried every transition: a control one there is a control proposal.
  const v1Control = scope.kind === 'project' && scope.project === null && isControlTransition(spec);
  if (scope.kind === 'control' || v1Control) {
    if (!isControlTransition(spec)) {
      return no(
        'wrong_chain',
        `transition: ${spec.name} is a project transition; publish it to ` +
        `<prefix>.proposals.<project>.${spec.name}`,
      );
    }
    if (p.project !== null) {
      return no(
        'project_mismatch',
        `project: a control proposal names no project, got ${p.project}`,
      );
    }
    return null;
  }
  if (isControlTransition(spec)) {
    return no(
      'wrong_chain',
      `transition: ${spec.name} is a control transition; publish it to ` +
      `<prefix>.control.${spec.name}`,
    );
  }
  // The v1 subject names no project: the world routed the entry to the default project.
  const expected = scope.project ?? here ?? null;
  if (scope.project === null && (p.project === null || p.project === expected)) return null;
  if (p.project !== expected) {
    return no(
      'project_mismatch',
      p.project === null
        ? `project: the body names no project; a proposal on project ${scope.project}'s ` +
          'subject must name it (the signature must cover the project)'
        : `project: the body names ${p.project}, the subject names ` +
          `${scope.project ?? `no project (the v1 subject, project ${here ?? '-'})`}`,
    );
  }
  return null;
}

/** Identity transitions may only name roles the chart defines. */
function unknownRole(
  deps: Pick<DecideDeps, 'chart'>,
  spec: TransitionSpec,
  inputs: JsonObject,
): string | null {
  if (spec.region !== 'identity') return null;
  const roles = inputs['roles'] as readonly string[];
  const i = roles.findIndex((r) => !Object.hasOwn(deps.chart.roles, r));
  return i < 0 ? null : `inputs.roles[${i}]: unknown role "${roles[i] ?? ''}"`;
}
