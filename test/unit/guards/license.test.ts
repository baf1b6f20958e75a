/** Licence guard verdict table (guards/license). */
import { describe, it } from 'vitest';
import { licenseGuard } from '../../../src/core/guards/license.js';
import type { State } from '../../../src/core/index.js';
import { ctx, expectVerdict, genesisState } from './context.js';

const withLicence = (status: 'unknown' | 'active' | 'revoked'): State => {
  const s = genesisState();
  return { ...s, facts: { ...s.facts, license: { ...s.facts.license, status } } };
};

describe('license guard', () => {
  it.each([
    ['unknown', 'license_inactive'],
    ['revoked', 'license_inactive'],
    ['active', null],
  ] as const)('Given licence status %s, When Boot_Licensed is checked, Then verdict %s (null: pass)', (status, code) => {
    expectVerdict(licenseGuard(ctx('Boot_Licensed', withLicence(status))), code);
  });
});
