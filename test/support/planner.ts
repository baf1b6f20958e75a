/** Moved to src/proving/sim/planner.ts (the chaos and bench suites use it too); tests keep importing it here. */
export * from '../../src/proving/sim/planner.js';
