/**
 * Guard contexts built by hand for the guard verdict tables: a genesis state with the
 * sections a row needs replaced, a proposal with the inputs it needs, and the chart's spec.
 * Guards are pure functions of this context, so a table row needs no WAL and no signatures.
 */
import { expect } from 'vitest';
import type { GuardContext, GuardVerdict } from '../../../src/core/guards/contract.js';
import { CHART } from '../../../src/core/generated/chart.js';
import type { IdemKey, JsonObject, Sha256, SigVerdict, Signer, State } from '../../../src/core/index.js';
import { CAST, World, castGenesis, h } from '../../../src/proving/sim/world.js';

/** Genesis state of the cast (optionally with genesis overrides). */
export function genesisState(over: Record<string, unknown> = {}): State {
  return new World(castGenesis(over)).state;
}

const hasher = new World().core;

/** `sha256-…` of the JCS form, as the core computes it. */
export const hash = (v: unknown): Sha256 => hasher.hash(v);

/** Options of one context. */
export interface CtxOpts {
  readonly inputs?: JsonObject;
  readonly signer?: string;
  readonly window_id?: string;
  readonly evidence?: readonly string[];
  readonly log_ms?: number;
  readonly embedded?: readonly boolean[];
}

/** A guard context for `transition` over `state`. */
export function ctx(transition: string, state: State, o: CtxOpts = {}): GuardContext {
  const spec = CHART.transitions.find((t) => t.name === transition);
  if (spec === undefined) throw new Error(`no transition ${transition}`);
  const inputs = o.inputs ?? {};
  return {
    state,
    spec,
    chart: CHART,
    log_ms: o.log_ms ?? 1_000,
    embedded: (o.embedded ?? []) as readonly SigVerdict[],
    hash,
    proposal: {
      project: null,
      current_state_hash: h('head') as Sha256,
      transition,
      inputs,
      inputs_hash: hash(inputs),
      signer: (o.signer ?? CAST.c1.signer) as Signer,
      idem_key: 'k' as IdemKey,
      hlc: '2025-10-19T01:00:00.000+00:00#0',
      window_id: o.window_id ?? '',
      evidence: o.evidence ?? [],
    },
  };
}

/** Assert a verdict: `null` for a pass, else the expected code; a verdict always gives reasons. */
export function expectVerdict(v: GuardVerdict, code: string | null): void {
  if (code === null) expect(v, JSON.stringify(v)).toMatchObject({ ok: true });
  else expect(v).toMatchObject({ ok: false, code });
  expect(v.reasons.length).toBeGreaterThan(0);
  // Reasons are written into the decision record, whose hash every replica must reproduce:
  // their exact wording is behaviour, pinned per row (review a snapshot change like a code change).
  expect(v.reasons).toMatchSnapshot();
}
