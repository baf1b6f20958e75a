/**
 * Building and signing proposals (ARCHITECTURE §3) and choosing the hash they name.
 * Portable: no node:* imports (hashing is @noble/hashes, signing @noble/curves).
 *
 * The signed bytes are `utf8("swoosh/proposal/v1\n") ‖ JCS(proposal without signature)`; the
 * JSON form carries the hex `signature`, and the NATS form (nats.ts) carries the same JCS body
 * and signature bytes in the msgpack envelope, so one signature serves both transports.
 */
import { randomBytes } from '@noble/hashes/utils.js';
import {
  CHART,
  EVIDENCE_MAX,
  IDEM_KEY_LENGTH_MAX,
  type JsonObject,
  type ProposalProblem,
  REF_LENGTH_MAX,
  SIGNER_RE,
  type TransitionSpec,
  hashJcs,
  PROJECT_RE,
  hashTargetOf,
  isJsonObject,
  isSha256,
  parseHlc,
  validateProposalObject,
} from '../core/index.js';
import { nobleHasher } from '../crypto/hasher-portable.js';
import { DOMAIN } from '../crypto/domains.js';
import { bytesToHex } from '../crypto/keys.js';
import { withSignature } from '../crypto/sign.js';
import type { StateAnswer } from './answers.js';
import type { Identity } from './identity.js';

/** A proposal without its signature: exactly the object that is signed. */
export interface UnsignedProposal {
  /** The project it is for (signed); absent for control proposals and v1 producers. */
  readonly project?: string;
  readonly current_state_hash: string;
  readonly transition: string;
  readonly inputs: JsonObject;
  readonly inputs_hash: string;
  readonly signer: string;
  readonly idem_key: string;
  readonly hlc: string;
  readonly window_id: string;
  readonly evidence: readonly string[];
}

/** The JSON form: the proposal and its 128-hex Ed25519 `signature`. */
export interface SignedProposal extends UnsignedProposal {
  readonly signature: string;
}

/** What {@link buildProposal} needs. Absent optional fields take the documented defaults. */
export interface BuildProposalArgs {
  /** The project (contract v2); leave out for control transitions and the v1 default. */
  readonly project?: string | undefined;
  readonly transition: string;
  /** Default `{}` (the server reads an absent `inputs` as `{}` too). */
  readonly inputs?: JsonObject | undefined;
  /** The proposer's signer id, `hmmm:pubkey:<hex>`. */
  readonly signer: string;
  /** Default `<transition>:<random uuid>`; reuse a key to retry the same intent. */
  readonly idemKey?: string | undefined;
  /** From {@link ProducerClock.next}. */
  readonly hlc: string;
  /** Default `''` (transitions without a BACKBEAT window class need none). */
  readonly windowId?: string | undefined;
  /** Default `[]`. */
  readonly evidence?: readonly string[] | undefined;
  /** HEAD or region hash, see {@link hashFor}. */
  readonly currentStateHash: string;
}

const SPECS: ReadonlyMap<string, TransitionSpec> = new Map(
  CHART.transitions.map((t) => [t.name, t]),
);

/** A random (version 4) UUID from the platform CSPRNG, via noble. */
export function randomUuid(): string {
  const b = randomBytes(16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytesToHex(b);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-` +
    hex.slice(20);
}

/** The default idempotency key of a new intent: `<transition>:<random uuid>`. */
export function newIdemKey(transition: string): string {
  return `${transition}:${randomUuid()}`;
}

/** `sha256-<hex>` of the JCS bytes of `inputs`: the proposal's `inputs_hash`. */
export function inputsHashOf(inputs: JsonObject): string {
  return hashJcs(nobleHasher, inputs);
}

function fail(message: string): never {
  throw new TypeError(`buildProposal: ${message}`);
}

function checkArgs(a: BuildProposalArgs, idemKey: string, evidence: readonly string[]): void {
  if (typeof a.transition !== 'string' || a.transition === '') fail('transition: expected a name');
  if (a.project !== undefined && !PROJECT_RE.test(a.project)) {
    fail('project: expected a project id matching ^[a-z0-9][a-z0-9-]{0,62}$');
  }
  if (!SIGNER_RE.test(a.signer)) fail('signer: expected hmmm:pubkey:<64 lowercase hex>');
  if (!isSha256(a.currentStateHash)) fail('currentStateHash: expected sha256-<64 lowercase hex>');
  const hlc = parseHlc(a.hlc);
  if (!hlc.ok) fail(hlc.message);
  if (a.inputs !== undefined && !isJsonObject(a.inputs)) fail('inputs: expected a JSON object');
  if (idemKey.length === 0 || idemKey.length > IDEM_KEY_LENGTH_MAX) {
    fail(`idemKey: expected 1..${IDEM_KEY_LENGTH_MAX} characters`);
  }
  if ((a.windowId ?? '').length > REF_LENGTH_MAX) fail(`windowId: longer than ${REF_LENGTH_MAX}`);
  if (evidence.length > EVIDENCE_MAX) fail(`evidence: more than ${EVIDENCE_MAX} references`);
  const bad = evidence.findIndex((e) => e.length === 0 || e.length > REF_LENGTH_MAX);
  if (bad >= 0) fail(`evidence[${bad}]: expected 1..${REF_LENGTH_MAX} characters`);
}

/**
 * An unsigned proposal with `inputs_hash` computed (JCS + SHA-256). Throws TypeError when a
 * field is malformed (bad signer, hash, HLC, idem key or evidence): those are programmer
 * errors the server would only reject. Whether the transition exists and its inputs fit the
 * schema is the server's call; {@link checkProposal} asks the same question locally.
 */
export function buildProposal(args: BuildProposalArgs): UnsignedProposal {
  const idemKey = args.idemKey ?? newIdemKey(args.transition);
  const evidence = [...(args.evidence ?? [])];
  checkArgs(args, idemKey, evidence);
  const inputs = args.inputs ?? {};
  return {
    ...(args.project === undefined ? {} : { project: args.project }),
    current_state_hash: args.currentStateHash,
    transition: args.transition,
    inputs,
    inputs_hash: inputsHashOf(inputs),
    signer: args.signer,
    idem_key: idemKey,
    hlc: args.hlc,
    window_id: args.windowId ?? '',
    evidence,
  };
}

/**
 * The JSON form of `proposal` signed by `identity` (any old signature is replaced). Throws
 * TypeError when `identity` is not the proposal's signer: that signature could never verify.
 */
export function signProposal(
  proposal: UnsignedProposal | SignedProposal,
  identity: Identity,
): SignedProposal {
  if (proposal.signer !== identity.signer) {
    throw new TypeError(`signProposal: the proposal names ${proposal.signer}, ` +
      `the identity is ${identity.signer}`);
  }
  return withSignature(DOMAIN.proposal, proposal, identity.secretKey);
}

/**
 * The server's schema stage run locally (the same function the writer and the HTTP gateway
 * run): null when `proposal` would pass it, else the stable code, the field's path and a
 * message. It knows the statechart this SDK was built with, so a newer server may know more.
 */
export function checkProposal(proposal: UnsignedProposal | SignedProposal): ProposalProblem | null {
  const { signature: _drop, ...unsigned } = proposal as SignedProposal;
  const deps = { specs: SPECS, hasher: nobleHasher, chart: CHART };
  const v = validateProposalObject(deps, unsigned);
  return v.ok ? null : v.problem;
}

/** The transition's statechart entry; throws RangeError when this SDK's chart lacks it. */
function specOf(transition: string): TransitionSpec {
  const spec = SPECS.get(transition);
  if (spec === undefined) {
    const name = JSON.stringify(transition);
    throw new RangeError(`unknown transition ${name} (not in this SDK's statechart)`);
  }
  return spec;
}

/**
 * Which hash a proposal for `transition` must name as `current_state_hash`: `'global'` (the
 * HEAD hash) or the name of its region (that region's hash). A region-scoped transition names
 * its region's hash, so proposals in different regions do not make each other stale; a
 * `monotone` (CALM) transition skips the check, so any hash works and HEAD is used. Throws
 * RangeError for a transition this SDK's statechart does not know.
 */
export function proposalHashTarget(transition: string): string {
  const spec = specOf(transition);
  // The core's rule (hashTargetOf), so the SDK names what decide checks. Until issue 10 the
  // SDK named any region without the core's five-section filter; every region-scoped
  // transition of this SDK's chart is in one of the five, so no answer changed.
  if (spec.coordination === 'monotone') return 'global';
  const target = hashTargetOf(spec);
  return target === 'head' ? 'global' : target;
}

/**
 * The `current_state_hash` for `transition` from a `GET /state` answer: `state.hash` or
 * `state.region_hashes[region]` (see {@link proposalHashTarget}). Throws RangeError when the
 * answer lacks that region's hash.
 */
export function hashFor(
  transition: string,
  state: Pick<StateAnswer, 'hash' | 'region_hashes'>,
): string {
  const target = proposalHashTarget(transition);
  if (target === 'global') return state.hash;
  const h = state.region_hashes[target];
  if (h === undefined) throw new RangeError(`hashFor: the state answer has no ${target} hash`);
  return h;
}
