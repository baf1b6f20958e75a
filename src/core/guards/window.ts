/**
 * BACKBEAT window guard. The latest beat-frame fact gives the open window, its phase and its
 * deadline. A time-gated transition needs: the proposal's window_id to be the open window, a
 * phase its class may act in (genesis window_policy), log time before the deadline, and, for
 * classes marked new_window, a window other than the one the current loop was planned in.
 */
import { deny, pass, type GuardFn } from './contract.js';

/** Passes when the proposal acts inside an open window its class allows. */
export const windowGuard: GuardFn = ({ state, proposal, spec, chart, log_ms }) => {
  const frame = state.facts.backbeat;
  const cls = spec.window_class;
  if (cls === undefined) return pass('not time-gated');
  if (frame.window_id === null || frame.phase === null) {
    return deny('no_window', 'no beat frame recorded yet');
  }
  if (proposal.window_id !== frame.window_id) {
    return deny(
      'window_mismatch',
      `window_id ${proposal.window_id} is not the open window ${frame.window_id}`,
    );
  }
  const phases = state.meta.config.window_policy[cls] ?? [];
  if (!phases.includes(frame.phase)) {
    return deny(
      'phase_not_allowed',
      `class ${cls} acts in [${phases.join(', ')}], phase is ${frame.phase}`,
    );
  }
  if (frame.deadline_ms !== null && log_ms >= frame.deadline_ms) {
    return deny('window_closed', `logged at ${log_ms}, window deadline ${frame.deadline_ms}`);
  }
  if (
    chart.window_classes[cls]?.new_window === true &&
    frame.window_id === state.execution.window_id
  ) {
    return deny(
      'window_not_new',
      `the loop was planned in ${frame.window_id}; wait for the next window`,
    );
  }
  return pass(
    `window ${frame.window_id} beat ${frame.beat_index} phase ${frame.phase} allows ${cls}`,
  );
};
