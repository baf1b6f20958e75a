/** Moved to src/proving/sim/walk.ts (the simulator's planner uses it); tests keep importing it here. */
export * from '../../src/proving/sim/walk.js';
