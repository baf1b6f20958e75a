/**
 * Signature domains and the exact bytes that get signed (docs/signatures.md §1).
 *
 * `signingBytes = utf8(DOMAIN + "\n") ‖ utf8(JCS(object without its "signature" field))`.
 * The domain prefix keeps a signature made for one kind of object (say a vote) from being
 * replayed as another kind (say a proposal) whose JCS text happens to coincide. Portable: no
 * node:* imports.
 */
import { jcs } from '../core/index.js';

/** The four signature domains. Each signed object kind has exactly one. */
export const DOMAIN = {
  proposal: 'swoosh/proposal/v1',
  vote: 'swoosh/vote/v1',
  fact: 'swoosh/fact/v1',
  dr: 'swoosh/dr/v1',
} as const;

/** One of the domain strings in {@link DOMAIN}, e.g. `'swoosh/vote/v1'`. */
export type Domain = (typeof DOMAIN)[keyof typeof DOMAIN];

const DOMAINS: ReadonlySet<string> = new Set<string>(Object.values(DOMAIN));
const utf8 = new TextEncoder();

/** True when `s` is one of the four domain strings. */
export function isDomain(s: unknown): s is Domain {
  return typeof s === 'string' && DOMAINS.has(s);
}

/** Shallow copy of `obj` without its top-level `signature` field (the object that is signed). */
export function stripSignature<T extends object>(obj: T): Omit<T, 'signature'> {
  const copy: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
  delete copy['signature'];
  return copy as Omit<T, 'signature'>;
}

/**
 * The bytes signed for `obj` under `domain`: `utf8(domain + "\n") ‖ utf8(jcs(obj))`.
 * `obj` must already be the object without its signature (see {@link stripSignature}); a
 * top-level `signature` field is refused so a signature can never cover itself by mistake.
 * Throws TypeError on an unknown domain, a `signature` field, or a value JCS cannot encode.
 */
export function signingBytes(domain: Domain, obj: unknown): Uint8Array {
  if (!isDomain(domain)) throw new TypeError(`signingBytes: unknown domain ${String(domain)}`);
  if (typeof obj === 'object' && obj !== null && Object.hasOwn(obj, 'signature')) {
    throw new TypeError('signingBytes: object still has a "signature" field; strip it first');
  }
  return utf8.encode(`${domain}\n${jcs(obj)}`);
}
