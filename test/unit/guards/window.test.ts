/**
 * BACKBEAT window guard verdict table (guards/window): open window, phase per class, the
 * deadline one millisecond either side, and the new-window rule.
 */
import { describe, it } from 'vitest';
import { windowGuard } from '../../../src/core/guards/window.js';
import type { State } from '../../../src/core/index.js';
import { ctx, expectVerdict, genesisState } from './context.js';

const DEADLINE = 50_000;
const s0 = genesisState();
const frame = (window_id: string, phase: string): State => ({
  ...s0,
  facts: { ...s0.facts, backbeat: { ...s0.facts.backbeat, window_id, phase, deadline_ms: DEADLINE, beat_index: 1 } },
});
const planned = (st: State, window_id: string): State => ({ ...st, execution: { ...st.execution, window_id } });

describe('window guard', () => {
  it('Given a transition without a window class, Then it passes without a frame', () => {
    expectVerdict(windowGuard(ctx('Boot_ConfigOk', s0)), null);
  });
  it.each([
    ['no beat frame', 'no_window', s0, 'W1', 1_000],
    ['another open window', 'window_mismatch', frame('W1', 'plan'), 'W0', 1_000],
    ['a phase the plan class may not act in', 'phase_not_allowed', frame('W1', 'review'), 'W1', 1_000],
    ['the open window, 1 ms before the deadline', null, frame('W1', 'plan'), 'W1', DEADLINE - 1],
    ['the open window, at the deadline', 'window_closed', frame('W1', 'plan'), 'W1', DEADLINE],
  ] as const)('Given %s, When Execution_PlanLocked is checked, Then verdict %s (null: pass)', (_what, code, state, window_id, log_ms) => {
    expectVerdict(windowGuard(ctx('Execution_PlanLocked', state, { window_id, log_ms })), code);
  });
  it.each([
    ['the window the loop was planned in', 'W1', 'window_not_new'],
    ['a newer window', 'W0', null],
  ] as const)('Given NextWindow in %s, Then verdict %s (null: pass)', (_what, plannedIn, code) => {
    const state = planned(frame('W1', 'plan'), plannedIn);
    expectVerdict(windowGuard(ctx('Execution_NextWindow', state, { window_id: 'W1' })), code);
  });
});
