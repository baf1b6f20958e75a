/**
 * Validation of transition inputs against the chart's closed JSON-Schema subset
 * (`InputSchema`), and the TypeScript type text of a schema for code generation.
 *
 * Pure: no I/O, no clock, no randomness. The first error wins, in a fixed order, so two
 * replicas reject the same proposal with the same message. For objects: unknown keys first
 * (sorted), then missing required keys (sorted), then each present property in sorted key
 * order. For arrays: the length, then each item in index order, then uniqueness.
 */
import type { InputSchema } from '../model/chart-spec.js';
import { jcs } from './json.js';
import { SIGNATURE_RE, SIGNER_RE } from '../model/ids.js';

/** The first place where a value does not match its schema. */
export interface SchemaError {
  /** Where, e.g. `inputs.sources[2].uri`. */
  readonly path: string;
  /**
   * What was expected, e.g. `expected a string of 1..2000 characters`; shown after the path
   * (`inputs.sources[2].uri: expected a string of 1..2000 characters`).
   */
  readonly message: string;
}

type StringSchema = Extract<InputSchema, { type: 'string' }>;
type ArraySchema = Extract<InputSchema, { type: 'array' }>;
type ObjectSchema = Extract<InputSchema, { type: 'object' }>;
type IntegerSchema = Extract<InputSchema, { type: 'integer' }>;
type NumberSchema = Extract<InputSchema, { type: 'number' }>;

const FORMATS: { readonly [F in NonNullable<StringSchema['format']>]: RegExp } = {
  hash: /^sha256-[0-9a-f]{64}$/,
  signer: SIGNER_RE,
  signature: SIGNATURE_RE,
};

const FORMAT_TEXT: { readonly [F in NonNullable<StringSchema['format']>]: string } = {
  hash: 'a hash (sha256- and 64 lowercase hex digits)',
  signer: 'a signer (hmmm:pubkey: and 64 lowercase hex digits)',
  signature: 'a signature (128 lowercase hex digits)',
};

/** Flags every `pattern` is compiled with (the loader checks patterns compile with them). */
export const PATTERN_FLAGS = 'u';

const patterns = new WeakMap<StringSchema, RegExp>();

function patternOf(schema: StringSchema, source: string): RegExp {
  let re = patterns.get(schema);
  if (re === undefined) {
    re = new RegExp(source, PATTERN_FLAGS);
    patterns.set(schema, re);
  }
  return re;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `base.key`, or `base["odd key"]` when the key is not an identifier. */
function child(base: string, key: string): string {
  return IDENT.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

function fail(path: string, what: string): SchemaError {
  return { path, message: what };
}

/** `1..5`, `at least 1`, `at most 5`, or '' when unbounded. */
function range(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `${min}..${max}`;
  if (min !== undefined) return `at least ${min}`;
  if (max !== undefined) return `at most ${max}`;
  return '';
}

/** Human description of what `schema` accepts (used after "expected"). */
export function describeSchema(schema: InputSchema): string {
  switch (schema.type) {
    case 'object':
      return 'an object';
    case 'boolean':
      return 'a boolean';
    case 'array': {
      const r = range(schema.minItems, schema.maxItems);
      return r === '' ? 'an array' : `an array of ${r} items`;
    }
    case 'integer':
      return describeBounded('an integer', schema);
    case 'number':
      return describeBounded('a number', schema);
    case 'string':
      return describeString(schema);
  }
}

/** `a number in 0.1..1000`, `an integer >= 0`, …: `noun` with its bounds. */
function describeBounded(noun: string, schema: NumberSchema | IntegerSchema): string {
  const { minimum: min, maximum: max } = schema;
  if (min !== undefined && max !== undefined) return `${noun} in ${min}..${max}`;
  if (min !== undefined) return `${noun} >= ${min}`;
  if (max !== undefined) return `${noun} <= ${max}`;
  return noun;
}

function describeString(schema: StringSchema): string {
  const r = range(schema.minLength, schema.maxLength);
  const len = r === '' ? '' : ` of ${r} characters`;
  if (schema.enum !== undefined) {
    const list = schema.enum.map((e) => JSON.stringify(e)).join(', ');
    return `one of ${list}${len === '' ? '' : ` (a string${len})`}`;
  }
  const pat = schema.pattern === undefined ? '' : ` matching /${schema.pattern}/`;
  if (schema.format !== undefined) {
    return `${FORMAT_TEXT[schema.format]}${len === '' ? '' : `,${len}`}${pat}`;
  }
  return `a string${len}${pat}`;
}

/** Number of Unicode code points in `s` (what JSON Schema calls characters). */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function checkString(schema: StringSchema, value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const counted = schema.minLength !== undefined || schema.maxLength !== undefined;
  const n = counted ? codePoints(value) : 0;
  if (schema.minLength !== undefined && n < schema.minLength) return false;
  if (schema.maxLength !== undefined && n > schema.maxLength) return false;
  if (schema.enum !== undefined && !schema.enum.includes(value)) return false;
  if (schema.format !== undefined && !FORMATS[schema.format].test(value)) return false;
  if (schema.pattern !== undefined && !patternOf(schema, schema.pattern).test(value)) return false;
  return true;
}

function checkNumber(schema: NumberSchema, value: unknown): boolean {
  if (typeof value !== 'number' || !Number.isFinite(value) || Object.is(value, -0)) return false;
  if (schema.minimum !== undefined && value < schema.minimum) return false;
  if (schema.maximum !== undefined && value > schema.maximum) return false;
  return true;
}

function checkInteger(schema: IntegerSchema, value: unknown): boolean {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || Object.is(value, -0)) {
    return false;
  }
  if (schema.minimum !== undefined && value < schema.minimum) return false;
  if (schema.maximum !== undefined && value > schema.maximum) return false;
  return true;
}

function validateArray(schema: ArraySchema, value: unknown, path: string): SchemaError | null {
  if (!Array.isArray(value)) return fail(path, `expected ${describeSchema(schema)}`);
  const items: readonly unknown[] = value;
  const tooShort = schema.minItems !== undefined && items.length < schema.minItems;
  const tooLong = schema.maxItems !== undefined && items.length > schema.maxItems;
  if (tooShort || tooLong) return fail(path, `expected ${describeSchema(schema)}`);
  for (let i = 0; i < items.length; i++) {
    const e = validateInputs(schema.items, items[i], `${path}[${i}]`);
    if (e !== null) return e;
  }
  if (schema.uniqueItems === true) {
    const seen = new Map<string, number>();
    for (let i = 0; i < items.length; i++) {
      const key = jcs(items[i]);
      const first = seen.get(key);
      if (first !== undefined) {
        return fail(`${path}[${i}]`, `expected unique items; equals ${path}[${first}]`);
      }
      seen.set(key, i);
    }
  }
  return null;
}

function validateObject(schema: ObjectSchema, value: unknown, path: string): SchemaError | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(path, `expected ${describeSchema(schema)}`);
  }
  const obj = value as { readonly [k: string]: unknown };
  const keys = Object.keys(obj).sort();
  const allowed = Object.keys(schema.properties);
  for (const k of keys) {
    if (!Object.hasOwn(schema.properties, k)) {
      const list = allowed.length === 0 ? 'no fields allowed' : `allowed: ${allowed.join(', ')}`;
      return fail(child(path, k), `unknown field (${list})`);
    }
  }
  for (const k of [...(schema.required ?? [])].sort()) {
    if (!Object.hasOwn(obj, k)) return fail(child(path, k), 'missing required field');
  }
  for (const k of keys) {
    const sub = schema.properties[k];
    if (sub === undefined) continue;
    const e = validateInputs(sub, obj[k], child(path, k));
    if (e !== null) return e;
  }
  return null;
}

/**
 * Validates `value` against `schema`. Returns the first error (deterministic order, see the
 * module comment) or null when the value is accepted. Integers must be safe and not -0;
 * string lengths count code points; `uniqueItems` compares items by their JCS text.
 */
export function validateInputs(
  schema: InputSchema,
  value: unknown,
  path = 'inputs',
): SchemaError | null {
  switch (schema.type) {
    case 'object':
      return validateObject(schema, value, path);
    case 'array':
      return validateArray(schema, value, path);
    case 'string':
      return checkString(schema, value) ? null : fail(path, `expected ${describeSchema(schema)}`);
    case 'integer':
      return checkInteger(schema, value) ? null : fail(path, `expected ${describeSchema(schema)}`);
    case 'number':
      return checkNumber(schema, value) ? null : fail(path, `expected ${describeSchema(schema)}`);
    case 'boolean':
      return typeof value === 'boolean' ? null : fail(path, `expected ${describeSchema(schema)}`);
  }
}

/** A TS property name: bare when it is an identifier, quoted otherwise. */
function tsKey(key: string): string {
  return IDENT.test(key) ? key : JSON.stringify(key);
}

/**
 * TypeScript type text of `schema` for code generation: readonly arrays and properties,
 * optional properties for non-required ones, string enums as literal unions, and
 * `Record<string, never>` for an object without properties. Nested objects are written on
 * several lines, indented from `indent`.
 */
export function schemaToTs(schema: InputSchema, indent = ''): string {
  switch (schema.type) {
    case 'object': {
      const keys = Object.keys(schema.properties);
      if (keys.length === 0) return 'Record<string, never>';
      const required = new Set(schema.required ?? []);
      const inner = `${indent}  `;
      const lines = keys.map((k) => {
        const sub = schema.properties[k] as InputSchema;
        const opt = required.has(k) ? '' : '?';
        return `${inner}readonly ${tsKey(k)}${opt}: ${schemaToTs(sub, inner)};`;
      });
      return `{\n${lines.join('\n')}\n${indent}}`;
    }
    case 'array': {
      const item = schemaToTs(schema.items, indent);
      const union = item.includes(' | ') && !item.startsWith('{');
      return union ? `readonly (${item})[]` : `readonly ${item}[]`;
    }
    case 'string':
      return schema.enum === undefined || schema.enum.length === 0
        ? 'string'
        : schema.enum.map((e) => `'${e.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(' | ');
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
  }
}
