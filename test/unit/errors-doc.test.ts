/** Every rejection code is documented in docs/errors.md, and every documented code exists. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REJECTION_CODES } from '../../src/core/model/codes.js';

describe('error catalogue', () => {
  it('Given the catalogue and docs/errors.md, Then both list exactly the same rejection codes with the same check', () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    const section = doc.split('## Rejection codes')[1]?.split('## ')[0] ?? '';
    const documented = new Map(
      [...section.matchAll(/^\| `([a-z_]+)` \| ([a-z]+) \|/gm)].map((m) => [m[1] ?? '', m[2] ?? '']),
    );
    const catalogue = new Map(Object.entries(REJECTION_CODES).map(([c, [check]]) => [c, check]));
    expect([...documented.keys()].sort()).toEqual([...catalogue.keys()].sort());
    for (const [code, check] of catalogue) expect(documented.get(code), code).toBe(check);
  });
});

describe('gateway and operating error catalogues', () => {
  it('Given docs/errors.md, Then every HTTP and operating code is documented and every documented one exists', async () => {
    const { HTTP_ERRORS } = await import('../../src/http/errors.js');
    const { OPERATING_ERRORS } = await import('../../src/protocol/errors.js');
    const doc = readFileSync('docs/errors.md', 'utf8');
    const section = (title: string): string[] =>
      [...(doc.split(`## ${title}`)[1]?.split('\n## ')[0] ?? '').matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1] ?? '');
    expect(section('HTTP gateway codes').sort()).toEqual(Object.keys(HTTP_ERRORS).sort());
    expect(section('Operating errors').sort()).toEqual(Object.keys(OPERATING_ERRORS).sort());
  });
});
