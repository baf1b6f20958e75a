/** Moved to src/proving/sim/world.ts (the chaos and bench suites use it too); tests keep importing it here. */
export * from '../../src/proving/sim/world.js';
