/** Environment capacity guard verdict table (guards/capacity): at the limit passes, one over fails. */
import { describe, expect, it } from 'vitest';
import { capacityGuard } from '../../../src/core/guards/capacity.js';
import type { State } from '../../../src/core/index.js';
import { ctx, expectVerdict, genesisState } from './context.js';

const s0 = genesisState();
const known: State = { ...s0, facts: { ...s0.facts, capacity: { hlc: null, cpu_millis: 1000, memory_mb: 512, slots: 2, known: true } } };
const req = (cpu_millis: number, memory_mb: number, slots: number) => ({ cpu_millis, memory_mb, slots });

describe('capacity guard', () => {
  it('Given no capacity fact yet, Then no_capacity_fact', () => {
    expectVerdict(capacityGuard(ctx('Environment_CapacityOk', s0, { inputs: req(1, 1, 1) })), 'no_capacity_fact');
  });
  it.each([
    ['exactly the capacity', null, req(1000, 512, 2)],
    ['1 cpu milli over', 'capacity_insufficient', req(1001, 512, 2)],
    ['1 MB over', 'capacity_insufficient', req(1000, 513, 2)],
    ['1 slot over', 'capacity_insufficient', req(1000, 512, 3)],
  ] as const)('Given a request of %s, Then verdict %s (null: pass)', (_what, code, inputs) => {
    expectVerdict(capacityGuard(ctx('Environment_CapacityOk', known, { inputs })), code);
  });
  it('Given every resource short, Then each shortfall is a reason', () => {
    const v = capacityGuard(ctx('Environment_CapacityOk', known, { inputs: req(2000, 1024, 9) }));
    expect(v.reasons).toHaveLength(3);
  });
});
