/** Moved to src/sim/walk.ts (the simulator's planner uses it); tests keep importing it here. */
export * from '../../src/sim/walk.js';
