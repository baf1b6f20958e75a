/** Every rejection code is documented in docs/errors.md, and every documented code exists. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REJECTION_CODES } from '../../src/core/codes.js';

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
