/**
 * Determinism properties (issue: the deterministic core, "How it is checked"):
 *  (a) folding from genesis and folding from any intermediate snapshot give byte-identical
 *      state hashes (and byte-identical decisions);
 *  (b) three independently constructed reducers (two SHA-256 implementations) fed the same
 *      10,000-entry randomized stream end with identical hashes;
 *  (c) no invariant is ever violated (step() asserts them after every decision);
 *  (d) evolve never throws on a decision decide produced.
 * Streams mix valid steps with duplicates, reorders, drops, stale hashes, bad signatures,
 * unknown signers, clock skew, re-submissions and the named disruptive faults (control steps,
 * licence grace / hard stop / restore, policy quarantine and release, MCP flaps, capacity
 * churn, BACKBEAT tempo changes and missed beats), each at its own random rate or through the
 * `disrupt` shorthand.
 * Every run prints its seed; replay one with SWOOSH_SEED=<n>.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEPLOYMENT_CHAIN, createCore, jcs, type Core, type State, type WalEntry } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { nobleHasher } from '../../src/crypto/hasher-portable.js';
import { announceSeed } from '../support/seed.js';
import { CHAOS, DISRUPTIVE_KINDS, NO_FAULTS, generateStream, type FaultRates } from '../../src/proving/sim/stream.js';

const seed = Math.abs(announceSeed('replay properties'));
fc.configureGlobal({ seed });

/** Every chain's document: the deployment's and each project's (as a replica holds them). */
interface Docs {
  readonly deployment: State;
  readonly projects: Readonly<Record<string, State>>;
}

function genesisOf(core: Core, raw: Record<string, unknown>): Docs {
  const g = core.parseGenesis(raw);
  if (!g.ok) throw new Error(g.error.message);
  const w = core.genesisWorld(g.value);
  return { deployment: w.deployment, projects: Object.fromEntries(w.projects) };
}

interface Fold {
  readonly final: Docs;
  readonly heads: string[];
  readonly decisions: string[];
}

/** Decide every entry in its chain, as the writer does (core.route, core.stepChain). */
function fold(core: Core, start: Docs, entries: readonly WalEntry[]): Fold {
  let deployment = start.deployment;
  const projects: Record<string, State> = { ...start.projects };
  const heads: string[] = [];
  const decisions: string[] = [];
  for (const e of entries) {
    const chain = core.route(deployment, e);
    const r = core.stepChain(deployment, chain, chain === DEPLOYMENT_CHAIN ? undefined : projects[chain], e);
    deployment = r.deployment;
    if (chain !== DEPLOYMENT_CHAIN) projects[chain] = r.stored;
    for (const c of r.created) projects[c.project] = c.state;
    heads.push(`${chain}:${r.post.head}/${r.post.facts}`);
    decisions.push(jcs(r.decision));
  }
  return { final: { deployment, projects }, heads, decisions };
}

/** A snapshot as the runtime stores it: JSON text, parsed back by a fresh process. */
function roundTrip(s: Docs): Docs {
  return JSON.parse(JSON.stringify(s)) as Docs;
}

function verifyDocs(core: Core, d: Docs): string | null {
  return core.verifyLoaded(d.deployment) ??
    Object.values(d.projects).map((p) => core.verifyLoaded(p)).find((x) => x !== null) ?? null;
}

const rate = (max: number): fc.Arbitrary<number> => fc.double({ min: 0, max, noNaN: true });
/** Any mix: each named disruptive kind has its own rate or (key absent) a share of `disrupt`. */
const ratesArb: fc.Arbitrary<FaultRates> = fc.record({
  dup: rate(0.1),
  reorder: rate(0.1),
  drop: rate(0.1),
  stale: rate(0.1),
  badsig: rate(0.05),
  stranger: rate(0.05),
  skew: rate(0.05),
  resubmit: rate(0.1),
  disrupt: rate(0.08),
  advance: rate(0.05),
  control: rate(0.03),
  license: rate(0.03),
  policy: rate(0.03),
  mcp: rate(0.03),
  capacity: rate(0.03),
  tempo: rate(0.05),
  missed_beat: rate(0.05),
}, { requiredKeys: ['dup', 'reorder', 'drop', 'stale', 'badsig', 'stranger', 'skew', 'resubmit', 'disrupt', 'advance'] });

/** Only the named disruptive kinds, turned up. */
const NAMED: FaultRates = {
  ...NO_FAULTS, advance: 0.01, control: 0.02, license: 0.02, policy: 0.02, mcp: 0.02, capacity: 0.02, tempo: 0.04, missed_beat: 0.04,
};

describe('replay determinism', () => {
  it('(a) Given any stream and any cut point, When folded from a snapshot at the cut, Then every hash and decision equals the fold from genesis', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 20, max: 250 }), ratesArb, fc.nat(), (s, n, rates, cutRaw) => {
        const stream = generateStream(s, n, rates);
        const core = createCore(nodeHasher);
        const full = fold(core, genesisOf(core, stream.genesis), stream.entries);
        const cut = cutRaw % (stream.entries.length + 1);
        const other = createCore(nodeHasher);
        const prefix = fold(other, genesisOf(other, stream.genesis), stream.entries.slice(0, cut));
        const loaded = roundTrip(prefix.final);
        expect(verifyDocs(other, loaded)).toBeNull();
        const rest = fold(other, loaded, stream.entries.slice(cut));
        expect([...prefix.heads, ...rest.heads]).toEqual(full.heads);
        expect([...prefix.decisions, ...rest.decisions]).toEqual(full.decisions);
        expect(jcs(rest.final)).toBe(jcs(full.final));
      }),
      { numRuns: 40 },
    );
  });

  it('(b) Given a 10,000-entry chaos stream, When fed to three independently built reducers, Then identical hashes at every step', () => {
    const stream = generateStream(seed, 10_000, CHAOS);
    expect(stream.entries.length).toBe(10_000);
    const reducers = [createCore(nodeHasher), createCore(nobleHasher), createCore(nodeHasher)];
    const folds = reducers.map((c) => fold(c, genesisOf(c, stream.genesis), stream.entries));
    const [a, b, c] = folds as [Fold, Fold, Fold];
    expect(b.heads).toEqual(a.heads);
    expect(c.heads).toEqual(a.heads);
    expect(b.decisions).toEqual(a.decisions);
    // The stream really exercised the machine: every outcome occurred and loops completed.
    const outcomes = new Set(a.decisions.map((d) => (JSON.parse(d) as { outcome: string }).outcome));
    for (const o of ['accepted', 'rejected', 'duplicate', 'fact']) expect(outcomes.has(o), o).toBe(true);
    const project = a.final.projects['default'];
    if (project === undefined) throw new Error('no default project');
    expect(project.execution.loop + project.clock.applied_count).toBeGreaterThan(100);
    console.log(`10k stream: outcomes=${[...outcomes].join(',')} loops=${project.execution.loop} top=${project.control.top}`);
  }, 120_000);

  it('(c, d) Given random fault mixes, Then no invariant is violated and evolve never throws', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), ratesArb, (s, rates) => {
        const stream = generateStream(s, 300, rates);
        const core = createCore(nodeHasher);
        // stepChain asserts every invariant after each decision and evolves what decide made.
        const f = fold(core, genesisOf(core, stream.genesis), stream.entries);
        expect(f.decisions.map((d) => (JSON.parse(d) as { seq: number }).seq))
          .toEqual(stream.entries.map((e) => e.seq));
      }),
      { numRuns: 25 },
    );
    // ~20 s alone; room for a busy 2-core machine.
  }, 120_000);

  it('Given only the named disruptive faults, When a seed is generated twice, Then the same stream, every kind injected, and the machine goes through grace, hard stop, restore, quarantine, release and window rejections', () => {
    // Some seeds' fault mixes keep the project out of EXECUTION for the whole stream (a region
    // never gets back to READY), and a missed beat needs EXECUTION: the first seed from the
    // run's on whose stream every kind was injected is the one checked (seeds 1 – 10 needed at
    // most two tries; ten without one is a generator regression).
    let used = seed;
    let a = generateStream(used, 2000, NAMED);
    const missing = (x: typeof a): string[] => DISRUPTIVE_KINDS.filter((k) => (x.faults[k] ?? 0) === 0);
    for (let tries = 1; missing(a).length > 0; tries++) {
      expect(tries, `seeds ${seed}..${used} never injected ${missing(a).join(', ')}`).toBeLessThan(10);
      used += 1;
      a = generateStream(used, 2000, NAMED);
    }
    if (used !== seed) process.stdout.write(`[replay properties] named faults: seed ${used} (the run's ${seed} left out ${missing(generateStream(seed, 2000, NAMED)).join(', ')})\n`);
    const b = generateStream(used, 2000, NAMED);
    expect(b.entries.map((e) => (e.type === 'signed' ? e.body : e.code))).toEqual(a.entries.map((e) => (e.type === 'signed' ? e.body : e.code)));
    expect(b.faults).toEqual(a.faults);
    for (const k of DISRUPTIVE_KINDS) expect(a.faults[k] ?? 0, k).toBeGreaterThan(0);
    const applied = new Map<string, number>();
    const codes = new Map<string, number>();
    for (const r of a.world.results) {
      for (const t of r.decision.applied) applied.set(t, (applied.get(t) ?? 0) + 1);
      if (r.decision.outcome === 'rejected') codes.set(r.decision.code ?? '', (codes.get(r.decision.code ?? '') ?? 0) + 1);
    }
    for (const t of ['Control_LicenseGrace', 'Control_LicenseExpired', 'Control_LicenseRestored', 'Policy_Quarantine']) {
      expect(applied.get(t) ?? 0, t).toBeGreaterThan(0);
    }
    expect((applied.get('Policy_Release') ?? 0) + (applied.get('Policy_AutoRelease') ?? 0)).toBeGreaterThan(0);
    // Hard stops reach the project by catch-up at its next entry (src/core/world/world.ts): never
    // more than the generator planned (plus one the very last entry may cause).
    expect(applied.get('Control_LicenseExpired') ?? 0).toBeLessThanOrEqual((a.faults['license_hard_stop'] ?? 0) + 1);
    // Missed beats: the proposal made for a window that never opened is rejected by the window guard.
    const windowRejections = a.world.results.filter((r) => r.decision.outcome === 'rejected' && r.decision.failing_guard === 'window').length;
    expect(windowRejections).toBeGreaterThan(0);
    expect(codes.get('license_degraded') ?? 0).toBeGreaterThan(0);
    // Beat frames at other tempos were recorded.
    const tempos = new Set(a.world.results.filter((r) => r.decision.outcome === 'fact' && r.decision.transition === 'backbeat')
      .map((r) => (r.decision.events[0]?.type === 'fact_recorded' ? (r.decision.events[0].value['tempo_mbpm'] as number) : 0)));
    expect(tempos.size).toBeGreaterThan(2);
    // And three reducers agree on it.
    const folds = [createCore(nodeHasher), createCore(nobleHasher)].map((c) => fold(c, genesisOf(c, a.genesis), a.entries));
    expect(folds[1]?.heads).toEqual(folds[0]?.heads);
  });

  it('Given the fault-free planner, Then it walks the lifecycle into several execution loops', () => {
    const stream = generateStream(seed, 400, NO_FAULTS);
    const s = stream.world.state;
    expect(s.execution.loop).toBeGreaterThanOrEqual(3);
    const rejected = stream.world.results.filter((r) => r.decision.outcome === 'rejected');
    expect(rejected.map((r) => `${r.decision.transition ?? ''}:${r.decision.code ?? ''}`)).toEqual([]);
  });
});
