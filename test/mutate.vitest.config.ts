/**
 * The vitest configuration `npm run mutate` (StrykerJS) runs under: only the tests that judge
 * the pure core and the guards (unit tables, invariants, boundaries), so each mutant costs
 * seconds. The property suites are left out for speed (the oracle alone takes ~20 s a run);
 * docs/testing.md says which mutants that leaves to them.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/unit/core/**/*.test.ts', 'test/unit/guards/**/*.test.ts', 'test/unit/hlc.test.ts'],
    testTimeout: 30_000,
  },
});
