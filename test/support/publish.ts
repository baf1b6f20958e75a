/** Moved to src/sim/publish.ts (the chaos and bench suites use it too); tests keep importing it here. */
export * from '../../src/sim/publish.js';
