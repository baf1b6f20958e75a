/**
 * The NATS form of proposals and facts (ARCHITECTURE §3): a msgpack envelope
 * `{ v: 1, body: <JCS bytes of the object without signature>, sig: <64 bytes> }`, published
 * with `Nats-Msg-Id: <sha256 hex of body>`. Decoding never throws: anything that is not a valid
 * envelope becomes a malformed entry with a stable code, so it still gets its decision record.
 */
import { Packr } from 'msgpackr';
import { createHash } from 'node:crypto';
import { firstInvalidUtf8 } from './utf8.js';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The encoder; records off so maps stay maps (interoperable msgpack). Decoding is our own. */
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

/**
 * Decode an envelope; every problem is a stable code and a message naming the field or the
 * byte offset. The decoder is SWOOSH's own and reads only the shapes an envelope may take
 * (a map of three str keys; `v` an integer, `body` and `sig` bin), without recursion: a
 * library's verdict or error text on hostile bytes (msgpackr's, whose wording and nesting
 * limits change between versions and runtimes) must never reach a decision record.
 */
export function decodeEnvelope(data: Uint8Array): Decoded {
  const r = new EnvelopeReader(data);
  const count = r.mapHeader();
  if (count === null) return bad(r.problem ?? 'envelope: expected a map');
  let v: number | null = null;
  let body: Uint8Array | null = null;
  let sig: Uint8Array | null = null;
  for (let i = 0; i < count; i++) {
    const key = r.str();
    if (key === null) return bad(r.problem ?? 'envelope: expected a string key');
    if (key !== 'v' && key !== 'body' && key !== 'sig') {
      return bad(`envelope.${printable(key)}: unknown field`);
    }
    if (
      (key === 'v' && v !== null) ||
      (key === 'body' && body !== null) ||
      (key === 'sig' && sig !== null)
    ) {
      return bad(`envelope.${key}: field repeated`);
    }
    if (key === 'v') {
      v = r.int();
      if (v === null) return bad(r.problem ?? 'envelope.v: expected 1');
    } else {
      const bytes = r.bin(key, key === 'body' ? ENVELOPE_BODY_MAX_BYTES : 64);
      if (bytes === null) return bad(r.problem ?? `envelope.${key}: expected bytes`);
      if (key === 'body') body = bytes;
      else sig = bytes;
    }
  }
  if (r.at !== data.length) {
    return bad(`envelope: ${data.length - r.at} bytes after the map at byte ${r.at}`);
  }
  if (v !== 1) return bad('envelope.v: expected 1');
  if (body === null) return bad('envelope.body: expected bytes');
  if (sig === null || sig.length !== 64) return bad('envelope.sig: expected 64 bytes');
  return { ok: true, body, sig };
}

/** Longest key echoed in a message; keys are otherwise printed as they are (ASCII only). */
const KEY_ECHO_MAX = 32;

/** A key as safe text for a message: printable ASCII, cut to KEY_ECHO_MAX characters. */
function printable(key: string): string {
  const cut = key.length > KEY_ECHO_MAX ? `${key.slice(0, KEY_ECHO_MAX)}…` : key;
  return cut.replace(/[^\x20-\x7e…]/g, '?');
}

/**
 * A cursor over the envelope bytes that reads the few msgpack forms an envelope uses. Each
 * read returns null on anything else and leaves a message naming the byte in `problem`.
 */
class EnvelopeReader {
  at = 0;
  problem: string | null = null;

  constructor(private readonly data: Uint8Array) {}

  private fail(what: string): null {
    this.problem = this.at >= this.data.length
      ? `envelope: ends at byte ${this.at} where ${what} was expected`
      : `envelope: byte ${this.at} is not ${what}`;
    return null;
  }

  /** An unsigned big-endian length of `n` bytes at the cursor, or null past the end. */
  private uint(n: number): number | null {
    if (this.at + n > this.data.length) return null;
    let x = 0;
    for (let i = 0; i < n; i++) x = x * 256 + (this.data[this.at + i] ?? 0);
    this.at += n;
    return x;
  }

  /** A map header: its member count. */
  mapHeader(): number | null {
    const b = this.data[this.at];
    if (b === undefined) return this.fail('a map');
    if (b >= 0x80 && b <= 0x8f) {
      this.at += 1;
      return b & 0x0f;
    }
    if (b !== 0xde && b !== 0xdf) return this.fail('a map');
    const start = this.at;
    this.at += 1;
    const n = this.uint(b === 0xde ? 2 : 4);
    if (n === null) {
      this.at = start;
      return this.fail('a map header');
    }
    return n;
  }

  /** A str: fixstr, str8, str16 or str32, decoded as UTF-8 (refused when not UTF-8). */
  str(): string | null {
    const b = this.data[this.at];
    if (b === undefined) return this.fail('a string');
    const start = this.at;
    let len: number | null;
    if (b >= 0xa0 && b <= 0xbf) {
      this.at += 1;
      len = b & 0x1f;
    } else if (b === 0xd9 || b === 0xda || b === 0xdb) {
      this.at += 1;
      len = this.uint(b === 0xd9 ? 1 : b === 0xda ? 2 : 4);
    } else return this.fail('a string');
    if (len === null || this.at + len > this.data.length) {
      this.at = start;
      return this.fail('a complete string');
    }
    const bytes = this.data.subarray(this.at, this.at + len);
    if (firstInvalidUtf8(bytes) >= 0) {
      this.at = start;
      return this.fail('a UTF-8 string');
    }
    this.at += len;
    return utf8.decode(bytes);
  }

  /** An integer in any msgpack integer form, when it is a safe integer. */
  int(): number | null {
    const b = this.data[this.at];
    if (b === undefined) return this.fail('an integer');
    if (b <= 0x7f) {
      this.at += 1;
      return b;
    }
    if (b >= 0xe0) {
      this.at += 1;
      return b - 0x100;
    }
    const width: Readonly<Record<number, number>> = {
      0xcc: 1,
      0xcd: 2,
      0xce: 4,
      0xcf: 8,
      0xd0: 1,
      0xd1: 2,
      0xd2: 4,
      0xd3: 8,
    };
    const n = width[b];
    if (n === undefined) return this.fail('an integer');
    const start = this.at;
    this.at += 1;
    const x = this.uint(n);
    if (x === null || !Number.isSafeInteger(x)) {
      this.at = start;
      return this.fail('a safe integer');
    }
    // Signed forms: any value with the top bit set is negative, so it is never 1.
    return b >= 0xd0 && x >= 2 ** (8 * n - 1) ? -1 : x;
  }

  /** The bin (bin8, bin16, bin32) of `field`, at most `max` bytes; a view, not a copy. */
  bin(field: string, max: number): Uint8Array | null {
    const b = this.data[this.at];
    if (b === undefined) return this.fail('bytes');
    if (b !== 0xc4 && b !== 0xc5 && b !== 0xc6) return this.fail('bytes (msgpack bin)');
    const start = this.at;
    this.at += 1;
    const len = this.uint(b === 0xc4 ? 1 : b === 0xc5 ? 2 : 4);
    if (len === null || this.at + len > this.data.length) {
      this.at = start;
      return this.fail('complete bytes');
    }
    if (len > max) {
      this.at = start;
      this.problem = `envelope.${field}: ${len} bytes, more than the ${max} allowed`;
      return null;
    }
    const out = this.data.subarray(this.at, this.at + len);
    this.at += len;
    return out;
  }
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
export function walEntryHash(
  subject: string,
  data: Uint8Array,
  decoded: Decoded = decodeEnvelope(data),
): string {
  const h = createHash('sha256').update(`swoosh/wal/v1\n${subject}\n`);
  if (decoded.ok) {
    h.update('sig:')
      .update(Buffer.from(decoded.sig).toString('hex'))
      .update('\n')
      .update(decoded.body);
  } else h.update('raw:').update(data);
  return `sha256-${h.digest('hex')}`;
}
