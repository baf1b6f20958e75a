import { describe, expect, it } from 'vitest';
import type { InputSchema } from '../../src/core/model/chart-spec.js';
import { CHART } from '../../src/core/generated/chart.js';
import { describeSchema, schemaToTs, validateInputs } from '../../src/core/encoding/schema.js';

const HASH = `sha256-${'ab'.repeat(32)}`;
const SIGNER = `hmmm:pubkey:${'0f'.repeat(32)}`;
const SIGNATURE = 'c3'.repeat(64);

const name: InputSchema = { type: 'string', minLength: 1, maxLength: 3 };

/** A schema using every feature of the subset. */
const SCHEMA: InputSchema = {
  type: 'object',
  required: ['id', 'count', 'tags'],
  properties: {
    id: { type: 'string', format: 'hash' },
    signer: { type: 'string', format: 'signer' },
    signature: { type: 'string', format: 'signature' },
    count: { type: 'integer', minimum: 0, maximum: 10 },
    above: { type: 'integer', minimum: -5 },
    below: { type: 'integer', maximum: 5 },
    any: { type: 'integer' },
    flag: { type: 'boolean' },
    color: { type: 'string', enum: ['red', 'green'] },
    code: { type: 'string', pattern: '^[A-Z]{2}-\\d+$' },
    label: name,
    short: { type: 'string', maxLength: 2 },
    long: { type: 'string', minLength: 2 },
    tags: { type: 'array', minItems: 1, maxItems: 3, uniqueItems: true, items: name },
    pairs: {
      type: 'array',
      uniqueItems: true,
      items: {
        type: 'object',
        required: ['a'],
        properties: { a: { type: 'integer' }, b: { type: 'integer' } },
      },
    },
    empty: { type: 'object', properties: {} },
  },
};

const OK = { id: HASH, count: 3, tags: ['x'] };

function check(value: unknown): { path: string; message: string } | null {
  return validateInputs(SCHEMA, value);
}

describe('validateInputs: accepted values', () => {
  it.each([
    ['the required fields only', OK],
    [
      'every field',
      {
        ...OK,
        signer: SIGNER,
        signature: SIGNATURE,
        above: -5,
        below: 5,
        any: -9007199254740991,
        flag: false,
        color: 'green',
        code: 'AB-12',
        label: 'abc',
        short: '',
        long: 'xy',
        pairs: [{ a: 1 }, { a: 1, b: 2 }],
        empty: {},
      },
    ],
    ['bounds inclusive', { ...OK, count: 10, tags: ['a', 'b', 'c'] }],
    ['an astral character counts once', { ...OK, label: '😀😀😀' }],
  ])('%s', (_label, value) => {
    expect(check(value)).toBeNull();
  });

  it('accepts the real chart inputs of Boot_ConfigOk and an empty object for Boot_Licensed', () => {
    const boot = CHART.transitions.find((t) => t.name === 'Boot_ConfigOk');
    const licensed = CHART.transitions.find((t) => t.name === 'Boot_Licensed');
    expect(boot && validateInputs(boot.inputs, { config_hash: HASH })).toBeNull();
    expect(licensed && validateInputs(licensed.inputs, {})).toBeNull();
    expect(licensed && validateInputs(licensed.inputs, { x: 1 })).toEqual({
      path: 'inputs.x',
      message: 'unknown field (no fields allowed)',
    });
  });
});

describe('validateInputs: rejections', () => {
  it.each<[string, unknown, string, string]>([
    ['not an object', [], 'inputs', 'expected an object'],
    ['null', null, 'inputs', 'expected an object'],
    [
      'unknown field',
      { ...OK, zzz: 1 },
      'inputs.zzz',
      'unknown field (allowed: id, signer, signature, count, above, below, any, flag, color, ' +
        'code, label, short, long, tags, pairs, empty)',
    ],
    ['odd unknown key', { ...OK, 'a b': 1 }, 'inputs["a b"]', expect.any(String) as string],
    ['missing required', { id: HASH, tags: ['x'] }, 'inputs.count', 'missing required field'],
    [
      'bad hash',
      { ...OK, id: 'sha256-AB' },
      'inputs.id',
      'expected a hash (sha256- and 64 lowercase hex digits)',
    ],
    [
      'bad signer',
      { ...OK, signer: `hmmm:pubkey:${'0F'.repeat(32)}` },
      'inputs.signer',
      'expected a signer (hmmm:pubkey: and 64 lowercase hex digits)',
    ],
    [
      'bad signature',
      { ...OK, signature: 'c3' },
      'inputs.signature',
      'expected a signature (128 lowercase hex digits)',
    ],
    ['integer too big', { ...OK, count: 11 }, 'inputs.count', 'expected an integer in 0..10'],
    ['integer too small', { ...OK, count: -1 }, 'inputs.count', 'expected an integer in 0..10'],
    ['fraction', { ...OK, count: 1.5 }, 'inputs.count', 'expected an integer in 0..10'],
    ['-0', { ...OK, count: -0 }, 'inputs.count', 'expected an integer in 0..10'],
    ['numeric string', { ...OK, count: '1' }, 'inputs.count', 'expected an integer in 0..10'],
    ['minimum only', { ...OK, above: -6 }, 'inputs.above', 'expected an integer >= -5'],
    ['maximum only', { ...OK, below: 6 }, 'inputs.below', 'expected an integer <= 5'],
    ['unsafe integer', { ...OK, any: 2 ** 53 }, 'inputs.any', 'expected an integer'],
    ['boolean', { ...OK, flag: 'true' }, 'inputs.flag', 'expected a boolean'],
    ['enum', { ...OK, color: 'blue' }, 'inputs.color', 'expected one of "red", "green"'],
    [
      'pattern',
      { ...OK, code: 'ab-1' },
      'inputs.code',
      'expected a string matching /^[A-Z]{2}-\\d+$/',
    ],
    ['too short', { ...OK, label: '' }, 'inputs.label', 'expected a string of 1..3 characters'],
    ['too long', { ...OK, label: 'abcd' }, 'inputs.label', 'expected a string of 1..3 characters'],
    [
      'maxLength only',
      { ...OK, short: 'abc' },
      'inputs.short',
      'expected a string of at most 2 characters',
    ],
    [
      'minLength only',
      { ...OK, long: 'a' },
      'inputs.long',
      'expected a string of at least 2 characters',
    ],
    ['not a string', { ...OK, label: 1 }, 'inputs.label', 'expected a string of 1..3 characters'],
    ['not an array', { ...OK, tags: 'x' }, 'inputs.tags', 'expected an array of 1..3 items'],
    ['too few items', { ...OK, tags: [] }, 'inputs.tags', 'expected an array of 1..3 items'],
    [
      'too many items',
      { ...OK, tags: ['a', 'b', 'c', 'd'] },
      'inputs.tags',
      'expected an array of 1..3 items',
    ],
    [
      'bad item',
      { ...OK, tags: ['a', ''] },
      'inputs.tags[1]',
      'expected a string of 1..3 characters',
    ],
    [
      'duplicate item',
      { ...OK, tags: ['a', 'b', 'a'] },
      'inputs.tags[2]',
      'expected unique items; equals inputs.tags[0]',
    ],
    [
      'duplicate object item, keys in another order (JCS)',
      { ...OK, pairs: [{ a: 1, b: 2 }, { b: 2, a: 1 }] },
      'inputs.pairs[1]',
      'expected unique items; equals inputs.pairs[0]',
    ],
    [
      'nested missing field',
      { ...OK, pairs: [{ a: 1 }, { b: 2 }] },
      'inputs.pairs[1].a',
      'missing required field',
    ],
    [
      'nested empty object',
      { ...OK, empty: { x: 1 } },
      'inputs.empty.x',
      'unknown field (no fields allowed)',
    ],
  ])('%s', (_label, value, path, message) => {
    expect(check(value)).toEqual({ path, message });
  });

  it('reports the example of the architecture: a uri too long at sources[2]', () => {
    const spec = CHART.transitions.find((t) => t.name === 'Ingestion_SourcesResolved');
    const sources = [{ uri: 'a' }, { uri: 'b', kind: 'git' }, { uri: 'x'.repeat(2001) }];
    const err = spec && validateInputs(spec.inputs, { sources });
    expect(err && `${err.path}: ${err.message}`).toBe(
      'inputs.sources[2].uri: expected a string of 1..2000 characters',
    );
  });

  it('uses the path prefix it is given', () => {
    expect(validateInputs({ type: 'boolean' }, 1, 'payload')).toEqual({
      path: 'payload',
      message: 'expected a boolean',
    });
  });
});

describe('validateInputs: deterministic order', () => {
  it('unknown keys (sorted) come before missing required keys', () => {
    expect(check({ zeta: 1, alpha: 1 })).toEqual({
      path: 'inputs.alpha',
      message: expect.stringMatching(/^unknown field/) as string,
    });
  });

  it('missing required keys are reported in sorted order, before property errors', () => {
    expect(check({ id: 'bad' })).toEqual({
      path: 'inputs.count',
      message: 'missing required field',
    });
  });

  it('properties are checked in sorted key order, not insertion order', () => {
    expect(check({ tags: [''], id: 'bad', count: 99 })).toEqual({
      path: 'inputs.count',
      message: 'expected an integer in 0..10',
    });
  });

  it('item errors come before uniqueness', () => {
    expect(check({ ...OK, tags: ['a', 'a', ''] })).toEqual({
      path: 'inputs.tags[2]',
      message: 'expected a string of 1..3 characters',
    });
  });

  it('does not treat inherited names as properties', () => {
    expect(check({ ...OK, constructor: 1 })).toEqual({
      path: 'inputs.constructor',
      message: expect.stringMatching(/^unknown field/) as string,
    });
    expect(check(JSON.parse(`{"id":"${HASH}","count":1,"tags":["x"],"__proto__":1}`))).toEqual({
      path: 'inputs.__proto__',
      message: expect.stringMatching(/^unknown field/) as string,
    });
  });

  it('gives the same answer on repeated calls (cached pattern)', () => {
    const bad = { ...OK, code: 'nope' };
    expect(check(bad)).toEqual(check(bad));
    expect(check({ ...OK, code: 'ZZ-9' })).toBeNull();
  });
});

describe('describeSchema', () => {
  it('combines format and length, enum and length', () => {
    expect(describeSchema({ type: 'string', format: 'hash', maxLength: 80 })).toBe(
      'a hash (sha256- and 64 lowercase hex digits), of at most 80 characters',
    );
    expect(describeSchema({ type: 'string', enum: ['a'], minLength: 1 })).toBe(
      'one of "a" (a string of at least 1 characters)',
    );
    expect(describeSchema({ type: 'array', items: { type: 'boolean' } })).toBe('an array');
  });
});

describe('schemaToTs', () => {
  it('writes readonly properties, optional when not required, and readonly arrays', () => {
    const ts = schemaToTs({
      type: 'object',
      required: ['a'],
      properties: {
        a: { type: 'string' },
        b: { type: 'array', items: { type: 'string', enum: ['x', "y'z"] } },
        c: { type: 'array', items: { type: 'object', properties: { d: { type: 'boolean' } } } },
        'e-f': { type: 'integer' },
        g: { type: 'object', properties: {} },
      },
    });
    expect(ts).toBe(
      [
        '{',
        '  readonly a: string;',
        "  readonly b?: readonly ('x' | 'y\\'z')[];",
        '  readonly c?: readonly {',
        '    readonly d?: boolean;',
        '  }[];',
        '  readonly "e-f"?: number;',
        '  readonly g?: Record<string, never>;',
        '}',
      ].join('\n'),
    );
  });

  it('writes an object without properties as Record<string, never>', () => {
    expect(schemaToTs({ type: 'object', properties: {} })).toBe('Record<string, never>');
  });
});
