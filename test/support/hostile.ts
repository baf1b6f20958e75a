/**
 * A hostile WAL: what anyone who can publish to the proposal and fact subjects might send,
 * mixed with a few honest proposals so the state moves. Built deterministically from a seed
 * (fast-check), so the same corpus can be decided in this process and in a child process of
 * another Node major, and the records compared byte for byte. Kinds: raw bytes that are no
 * envelope, envelope tricks (trailing bytes, repeated keys, str for bin, wide integers, deep
 * nesting in an extra field), bodies that are not UTF-8, not JSON (every grammar mistake),
 * nested past the limit, or not canonical, and signatures on the edges of Ed25519 (R the
 * identity with S = k·a by a registered key, S + L, small-order R, non-canonical R).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { encodeEnvelope } from '../../src/protocol/envelope.js';
import type { WalMessage } from '../../src/protocol/wal-message.js';
import { jcs } from '../../src/core/encoding/json.js';
import { CAST, World, h } from '../../src/proving/sim/world.js';
import { L, concat, le32 } from './bytes.js';

const enc = new TextEncoder();

/** A signature by `secretKey`'s scalar with a chosen R: S = r + k·a (r = 0 for the identity). */
function forgeWithR(secretKey: Uint8Array, message: Uint8Array, rBytes: Uint8Array, r: bigint, plusL = false): Uint8Array {
  const ext = ed25519.utils.getExtendedPublicKey(secretKey);
  const k = bytesToNumberLE(sha512(concat(rBytes, ext.pointBytes, message))) % L;
  const s = (r + k * ext.scalar) % L;
  return concat(rBytes, le32(plusL ? s + L : s));
}

/** One message of the corpus before it is given a sequence number. */
interface Piece {
  readonly subject: string;
  readonly data: Uint8Array;
}

let PREFIX = 'swoosh';
const proposalSubject = (t: string): string => `${PREFIX}.proposals.${t}`;
const factSubject = (k: string): string => `${PREFIX}.facts.${k}`;
const sig64 = new Uint8Array(64).fill(7);

/** Hand-written msgpack envelopes that bend the format. */
function envelopeTricks(body: Uint8Array): Uint8Array[] {
  const bin = (b: Uint8Array): Uint8Array => concat(new Uint8Array([0xc6, 0, 0, (b.length >> 8) & 0xff, b.length & 0xff]), b);
  const key = (k: string): Uint8Array => concat(new Uint8Array([0xa0 | k.length]), enc.encode(k));
  const good = concat(new Uint8Array([0x83]), key('v'), new Uint8Array([0x01]), key('body'), bin(body), key('sig'), bin(sig64));
  let deep: Uint8Array = new Uint8Array([0xc0]);
  for (let i = 0; i < 5000; i++) deep = concat(new Uint8Array([0x91]), deep); // 5,000 nested arrays
  return [
    good,
    concat(good, new Uint8Array([0x00])), // trailing byte
    good.subarray(0, good.length - 10), // truncated
    concat(new Uint8Array([0x84]), key('v'), new Uint8Array([0x01]), key('v'), new Uint8Array([0x01]), key('body'), bin(body), key('sig'), bin(sig64)),
    concat(new Uint8Array([0x83]), key('v'), new Uint8Array([0xcf, 0, 0, 0, 0, 0, 0, 0, 1]), key('body'), bin(body), key('sig'), bin(sig64)),
    concat(new Uint8Array([0x83]), key('v'), new Uint8Array([0x01]), key('body'), new Uint8Array([0xa3]), enc.encode('abc'), key('sig'), bin(sig64)),
    concat(new Uint8Array([0x84]), key('v'), new Uint8Array([0x01]), key('body'), bin(body), key('sig'), bin(sig64), key('x'), deep),
    concat(new Uint8Array([0xdf, 0, 0, 0, 3]), key('v'), new Uint8Array([0xd0, 0x01]), key('body'), bin(body), key('sig'), bin(sig64)),
    concat(new Uint8Array([0x83]), new Uint8Array([0x01]), new Uint8Array([0x01]), key('body'), bin(body), key('sig'), bin(sig64)),
    concat(new Uint8Array([0x83]), new Uint8Array([0xa2, 0xff, 0xfe]), new Uint8Array([0x01]), key('body'), bin(body), key('sig'), bin(sig64)),
    deep,
    new Uint8Array([]),
  ];
}

/** Bodies that are not what the core accepts, each a different mistake. */
function badBodies(valid: string): Uint8Array[] {
  const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
  const texts = [
    "{'a':1}", '{"a":1,}', '{"a" 1}', '{"a":01}', '{"a":1.}', '{"a":-}', '{"a":1e}', '{"a":tru}',
    '{"a":"\\x"}', '{"a":"\\u12"}', '{"a":"\u0001"}', '{"a":"unterminated', '[1,2', '', ' ', '{}x',
    `{"a":${deep(63)}}`, `{"a":${deep(65)}}`, deep(1000), deep(200_000), '{"a":1e400}',
    '{"a":"\\ud800"}', '{"b":1,"a":2}', '{"a":1,"a":2}', '{ "a":1}', '{"a":1E2}', '{"a":-0}',
    valid.slice(0, valid.length - 1), `${valid} `, valid.replace('"transition"', '"transitio"'),
  ];
  const bytes = texts.map((t) => enc.encode(t));
  bytes.push(new Uint8Array([0x7b, 0xff, 0x7d]), new Uint8Array([0x7b, 0xed, 0xa0, 0x80, 0x7d]),
    new Uint8Array([0x7b, 0xc0, 0xaf, 0x7d]), new Uint8Array([0x7b, 0xf4, 0x90, 0x80, 0x80, 0x7d]),
    new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode(valid)]), new Uint8Array([0x7b, 0xe2, 0x82]));
  return bytes;
}

/** Honest boot proposals and signatures on the edges of Ed25519 by registered keys. */
function signedPieces(w: World): Piece[] {
  const out: Piece[] = [];
  const honest = w.proposalEntry(CAST.operator, 'Boot_ConfigOk', { config_hash: h('cfg') });
  if (honest.type === 'signed') {
    const sig = w.sigs.get(honest.body) ?? sig64;
    out.push({ subject: proposalSubject('Boot_ConfigOk'), data: encodeEnvelope(enc.encode(honest.body), sig) });
  }
  const body = jcs({
    current_state_hash: h('head'), transition: 'Boot_Licensed', inputs: {}, inputs_hash: w.core.hash({}),
    signer: CAST.operator.signer, idem_key: 'edge:1', hlc: w.nextHlc(), window_id: '', evidence: [],
  });
  const message = concat(enc.encode('swoosh/proposal/v1\n'), enc.encode(body));
  const identity = concat(new Uint8Array([1]), new Uint8Array(31));
  const t2 = concat(new Uint8Array([0xec]), new Uint8Array(30).fill(0xff), new Uint8Array([0x7f]));
  const nonCanonicalIdentity = concat(new Uint8Array([0xee]), new Uint8Array(30).fill(0xff), new Uint8Array([0x7f]));
  const r = 12345n;
  const rPoint = ed25519.Point.BASE.multiply(r).toBytes();
  const sigs = [
    forgeWithR(CAST.operator.secretKey, message, identity, 0n), // OpenSSL 3.0 accepts, 3.5 refuses
    forgeWithR(CAST.operator.secretKey, message, t2, 0n),
    forgeWithR(CAST.operator.secretKey, message, nonCanonicalIdentity, 0n),
    forgeWithR(CAST.operator.secretKey, message, rPoint, r), // an ordinary valid signature
    forgeWithR(CAST.operator.secretKey, message, rPoint, r, true), // the same with S + L
  ];
  for (const s of sigs) out.push({ subject: proposalSubject('Boot_Licensed'), data: encodeEnvelope(enc.encode(body), s) });
  return out;
}

/** A random piece: raw bytes, or random bytes or text as the body of a well-formed envelope. */
const randomPiece: fc.Arbitrary<Piece> = fc.oneof(
  fc.tuple(fc.constantFrom('Boot_ConfigOk', 'Council_QuorumCert', 'x'), fc.uint8Array({ maxLength: 64 }))
    .map(([t, data]) => ({ subject: proposalSubject(t), data })),
  fc.tuple(fc.constantFrom('license', 'backbeat', 'policy'), fc.uint8Array({ maxLength: 200 }))
    .map(([k, body]) => ({ subject: factSubject(k), data: encodeEnvelope(body, sig64) })),
  fc.tuple(fc.constantFrom('Boot_ConfigOk', 'Ingestion_SourcesResolved'), fc.string({ maxLength: 80 }))
    .map(([t, text]) => ({ subject: proposalSubject(t), data: encodeEnvelope(enc.encode(text), sig64) })),
  fc.tuple(fc.constantFrom('{', '[', '"', '{"a":', '{"inputs":{"votes":['), fc.string({ maxLength: 40 }))
    .map(([head, tail]) => ({ subject: proposalSubject('Council_QuorumCert'), data: encodeEnvelope(enc.encode(head + tail), sig64) })),
);

/** The corpus for `seed`: fixed hostile pieces, then `randomCount` random ones, numbered from 1. */
export function hostileCorpus(seed: number, randomCount: number, prefix = 'swoosh'): WalMessage[] {
  PREFIX = prefix;
  const w = new World();
  const valid = jcs({ current_state_hash: h('x'), transition: 'Boot_ConfigOk', inputs: {}, inputs_hash: h('i'), signer: CAST.admin.signer, idem_key: 'k', hlc: '2025-10-19T01:00:00.000+00:00#0' });
  const pieces: Piece[] = [
    ...signedPieces(w),
    ...envelopeTricks(enc.encode(valid)).map((data) => ({ subject: proposalSubject('Boot_ConfigOk'), data })),
    ...badBodies(valid).map((b) => ({ subject: proposalSubject('Boot_ConfigOk'), data: encodeEnvelope(b, sig64) })),
    ...badBodies(valid).map((b) => ({ subject: factSubject('license'), data: encodeEnvelope(b, sig64) })),
    ...fc.sample(randomPiece, { numRuns: randomCount, seed }),
  ];
  const baseMs = Date.UTC(2025, 9, 19, 1, 0, 0);
  return pieces.map((p, i) => ({ seq: i + 1, subject: p.subject, data: p.data, logMs: baseMs + i * 7 }));
}
