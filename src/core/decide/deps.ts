/**
 * What decide (and its helpers for proposals, facts and automatic transitions) needs besides
 * the state and the entry. Its own file so that decide.ts, decide-fact.ts, proposal.ts and
 * auto.ts all depend on it and none of them on decide.ts: no file cycle.
 */
import type { Hasher } from '../encoding/hash.js';
import type { StateHasher } from '../encoding/merkle.js';
import type { GuardFn } from '../guards/contract.js';
import type { Chart, TransitionSpec } from '../model/chart-spec.js';

/** What decide needs besides the state and the entry. */
export interface DecideDeps {
  readonly chart: Chart;
  readonly specs: ReadonlyMap<string, TransitionSpec>;
  readonly guards: { readonly [id: string]: GuardFn };
  readonly hasher: Hasher;
  readonly stateHasher: StateHasher;
}
