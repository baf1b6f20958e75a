/**
 * JSON values as the core sees them, and their canonical (RFC 8785, JCS) text.
 *
 * The core hashes JCS text, never msgpack bytes or `JSON.stringify` output of unsorted keys.
 * `jcs` is written here rather than taken from the `canonicalize` package: that package is
 * correct but scans every string character by character in JavaScript, which cost a quarter
 * of the core's time per decision. This version leans on the engine's native JSON.stringify
 * for strings and numbers (exactly JCS's rules for both) and sorts keys by UTF-16 code units.
 * A property test checks it against `canonicalize` on random JSON values.
 */

/** A JSON value. Anything hashed in the state uses integers only (no fractions, no -0). */
export type Json =
  null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };
/** A JSON object. */
export type JsonObject = { readonly [k: string]: Json };

const SURROGATE = /[\uD800-\uDFFF]/;
/** Anything JSON escapes (quote, backslash, controls) or that needs the surrogate check. */
// eslint-disable-next-line no-control-regex -- JCS must find control characters to escape them
const NEEDS_CARE = /["\\\u0000-\u001f\uD800-\uDFFF]/;

function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = s.charCodeAt(i + 1);
      if (!(n >= 0xdc00 && n <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

function jcsString(s: string): string {
  // Most strings here are hashes and ids: nothing to escape, so quote them directly.
  if (!NEEDS_CARE.test(s)) return `"${s}"`;
  if (SURROGATE.test(s) && hasLoneSurrogate(s)) {
    throw new TypeError('jcs: lone surrogate in a string');
  }
  return JSON.stringify(s);
}

/** RFC 8785 canonical JSON text of `value`. Throws on NaN, Infinity, lone surrogates. */
export function jcs(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return jcsString(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('jcs: NaN and Infinity have no JSON form');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          out +=
            (i === 0 ? '' : ',') + (v === undefined || typeof v === 'function' ? 'null' : jcs(v));
        }
        return `${out}]`;
      }
      const o = value as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = o[k];
        if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
        out += `${first ? '' : ','}${jcsString(k)}:${jcs(v)}`;
        first = false;
      }
      return `${out}}`;
    }
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      throw new TypeError(`jcs: a ${typeof value} has no JSON form`);
  }
}

/**
 * JCS text of a value parsed from JSON, or why it has none in SWOOSH's own words: the only
 * ways are a lone surrogate in a string and a number JSON.parse turned into Infinity
 * (e.g. 1e400). The caller bounds nesting first (json-scan.ts), so `jcs` cannot meet a stack
 * limit here, and the caught error's text is never used: it differs between runtimes.
 */
export function jcsOrProblem(
  value: unknown,
): { ok: true; text: string } | { ok: false; problem: string } {
  try {
    return { ok: true, text: jcs(value) };
  } catch (err) {
    void err; // jcs refuses exactly the two cases named below; its wording is not ours to record
    return { ok: false, problem: 'a string holds a lone surrogate or a number is out of range' };
  }
}

/**
 * A string field of an object that schema validation already checked. Anything else here is
 * a programmer error (validation and use disagree), so it throws rather than coerces.
 */
export function str(o: { readonly [k: string]: unknown }, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new TypeError(`expected validated string field ${key}`);
  return v;
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
