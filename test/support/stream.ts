/**
 * Seeded WAL streams for property tests and benchmarks: the planner's valid steps mixed with
 * duplicates, reorders, drops, stale hashes, bad signatures, strangers, clock skew,
 * re-submissions and disruptive control steps, at configurable rates. The generator applies
 * exactly what it emits, in emitted order, so its own state is what any consumer computes.
 */
import type { WalEntry } from '../../src/core/index.js';
import { formatHlc } from '../../src/core/hlc.js';
import { CAST, World, castGenesis, h } from './world.js';
import { Rng, disruptiveStep, entryOf, nextStep } from './planner.js';

/** Probabilities per generated entry. */
export interface FaultRates {
  readonly dup: number;
  readonly reorder: number;
  readonly drop: number;
  readonly stale: number;
  readonly badsig: number;
  readonly stranger: number;
  readonly skew: number;
  readonly resubmit: number;
  readonly disrupt: number;
  readonly advance: number;
}

/** No faults: the happy path only. */
export const NO_FAULTS: FaultRates = {
  dup: 0, reorder: 0, drop: 0, stale: 0, badsig: 0, stranger: 0, skew: 0, resubmit: 0, disrupt: 0, advance: 0,
};

/** Every fault at a few percent (the brief's 1–10% band). */
export const CHAOS: FaultRates = {
  dup: 0.05, reorder: 0.05, drop: 0.03, stale: 0.05, badsig: 0.02, stranger: 0.02, skew: 0.02,
  resubmit: 0.04, disrupt: 0.03, advance: 0.03,
};

/** A generated stream and the generator's own final world. */
export interface Stream {
  readonly entries: readonly WalEntry[];
  readonly world: World;
  readonly genesis: Record<string, unknown>;
}

/** Generate `length` entries from `seed`. */
export function generateStream(seed: number, length: number, rates: FaultRates, genesis = castGenesis()): Stream {
  const w = new World(genesis);
  const rng = new Rng(seed);
  const out: WalEntry[] = [];
  const proposals: { entry: WalEntry; idem: string; transition: string; inputs: Record<string, unknown> }[] = [];
  const emit = (e: WalEntry): void => {
    w.apply(e);
    out.push(e);
    const d = w.results[w.results.length - 1]?.decision;
    if (d?.outcome === 'accepted' && d.idem_key !== null && d.transition !== null && e.type === 'signed') {
      const body = JSON.parse(e.body) as { inputs: Record<string, unknown> };
      proposals.push({ entry: e, idem: d.idem_key, transition: d.transition, inputs: body.inputs });
    }
  };
  while (out.length < length) {
    const r = rng.next();
    let acc = 0;
    const hit = (p: number): boolean => {
      acc += p;
      return r < acc;
    };
    const step = nextStep(w, rng);
    if (step === null) break;
    if (hit(rates.dup) && out.length > 0) emit(w.resend(rng.pick(out)));
    else if (hit(rates.reorder) && out.length + 2 <= length) {
      const a = entryOf(w, step);
      const b = entryOf(w, disruptiveStep(w, rng));
      emit({ ...b, seq: a.seq, log_ms: a.log_ms });
      emit({ ...a, seq: b.seq, log_ms: b.log_ms });
    } else if (hit(rates.drop)) entryOf(w, step);
    else if (hit(rates.stale) && step.kind === 'proposal') emit(w.proposalEntry(step.by, step.transition, step.inputs ?? {}, { hash: h(`stale-${rng.int(9)}`) }));
    else if (hit(rates.badsig) && step.kind === 'proposal') emit(w.proposalEntry(step.by, step.transition, step.inputs ?? {}, { tamper: (t) => t.replace('"hlc":"', '"hlc":"x') }));
    else if (hit(rates.stranger) && step.kind === 'proposal') emit(w.proposalEntry(CAST.stranger, step.transition, step.inputs ?? {}));
    else if (hit(rates.skew) && step.kind === 'proposal') {
      const ms = w.logMs + (rng.chance(0.5) ? 3_600_000 : -3_600_000);
      emit(w.proposalEntry(step.by, step.transition, step.inputs ?? {}, { hlc: formatHlc({ ms, logical: 0 }) }));
    } else if (hit(rates.resubmit) && proposals.length > 0) {
      const p = rng.pick(proposals);
      const by = Object.values(CAST).find((a) => (p.entry.type === 'signed' && p.entry.body.includes(a.signer))) ?? CAST.operator;
      emit(w.proposalEntry(by, p.transition, p.inputs as never, { idem: p.idem }));
    } else if (hit(rates.disrupt)) emit(entryOf(w, disruptiveStep(w, rng)));
    else if (hit(rates.advance)) w.advance(rng.int(120_000));
    else emit(entryOf(w, step));
  }
  return { entries: out, world: w, genesis };
}
