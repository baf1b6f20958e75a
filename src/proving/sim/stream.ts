/**
 * Seeded WAL streams for property tests, benchmarks and the chaos suite: the planner's valid
 * steps mixed with duplicates, reorders, drops, stale hashes, bad signatures, strangers, clock
 * skew, re-submissions and named disruptive faults (control steps, licence episodes, policy
 * quarantines, MCP flaps, capacity churn, BACKBEAT tempo changes and missed beats; see
 * disrupt.ts), at configurable rates. The generator applies exactly what it emits, in emitted
 * order, so its own state is what any consumer computes.
 */
import { type WalEntry, formatHlc } from '../../core/index.js';
import { CAST, World, castGenesis, h } from './world.js';
import { Rng, disruptiveStep, entryOf, nextStep } from './planner.js';
import { DISRUPT_SHARES, DISRUPTIVE_KINDS, Disruptions, type DisruptiveKind } from './disrupt.js';

export { DISRUPT_SHARES, DISRUPTIVE_KINDS, type DisruptiveKind };

/**
 * Probabilities per generated entry. The named disruptive kinds are optional: a kind without
 * its own rate gets `disrupt` × its share (DISRUPT_SHARES), so `disrupt` alone still sets them
 * all, and `disrupt: 0` with no named rate means none.
 */
export interface FaultRates extends Partial<Record<DisruptiveKind, number>> {
  readonly dup: number;
  readonly reorder: number;
  readonly drop: number;
  readonly stale: number;
  readonly badsig: number;
  readonly stranger: number;
  readonly skew: number;
  readonly resubmit: number;
  /** Shorthand for every disruptive kind that has no rate of its own. */
  readonly disrupt: number;
  /** The log clock jumps forward (0 for live streams, whose log time is real). */
  readonly advance: number;
}

/** The rate of one disruptive kind: its own, else its share of `disrupt`. */
export function disruptiveRate(r: FaultRates, k: DisruptiveKind): number {
  return r[k] ?? r.disrupt * DISRUPT_SHARES[k];
}

/** Every stream fault kind a stream counts (FaultRates keys, plus `license_hard_stop`). */
export const STREAM_FAULT_KINDS = [
  'dup',
  'reorder',
  'drop',
  'stale',
  'badsig',
  'stranger',
  'skew',
  'resubmit',
  ...DISRUPTIVE_KINDS,
  'advance',
] as const;

/** No faults: the happy path only. */
export const NO_FAULTS: FaultRates = {
  dup: 0,
  reorder: 0,
  drop: 0,
  stale: 0,
  badsig: 0,
  stranger: 0,
  skew: 0,
  resubmit: 0,
  disrupt: 0,
  advance: 0,
};

/** Every fault at a few percent (the brief's 1–10% band). */
export const CHAOS: FaultRates = {
  dup: 0.05, reorder: 0.05, drop: 0.03, stale: 0.05, badsig: 0.02, stranger: 0.02, skew: 0.02,
  resubmit: 0.04, disrupt: 0.03, advance: 0.03,
};

/** Options of a stream beyond seed, length and rates. */
export interface StreamOptions {
  /** Incremented per injected fault, by kind (STREAM_FAULT_KINDS, and `license_hard_stop`). */
  readonly counts?: Record<string, number>;
}

/** A generated stream and the generator's own final world. */
export interface Stream {
  readonly entries: readonly WalEntry[];
  readonly world: World;
  readonly genesis: Record<string, unknown>;
  /** Faults injected, by kind. */
  readonly faults: Readonly<Record<string, number>>;
}

/**
 * The stream as a coroutine: it yields each entry to emit, and is sent back the entry as it
 * was actually logged (the real WAL seq and log time), or null when the log dropped it (an
 * exact re-send deduplicated by Nats-Msg-Id). It applies what was logged to its world, so the
 * next step is planned against the state every consumer of that log computes.
 */
export function* streamSteps(
  w: World,
  seed: number,
  length: number,
  rates: FaultRates,
  opts: StreamOptions = {},
): Generator<WalEntry, void, WalEntry | null> {
  const rng = new Rng(seed);
  let emitted = 0;
  const proposals: {
    entry: WalEntry;
    idem: string;
    transition: string;
    inputs: Record<string, unknown>;
  }[] = [];
  const logged: WalEntry[] = [];
  const counts = opts.counts;
  const count = (k: string): void => {
    if (counts !== undefined) counts[k] = (counts[k] ?? 0) + 1;
  };
  const dis = new Disruptions(w, rng, rates.advance > 0, count);
  const disruptive = DISRUPTIVE_KINDS.map((k) => [k, disruptiveRate(rates, k)] as const);
  function* emit(e: WalEntry): Generator<WalEntry, void, WalEntry | null> {
    const got = yield e;
    if (got === null) return;
    w.apply(got);
    logged.push(got);
    emitted += 1;
    const d = w.results[w.results.length - 1]?.decision;
    if (
      d?.outcome === 'accepted' &&
      d.idem_key !== null &&
      d.transition !== null &&
      got.type === 'signed'
    ) {
      const body = JSON.parse(got.body) as { inputs: Record<string, unknown> };
      proposals.push({
        entry: got,
        idem: d.idem_key,
        transition: d.transition,
        inputs: body.inputs,
      });
    }
  }
  while (emitted < length) {
    const forced = dis.pending(emitted);
    if (forced !== null) {
      yield* emit(entryOf(w, forced));
      continue;
    }
    const r = rng.next();
    let acc = 0;
    const hit = (p: number): boolean => {
      acc += p;
      return r < acc;
    };
    const step = nextStep(w, rng);
    if (step === null) break;
    if (hit(rates.dup) && logged.length > 0) {
      count('dup');
      yield* emit(w.resend(rng.pick(logged)));
    } else if (hit(rates.reorder) && emitted + 2 <= length) {
      count('reorder');
      const a = entryOf(w, dis.planned(step));
      const b = entryOf(w, disruptiveStep(w, rng));
      yield* emit({ ...b, seq: a.seq, log_ms: a.log_ms });
      yield* emit({ ...a, seq: b.seq, log_ms: b.log_ms });
    } else if (hit(rates.drop)) {
      count('drop');
      entryOf(w, step);
    } else if (hit(rates.stale) && step.kind === 'proposal') {
      count('stale');
      yield *
        emit(
          w.proposalEntry(step.by, step.transition, step.inputs ?? {}, {
            hash: h(`stale-${rng.int(9)}`),
          }),
        );
    } else if (hit(rates.badsig) && step.kind === 'proposal') {
      count('badsig');
      yield *
        emit(
          w.proposalEntry(step.by, step.transition, step.inputs ?? {}, {
            tamper: (t) => t.replace('"hlc":"', '"hlc":"x'),
          }),
        );
    } else if (hit(rates.stranger) && step.kind === 'proposal') {
      count('stranger');
      yield* emit(w.proposalEntry(CAST.stranger, step.transition, step.inputs ?? {}));
    } else if (hit(rates.skew) && step.kind === 'proposal') {
      count('skew');
      const ms = w.logMs + (rng.chance(0.5) ? 3_600_000 : -3_600_000);
      yield *
        emit(
          w.proposalEntry(step.by, step.transition, step.inputs ?? {}, {
            hlc: formatHlc({ ms, logical: 0 }),
          }),
        );
    } else if (hit(rates.resubmit) && proposals.length > 0) {
      count('resubmit');
      const p = rng.pick(proposals);
      const by =
        Object.values(CAST).find(
          (a) => p.entry.type === 'signed' && p.entry.body.includes(a.signer),
        ) ?? CAST.operator;
      yield* emit(w.proposalEntry(by, p.transition, p.inputs as never, { idem: p.idem }));
    } else {
      const kind = disruptive.find(([, p]) => hit(p))?.[0];
      if (kind !== undefined) {
        for (const s of dis.start(kind, step, emitted, length - emitted)) {
          yield * emit(entryOf(w, s));
        }
      } else if (hit(rates.advance)) {
        count('advance');
        w.advance(rng.int(120_000));
      } else yield* emit(entryOf(w, dis.planned(step)));
    }
  }
}

/** Generate `length` entries from `seed`, offline: every entry is logged as generated. */
export function generateStream(
  seed: number,
  length: number,
  rates: FaultRates,
  genesis = castGenesis(),
  opts: { baseMs?: number } = {},
): Stream {
  const w = new World(genesis, undefined, opts);
  const out: WalEntry[] = [];
  const faults: Record<string, number> = {};
  const steps = streamSteps(w, seed, length, rates, { counts: faults });
  let next = steps.next(null);
  while (next.done !== true) {
    out.push(next.value);
    next = steps.next(next.value);
  }
  return { entries: out, world: w, genesis, faults };
}
