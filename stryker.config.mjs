// StrykerJS over the pure core (the guards are src/core/guards): `npm run mutate` (Node >= 22; see docs/testing.md).
// Incremental: results are kept in reports/ (gitignored), so a rerun only tests changed code.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  vitest: { configFile: 'test/mutate.vitest.config.ts', related: false },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/core/**/*.ts',
    '!src/core/generated/**',
  ],
  // .cache is a symlinked toolchain directory; reports/ holds Stryker's own output.
  ignorePatterns: ['.cache', 'reports', 'dist', '.swoosh', 'coverage', 'bench/results'],
  // The machine has 2 shared cores.
  concurrency: 2,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 85, break: null },
  timeoutMS: 10_000,
};
