/**
 * The guard contract. A guard is a pure function of the state, the proposal and the entry's
 * log time; it never calls out. Facts it needs are already in `state.facts`.
 */
import type { Chart, TransitionSpec } from '../model/chart-spec.js';
import type { RejectionCode } from '../model/codes.js';
import type { Sha256 } from '../encoding/hash.js';
import type { JsonObject } from '../encoding/json.js';
import type { State } from '../model/state.js';
import type { Proposal, SigVerdict } from '../model/types.js';

/** Everything a guard may look at. */
export interface GuardContext {
  readonly state: State;
  readonly proposal: Proposal;
  readonly spec: TransitionSpec;
  /** The chart this core was built with (createCore); guards read it here, never a global. */
  readonly chart: Chart;
  /** The entry's JetStream timestamp: the only clock inside the core. */
  readonly log_ms: number;
  /** Verdicts on signatures embedded in the inputs (council votes), in input order. */
  readonly embedded: readonly SigVerdict[];
  /** `sha256-<hex>` of the JCS form of a value. */
  readonly hash: (value: unknown) => Sha256;
}

/** What a policy breach carries so it can be re-checked under a newer policy. */
export interface BreachDetail {
  readonly rule: string;
  /** The data the rule was checked against (re-checked on a policy update). */
  readonly subject: JsonObject;
}

/** A guard's verdict. A failing policy guard carries `breach`: the machine quarantines. */
export type GuardVerdict =
  | { readonly ok: true; readonly reasons: readonly string[] }
  | {
      readonly ok: false;
      readonly code: RejectionCode;
      readonly reasons: readonly string[];
      readonly breach?: BreachDetail;
    };

/** A guard provider. */
export type GuardFn = (ctx: GuardContext) => GuardVerdict;

/** Passing verdict with reasons for the record. */
export function pass(...reasons: string[]): GuardVerdict {
  return { ok: true, reasons };
}

/** Failing verdict. */
export function deny(code: RejectionCode, ...reasons: string[]): GuardVerdict {
  return { ok: false, code, reasons };
}
