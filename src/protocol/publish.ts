/**
 * Publishing signed proposals and facts in their NATS form (ARCHITECTURE §3): the JCS body of
 * the object without its signature, signed under its domain, wrapped in the msgpack envelope,
 * published with `Nats-Msg-Id` = sha256 hex of the body. The SDK, the HTTP gateway, feeders
 * and simulators all publish through here.
 */
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { jcs } from '../core/index.js';
import { DOMAIN, type Domain } from '../crypto/domains.js';
import { hexToBytes } from '../crypto/keys.js';
import { encodeEnvelope, msgIdOf } from './envelope.js';

/** Something that signs bytes: a node signer on servers, noble in the portable SDK. */
export interface BytesSigner {
  readonly signer: string;
  signBytes(message: Uint8Array): Uint8Array;
}

/** An object ready to publish: subject suffix, envelope bytes and message id. */
export interface Envelope {
  readonly data: Uint8Array;
  readonly msgId: string;
  readonly body: string;
}

const enc = new TextEncoder();

/** Sign `obj` (its `signature` field, if any, is ignored) and wrap it in the envelope. */
export function envelopeFor(domain: Domain, obj: object, signer: BytesSigner): Envelope {
  const { signature: _drop, ...unsigned } = obj as Record<string, unknown>;
  const body = jcs(unsigned);
  const bodyBytes = enc.encode(body);
  const sig = signer.signBytes(enc.encode(`${domain}\n${body}`));
  return { data: encodeEnvelope(bodyBytes, sig), msgId: msgIdOf(bodyBytes), body };
}

/** Wrap an already-signed object (its hex `signature` field is used as is). */
export function envelopeOfSigned(obj: { readonly signature: string }): Envelope {
  const { signature, ...unsigned } = obj as Record<string, unknown> & { signature: string };
  const body = jcs(unsigned);
  const bodyBytes = enc.encode(body);
  return {
    data: encodeEnvelope(bodyBytes, hexToBytes(signature)),
    msgId: msgIdOf(bodyBytes),
    body,
  };
}

/**
 * Where a proposal goes (contract v2 §3): a project's subject, the v1 subject (no project: the
 * default project), or the control subject (deployment chain).
 */
export type ProposalRoute =
  | { readonly kind: 'project'; readonly project: string | null }
  | { readonly kind: 'control' };

/** The WAL subject of a proposal. */
export function proposalSubject(prefix: string, transition: string, route: ProposalRoute): string {
  if (route.kind === 'control') return `${prefix}.control.${transition}`;
  return route.project === null
    ? `${prefix}.proposals.${transition}`
    : `${prefix}.proposals.${route.project}.${transition}`;
}

/** Publish a proposal envelope to its subject (default: the v1 subject). */
export function publishProposal(
  js: JetStreamClient,
  prefix: string,
  transition: string,
  env: Envelope,
  route: ProposalRoute = { kind: 'project', project: null },
): Promise<PubAck> {
  return js.publish(proposalSubject(prefix, transition, route), env.data, { msgID: env.msgId });
}

/** Sign and publish a fact `{kind, signer, hlc, payload}` to `<prefix>.facts.<kind>`. */
export function publishFact(
  js: JetStreamClient,
  prefix: string,
  fact: { readonly kind: string; readonly hlc: string; readonly payload: object },
  signer: BytesSigner,
): Promise<PubAck> {
  const env = envelopeFor(
    DOMAIN.fact,
    { kind: fact.kind, signer: signer.signer, hlc: fact.hlc, payload: fact.payload },
    signer,
  );
  return js.publish(`${prefix}.facts.${fact.kind}`, env.data, { msgID: env.msgId });
}
