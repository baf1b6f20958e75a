/**
 * JSON values as the core sees them, and their canonical (RFC 8785, JCS) text.
 *
 * The core hashes JCS text, never msgpack bytes or `JSON.stringify` output. `canonicalize`
 * (RFC 8785) is a pure function of its argument, so it may live in the core.
 */
import canonicalize from 'canonicalize';

/** A JSON value. Anything hashed in the state uses integers only (no fractions, no -0). */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };
/** A JSON object. */
export type JsonObject = { readonly [k: string]: Json };

/** RFC 8785 canonical JSON text of `value`. Throws on NaN, Infinity, lone surrogates. */
export function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('jcs: value has no JSON form');
  return text;
}

/** True when `v` is a plain JSON object (not an array, not null). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Path of the first place where `value` is not hash-safe JSON (undefined, a function, a
 * non-integer or unsafe number, -0, a non-plain object), or null when it is hash-safe.
 * Used by invariants: the state must stay JSON-compatible with integers only.
 */
export function findNonHashSafe(value: unknown, path = '$'): string | null {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && !Object.is(value, -0) ? null : path;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = findNonHashSafe(value[i], `${path}[${i}]`);
      if (p !== null) return p;
    }
    return null;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) {
      const p = findNonHashSafe(v, `${path}.${k}`);
      if (p !== null) return p;
    }
    return null;
  }
  return path;
}
