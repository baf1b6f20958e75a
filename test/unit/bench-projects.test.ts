/**
 * The many-projects benchmark runs and reports sane figures at small sizes (no timed
 * assertions: figures are printed by `npm run bench:projects`, see docs/performance.md).
 */
import { describe, expect, it } from 'vitest';
import { ACTIVE, decisionCost, idleMemory, projectsReport } from '../../src/proving/bench/projects.js';

describe('bench: many projects', () => {
  it('Given 1 and 20 projects, When measured, Then the same log is folded at each size and every figure is positive', () => {
    const [one, twenty] = decisionCost([1, 20], 1, 1);
    expect(one?.decisions).toBeGreaterThan(10);
    // ACTIVE projects are walked at 20; only one exists at 1.
    expect(twenty?.decisions).toBeGreaterThan((one?.decisions ?? 0) * (ACTIVE - 1));
    for (const c of [one, twenty]) {
      expect(c?.us_per_decision).toBeGreaterThan(0);
      expect(c?.map_copy_us).toBeGreaterThanOrEqual(0);
    }
  });

  it('Given 200 idle projects, Then every document is held and the report has a line per size', () => {
    const [m] = idleMemory([200]);
    expect(m?.projects).toBe(200);
    const r = projectsReport({ sizes: [2], idle: [50] });
    expect(r.lines.some((l) => /2 projects: [\d.]+ µs\/decision/.test(l))).toBe(true);
    expect(r.lines.some((l) => /50 projects: [\d.]+ MB, \d+ bytes each/.test(l))).toBe(true);
    expect(r.lines.some((l) => /evicted: \d+ bytes each fresh, \d+ bytes each cold/.test(l))).toBe(true);
  });
});
