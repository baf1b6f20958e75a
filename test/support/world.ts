/** Moved to src/sim/world.ts (the chaos and bench suites use it too); tests keep importing it here. */
export * from '../../src/sim/world.js';
