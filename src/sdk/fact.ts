/**
 * Facts (ARCHITECTURE §6): signed observations a feeder publishes into the WAL,
 * `{kind, signer, hlc, payload}` under `swoosh/fact/v1`, on `<prefix>.facts.<kind>` (NATS only:
 * there is no HTTP route for facts). Portable: no node:* imports.
 */
import {
  FACT_KINDS,
  type FactKind,
  type FactProblem,
  type JsonObject,
  SIGNER_RE,
  checkFactPayload,
  isJsonObject,
  parseHlc,
} from '../core/index.js';
import { DOMAIN } from '../crypto/domains.js';
import { withSignature } from '../crypto/sign.js';
import type { Identity } from './identity.js';

export type { FactKind } from '../core/index.js';

/** A fact without its signature: the object that is signed. */
export interface UnsignedFact {
  readonly kind: FactKind;
  readonly signer: string;
  readonly hlc: string;
  readonly payload: JsonObject;
}

/** A signed fact. */
export interface SignedFact extends UnsignedFact {
  readonly signature: string;
}

const KINDS: ReadonlySet<string> = new Set(FACT_KINDS);

/**
 * An unsigned fact. Throws TypeError on an unknown kind, a malformed signer or HLC, or a
 * payload that is not a JSON object; {@link checkFact} also checks the payload's schema.
 */
export function buildFact(args: {
  readonly kind: FactKind;
  readonly signer: string;
  readonly hlc: string;
  readonly payload: JsonObject;
}): UnsignedFact {
  if (!KINDS.has(args.kind)) {
    throw new TypeError(`buildFact: kind: expected one of ${FACT_KINDS.join('|')}`);
  }
  if (!SIGNER_RE.test(args.signer)) throw new TypeError('buildFact: signer: expected a signer id');
  const hlc = parseHlc(args.hlc);
  if (!hlc.ok) throw new TypeError(`buildFact: ${hlc.message}`);
  if (!isJsonObject(args.payload)) throw new TypeError('buildFact: payload: expected an object');
  return { kind: args.kind, signer: args.signer, hlc: args.hlc, payload: args.payload };
}

/** `fact` signed by `identity`, which must be its signer (else TypeError). */
export function signFact(fact: UnsignedFact | SignedFact, identity: Identity): SignedFact {
  if (fact.signer !== identity.signer) {
    throw new TypeError(
      `signFact: the fact names ${fact.signer}, the identity is ${identity.signer}`);
  }
  return withSignature(DOMAIN.fact, fact, identity.secretKey);
}

/**
 * The server's payload check for the fact's kind, run locally: null when it passes, else the
 * stable code (`invalid_fact`) and a message naming the field.
 */
export function checkFact(fact: UnsignedFact | SignedFact): FactProblem | null {
  if (!KINDS.has(fact.kind)) {
    return { code: 'invalid_fact', message: `kind: expected one of ${FACT_KINDS.join('|')}` };
  }
  return checkFactPayload(fact.kind, fact.payload);
}
