/**
 * The statechart as data, in the form the core consumes. `src/chart/statechart.yaml` is the
 * source; the loader (src/chart/load.ts) validates it and `npm run gen` emits the same object
 * as `src/core/generated/chart.ts`, so the core never parses YAML at run time.
 */

/** Kinds of top-level states. */
export type TopStateKind = 'compound' | 'parallel' | 'control' | 'policy' | 'final';

/** A top-level state. */
export interface TopStateSpec {
  readonly kind: TopStateKind;
  /** compound: the region whose local states it contains. */
  readonly region?: string;
  /** parallel: the regions that run side by side. */
  readonly regions?: readonly string[];
  /** control states with substates (DEGRADED: GRACE, HARD_STOP). */
  readonly substates?: readonly string[];
  readonly sticky?: boolean;
  readonly doc?: string;
}

/** A region. Regions without local states (`states: []`) own transitions only. */
export interface RegionSpec {
  readonly parent?: string;
  readonly initial?: string;
  readonly states: readonly string[];
}

/** Inputs schema: a closed JSON-Schema subset. `$ref`s are resolved by the loader. */
export type InputSchema =
  | {
      readonly type: 'object';
      readonly properties: { readonly [k: string]: InputSchema };
      readonly required?: readonly string[];
    }
  | {
      readonly type: 'array';
      readonly items: InputSchema;
      readonly minItems?: number;
      readonly maxItems?: number;
      readonly uniqueItems?: boolean;
    }
  | {
      readonly type: 'string';
      readonly minLength?: number;
      readonly maxLength?: number;
      readonly enum?: readonly string[];
      /** hash: sha256-<hex>; signer: hmmm:pubkey:<hex>; signature: 128 hex. */
      readonly format?: 'hash' | 'signer' | 'signature';
      readonly pattern?: string;
      /**
       * The value may hold a secret (a credential in a URL, a token): it is never echoed in a
       * message, reason, justification or projection (docs/security.md, "Redaction").
       */
      readonly sensitive?: true;
    }
  | { readonly type: 'integer'; readonly minimum?: number; readonly maximum?: number }
  /**
   * A finite JSON number (fact payloads only, e.g. BACKBEAT's fractional `tempo_bpm`; chart
   * inputs are integers, and nothing fractional is ever stored in the state).
   */
  | { readonly type: 'number'; readonly minimum?: number; readonly maximum?: number }
  | { readonly type: 'boolean' };

/** One transition of the chart. */
export interface TransitionSpec {
  readonly name: string;
  readonly region: string;
  /** Top-level states in which it may fire. */
  readonly active_in: readonly string[];
  /** Local states of `region` it may fire from (empty for regions without states). */
  readonly from: readonly string[];
  /** Local target state in `region`, if it changes it. */
  readonly to?: string;
  /** New top-level state, or `$history` to return to the saved configuration. */
  readonly top?: string;
  /** DEGRADED substate entered. */
  readonly substate?: string;
  /** Roles allowed to propose it (empty only for automatic transitions). */
  readonly roles: readonly string[];
  /** Guard ids in evaluation order. */
  readonly guards: readonly string[];
  readonly window_class?: string;
  readonly scope: 'global' | 'region';
  readonly coordination: 'monotone' | 'non_monotone';
  readonly automatic: boolean;
  readonly compensation: boolean;
  /**
   * The writer snapshots right after a decision that applies this transition (the YAML's
   * `snapshot_after` list). An operational hint to the shell, not part of what any decision
   * is, so it is kept out of the chart hash (chartHashOf): existing logs keep verifying.
   */
  readonly snapshot?: true;
  readonly inputs: InputSchema;
  readonly doc?: string;
}

/** A BACKBEAT window class: phases it may act in and whether it needs a new window. */
export interface WindowClassSpec {
  readonly phases: readonly string[];
  readonly new_window?: boolean;
}

/** The whole chart. */
export interface Chart {
  readonly version: number;
  readonly machine: string;
  readonly machine_version: string;
  readonly top: {
    readonly initial: string;
    readonly states: { readonly [k: string]: TopStateSpec };
  };
  readonly regions: { readonly [k: string]: RegionSpec };
  readonly roles: { readonly [k: string]: string };
  readonly window_classes: { readonly [k: string]: WindowClassSpec };
  readonly guards: { readonly [k: string]: string };
  readonly transitions: readonly TransitionSpec[];
}
