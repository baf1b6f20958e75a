/**
 * The NATS form of proposals and facts (ARCHITECTURE §3): a msgpack envelope
 * `{ v: 1, body: <JCS bytes of the object without signature>, sig: <64 bytes> }`, published
 * with `Nats-Msg-Id: <sha256 hex of body>`. Decoding never throws: anything that is not a valid
 * envelope becomes a malformed entry with a stable code, so it still gets its decision record.
 */
import { Packr } from 'msgpackr';
import { createHash } from 'node:crypto';

/** One codec for the whole process; records off so maps stay maps (interoperable msgpack). */
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Largest body accepted in an envelope (the WAL's max_msg_size bounds the whole message). */
export const ENVELOPE_BODY_MAX_BYTES = 1_048_576;

/** A decoded envelope. */
export type Decoded =
  | { readonly ok: true; readonly body: Uint8Array; readonly sig: Uint8Array }
  | { readonly ok: false; readonly code: 'malformed_envelope'; readonly message: string };

/** Encode an envelope. */
export function encodeEnvelope(body: Uint8Array, sig: Uint8Array): Uint8Array {
  return packr.pack({ v: 1, body, sig });
}

const bad = (message: string): Decoded => ({ ok: false, code: 'malformed_envelope', message });

/** Decode an envelope; every problem is a stable code and a message naming the field. */
export function decodeEnvelope(data: Uint8Array): Decoded {
  let value: unknown;
  try {
    value = packr.unpack(data);
  } catch (err) {
    return bad(`not msgpack: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('envelope: expected a map');
  const o = value as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => k !== 'v' && k !== 'body' && k !== 'sig');
  if (extra !== undefined) return bad(`envelope.${extra}: unknown field`);
  if (o['v'] !== 1) return bad('envelope.v: expected 1');
  const body = o['body'];
  const sig = o['sig'];
  if (!(body instanceof Uint8Array)) return bad('envelope.body: expected bytes');
  if (body.length > ENVELOPE_BODY_MAX_BYTES) return bad(`envelope.body: larger than ${ENVELOPE_BODY_MAX_BYTES} bytes`);
  if (!(sig instanceof Uint8Array) || sig.length !== 64) return bad('envelope.sig: expected 64 bytes');
  return { ok: true, body, sig };
}

/** `Nats-Msg-Id` of an envelope: sha256 hex of its body (exact re-sends are deduplicated). */
export function msgIdOf(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * Identity of a stored WAL entry, recorded in its decision record and in snapshots so that a
 * WAL whose sequence numbers were reused after a lost tail is detected. It hashes the subject
 * and, for a decodable envelope, the JCS body and the signature (never the msgpack bytes,
 * whose encoding may vary between producers); only an undecodable entry hashes its raw bytes.
 * Pass `decoded` when the envelope was already decoded (the writer's hot path decodes once).
 */
export function walEntryHash(subject: string, data: Uint8Array, decoded: Decoded = decodeEnvelope(data)): string {
  const h = createHash('sha256').update(`swoosh/wal/v1\n${subject}\n`);
  if (decoded.ok) h.update('sig:').update(Buffer.from(decoded.sig).toString('hex')).update('\n').update(decoded.body);
  else h.update('raw:').update(data);
  return `sha256-${h.digest('hex')}`;
}
