/**
 * Many projects, measured in the core (no NATS): what one decision costs as the number of
 * projects grows, and what an idle project holds in memory.
 *
 * - Per-decision cost: the same log (ACTIVE projects walked to EXECUTION and looped, with the
 *   facts they need) is generated once per size, then folded again from genesis by
 *   `core.route` + `core.stepChain`, timed; the other projects stay idle. Entry building and
 *   signing are outside the timing.
 * - Idle memory: the heap a deployment's documents take, per project, after a GC, for a
 *   genesis naming N projects, with every document held (`SWOOSH_DECIDE=all`, one writer),
 *   and in a member deciding held chains once every project is evicted
 *   (docs/adr/0007-resident-projects.md): fresh ones (no record yet) and cold ones (a hash and
 *   an HLC kept).
 * - The writer's per-batch copy of the project map (Replica.position), per size.
 */
import { performance } from 'node:perf_hooks';
import { createCore, DEPLOYMENT_CHAIN, type State, type WalEntry } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { CowMap } from '../../server/replication/cow-map.js';
import { Replica } from '../../server/replication/replica.js';
import { createNodeVerifier } from '../../crypto/verify.js';
import { DeploymentSim } from '../sim/deployment.js';
import { castGenesis, parseFixtureGenesis } from '../sim/world.js';
import { loop, toExecution } from '../sim/walk.js';

/** Projects walked and looped in every size's log. */
export const ACTIVE = 8;

/** One size's figures. */
export interface ProjectsCost {
  readonly projects: number;
  readonly decisions: number;
  /** Median over the runs of the fold's wall time per decision, in µs. */
  readonly us_per_decision: number;
  /** Copying a plain Map of every project once (what Replica.position did per batch), µs. */
  readonly map_copy_us: number;
  /** A CowMap snapshot plus 100 writes (what Replica.position and a batch do now), µs. */
  readonly snapshot_batch_us: number;
}

/** Idle memory for one size. */
export interface IdleMemory {
  readonly projects: number;
  readonly heap_mb: number;
  readonly bytes_per_project: number;
  /** A member's replica (deployment document included) with every project evicted fresh. */
  readonly evicted_fresh_bytes_per_project: number;
  /** The same with every project cold (as after its first record): hash and HLC kept. */
  readonly evicted_cold_bytes_per_project: number;
}

function ids(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `p${String(i).padStart(5, '0')}`);
}

/** The log of ACTIVE projects walked to EXECUTION and looped `loops` times. */
function activeLog(projects: readonly string[], loops: number): WalEntry[] {
  const sim = new DeploymentSim(castGenesis({ projects }));
  const active = projects.slice(0, Math.min(ACTIVE, projects.length));
  for (const p of active) toExecution(sim.lens(p));
  for (let i = 1; i <= loops; i++) {
    for (const p of active) loop(sim.lens(p), i * 1000 + active.indexOf(p));
  }
  return sim.log.map((s) => s.entry);
}

function fold(projects: readonly string[], entries: readonly WalEntry[]): number {
  const core = createCore(nodeHasher);
  const w = core.genesisWorld(parseFixtureGenesis(castGenesis({ projects }), core));
  let dep = w.deployment;
  const docs = new Map<string, State>(w.projects);
  const t0 = performance.now();
  for (const e of entries) {
    const chain = core.route(dep, e);
    const doc = chain === DEPLOYMENT_CHAIN ? undefined : docs.get(chain);
    const r = core.stepChain(dep, chain, doc, e);
    dep = r.deployment;
    if (chain !== DEPLOYMENT_CHAIN) docs.set(chain, r.stored);
  }
  return performance.now() - t0;
}

/** Per-decision cost at each size (three timed folds each, median). */
export function decisionCost(sizes: readonly number[], loops = 25, runs = 5): ProjectsCost[] {
  return sizes.map((n) => {
    const projects = ids(n);
    const entries = activeLog(projects, loops);
    fold(projects, entries); // warm-up
    const times = Array.from({ length: runs }, () => fold(projects, entries)).sort((a, b) => a - b);
    const median = times[Math.floor(runs / 2)] ?? 0;
    const map = new Map(projects.map((p) => [p, p]));
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) void new Map(map);
    const copyUs = ((performance.now() - t0) * 1000) / 20;
    // What Replica.position does now: a copy-on-write snapshot, then a batch's writes.
    const cow = new CowMap(map.entries());
    const t1 = performance.now();
    for (let i = 0; i < 20; i++) {
      void cow.snapshot();
      for (let j = 0; j < 100; j++) cow.set(projects[(i * 100 + j) % n] ?? 'p', 'x');
    }
    return {
      projects: n,
      decisions: entries.length,
      us_per_decision: +((median * 1000) / entries.length).toFixed(2),
      map_copy_us: +copyUs.toFixed(1),
      snapshot_batch_us: +(((performance.now() - t1) * 1000) / 20).toFixed(1),
    };
  });
}

/** Heap held by a deployment's documents with N idle projects (needs --expose-gc to be exact). */
export function idleMemory(sizes: readonly number[]): IdleMemory[] {
  const gc = (globalThis as { gc?: () => void }).gc;
  const core = createCore(nodeHasher);
  return sizes.map((n) => {
    gc?.();
    const before = process.memoryUsage().heapUsed;
    const w = core.genesisWorld(parseFixtureGenesis(castGenesis({ projects: ids(n) }), core));
    const held = new Map<string, State>(w.projects);
    gc?.();
    const after = process.memoryUsage().heapUsed;
    const bytes = Math.max(0, after - before);
    if (held.size !== n) throw new Error(`bench: ${held.size} documents for ${n} projects`);
    held.clear();
    gc?.();
    // A member deciding held chains, every project queued and evicted.
    const start = process.memoryUsage().heapUsed;
    const genesis = parseFixtureGenesis(castGenesis({ projects: ids(n) }), core);
    const r = Replica.fromGenesis(core, nodeHasher, createNodeVerifier(), genesis);
    for (const p of ids(n)) {
      r.defer(p);
      const out = r.evict(p);
      if (out !== 'fresh') throw new Error(`bench: ${p} not evicted: ${out}`);
    }
    gc?.();
    const fresh = process.memoryUsage().heapUsed - start;
    const hlc = '2026-12-08T00:00:00.000Z#1';
    for (const p of ids(n)) r.markCold(p, { postHash: core.hash(p), hlc });
    gc?.();
    const cold = process.memoryUsage().heapUsed - start;
    if (r.residentCount !== 0 || r.coldCount !== n) throw new Error('bench: not all evicted');
    return {
      projects: n,
      heap_mb: +(bytes / 1048576).toFixed(1),
      bytes_per_project: Math.round(bytes / n),
      evicted_fresh_bytes_per_project: Math.round(Math.max(0, fresh) / n),
      evicted_cold_bytes_per_project: Math.round(Math.max(0, cold) / n),
    };
  });
}

/** Both, as printable lines and the figures. */
export function projectsReport(o: { sizes?: readonly number[]; idle?: readonly number[] } = {}): {
  readonly cost: ProjectsCost[];
  readonly idle: IdleMemory[];
  readonly lines: string[];
} {
  const cost = decisionCost(o.sizes ?? [100, 1_000, 10_000]);
  const idle = idleMemory(o.idle ?? [1_000, 10_000]);
  const base = cost[0]?.us_per_decision ?? 0;
  const lines = [
    `per-decision cost (core: route + stepChain; ${ACTIVE} active projects, the rest idle)`,
    ...cost.map((c) => {
      const ratio = base > 0 ? (c.us_per_decision / base).toFixed(2) : '-';
      return `  ${String(c.projects).padStart(6)} projects: ${c.us_per_decision} µs/decision ` +
        `over ${c.decisions} decisions (×${ratio} of the first size); per batch: plain map ` +
        `copy ${c.map_copy_us} µs, copy-on-write snapshot + 100 writes ${c.snapshot_batch_us} µs`;
    }),
    'idle projects (heap after GC): every document resident; a member with all evicted',
    ...idle.map((m) =>
      `  ${String(m.projects).padStart(6)} projects: ${m.heap_mb} MB, ` +
      `${m.bytes_per_project} bytes each resident; evicted: ${m.evicted_fresh_bytes_per_project} ` +
      `bytes each fresh, ${m.evicted_cold_bytes_per_project} bytes each cold ` +
      '(deployment document included)'),
  ];
  return { cost, idle, lines };
}
