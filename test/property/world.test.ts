/**
 * Projects are independent histories (contract v2; issue "many projects", How it is checked):
 * folding any interleaving of N projects' entries and the deployment's facts and control
 * proposals gives each project the same records and the same final hash as folding that
 * project alone with the same facts at the same WAL positions, and the deployment chain's
 * decisions are identical in every fold (every writer decides them the same way).
 * Every run prints its seed; replay one with SWOOSH_SEED=<n>.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEPLOYMENT_CHAIN,
  createCore,
  jcs,
  type Core,
  type State,
} from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { nobleHasher } from '../../src/crypto/hasher-portable.js';
import { DeploymentSim, type LogStep, type ProjectLens } from '../../src/proving/sim/deployment.js';
import { CAST, castGenesis, h, parseFixtureGenesis } from '../../src/proving/sim/world.js';
import { COUNCIL_INPUTS, pinsOf } from '../../src/proving/sim/walk.js';
import { announceSeed } from '../support/seed.js';

const seed = Math.abs(announceSeed('world properties'));
fc.configureGlobal({ seed });

const PROJECTS = ['alpha', 'beta', 'gamma'];

/** One project's happy path, one proposal per step (outcomes are whatever they are). */
const SCRIPT: readonly ((l: ProjectLens, n: number) => LogStep)[] = [
  (l) => l.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('config') }),
  (l) => l.propose(CAST.operator, 'Boot_Licensed'),
  (l) => l.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'git://repo/a', kind: 'git' }] }),
  (l) => l.propose(CAST.ingest, 'Ingestion_BytesOk', { manifest_hash: h('m'), bytes_total: 1024 }),
  (l) => l.propose(CAST.ingest, 'Ingestion_SchemaOk', { schema_version: 's1', checked: 10, failed: 0 }),
  (l) => l.propose(CAST.ingest, 'Ingestion_CorpusBuilt', { content_hash: h('corpus'), version: 'v1' }),
  (l) => l.propose(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS),
  (l) => {
    const members = [CAST.c1.signer, CAST.c2.signer].sort();
    const msh = l.core.hash(members);
    const term = l.state.council.term;
    return l.propose(CAST.c1, 'Council_QuorumCert', {
      members, member_set_hash: msh, term,
      votes: [l.vote(CAST.v1, msh, term), l.vote(CAST.v2, msh, term)],
    });
  },
  (l) => l.propose(CAST.c1, 'Council_McpGreen'),
  (l) => l.propose(CAST.env, 'Environment_CapacityOk', { cpu_millis: 2000, memory_mb: 4096, slots: 1 }),
  (l) => l.propose(CAST.env, 'Environment_Installed', { assets: ['runner'], env_version: 'e1' }),
  (l) => l.propose(CAST.env, 'Environment_Green', { checks_passed: 3 }),
  (l) => l.propose(CAST.operator, 'Lifecycle_AllReady', { pins: pinsOf(l) }),
  (l, n) => l.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h(`plan-${n}`) }),
  (l, n) => l.propose(CAST.c1, 'Execution_BeatReviewGate', { work_hash: h(`work-${n}`) }),
  (l, n) => l.propose(CAST.c1, 'Execution_SubmitApproval', { work_hash: h(`work-${n}`) }),
  (l, n) => l.propose(CAST.c2, 'Execution_SubmitApproval', { work_hash: h(`work-${n}`) }),
  (l) => l.propose(CAST.c1, 'Execution_ApprovalsThreshold'),
  (l) => l.propose(CAST.c2, 'Execution_NextWindow'),
  (l) => l.propose(CAST.operator, 'Control_Pause', { reason: 'maintenance' }),
  (l) => l.propose(CAST.operator, 'Control_Resume'),
];

/** Deployment-level noise: facts of every kind and control proposals. */
const NOISE: readonly ((sim: DeploymentSim, n: number) => LogStep)[] = [
  (sim) => sim.fact('license', { status: 'active', license_id: 'lic-1' }),
  (sim) => sim.fact('license', { status: 'revoked', license_id: 'lic-1' }),
  (sim) => sim.fact('mcp', { tools: [{ name: 'repo-tools', reachable: true, version: '1.2.0' }] }),
  (sim) => sim.fact('mcp', { tools: [{ name: 'repo-tools', reachable: false, version: '1.2.0' }] }),
  (sim) => sim.fact('capacity', { cpu_millis: 8000, memory_mb: 16384, slots: 4 }),
  (sim, n) => sim.beat(`backbeat:W-${n}`, 'plan'),
  (sim, n) => sim.beat(`backbeat:W-${n}`, 'review'),
  (sim, n) => sim.fact('policy', {
    version: n, denied_source_patterns: n % 2 === 0 ? ['git://repo/*'] : [], max_council_size: 0,
    required_evidence: {},
  }),
  (sim) => sim.fact('tick', { now: sim.logMs }),
  (sim) => { sim.advance(30_000); return sim.fact('tick', { now: sim.logMs }); },
  (sim) => sim.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.c3.signer, roles: ['voter'] }),
  (sim, n) => sim.create(`late-${n}`),
  (sim) => sim.propose(CAST.operator, 'nobody', 'Boot_ConfigOk', { config_hash: h('x') }),
];

/** Run a schedule: each number picks a project's next script step or a noise step. */
function run(core: Core, schedule: readonly number[]): DeploymentSim {
  const sim = new DeploymentSim(castGenesis({ projects: PROJECTS }), core);
  const next = new Map(PROJECTS.map((p) => [p, 0]));
  let n = 1;
  for (const pick of schedule) {
    n += 1;
    if (pick < PROJECTS.length) {
      const p = PROJECTS[pick] as string;
      const i = next.get(p) ?? 0;
      const step = SCRIPT[i % SCRIPT.length];
      if (step === undefined) continue;
      const r = step(sim.lens(p), n);
      // Advance on acceptance; a rejected step is retried when the project is picked again.
      if (r.decision.outcome === 'accepted' || r.decision.outcome === 'duplicate') next.set(p, i + 1);
    } else {
      const noise = NOISE[(pick - PROJECTS.length) % NOISE.length];
      if (noise !== undefined) noise(sim, n);
    }
  }
  return sim;
}

/** Fold only the entries of one project's chain and of the deployment chain, in log order. */
function foldAlone(core: Core, full: DeploymentSim, project: string): {
  readonly decisions: Map<number, string>;
  readonly deploymentDecisions: string[];
  readonly final: State | undefined;
} {
  const g = core.genesisWorld(parseFixtureGenesis(castGenesis({ projects: PROJECTS }), core));
  let dep = g.deployment;
  const docs = new Map(g.projects);
  const decisions = new Map<number, string>();
  const deploymentDecisions: string[] = [];
  for (const s of full.log) {
    if (s.chain !== project && s.chain !== DEPLOYMENT_CHAIN) continue;
    const chain = core.route(dep, s.entry);
    expect(chain).toBe(s.chain);
    const r = core.stepChain(dep, chain, chain === DEPLOYMENT_CHAIN ? undefined : docs.get(chain), s.entry);
    dep = r.deployment;
    for (const c of r.created) docs.set(c.project, c.state);
    if (chain === DEPLOYMENT_CHAIN) deploymentDecisions.push(jcs(r.decision));
    else {
      docs.set(chain, r.stored);
      decisions.set(s.entry.seq, `${r.pre.head}>${r.post.head}|${jcs(r.decision)}`);
    }
  }
  return { decisions, deploymentDecisions, final: docs.get(project) };
}

describe('projects are independent histories', () => {
  it('Given any interleaving of three projects with facts and control, When each project is folded alone with the same facts, Then its records and final hash are the same', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: PROJECTS.length + NOISE.length - 1 }), { minLength: 30, maxLength: 160 }),
        (schedule) => {
          const full = run(createCore(nodeHasher), schedule);
          const fullDeployment = full.log
            .filter((s) => s.chain === DEPLOYMENT_CHAIN)
            .map((s) => jcs(s.decision));
          for (const p of PROJECTS) {
            const alone = foldAlone(createCore(nobleHasher), full, p);
            const mine = full.log.filter((s) => s.chain === p);
            expect(alone.decisions.size).toBe(mine.length);
            for (const s of mine) {
              expect(alone.decisions.get(s.entry.seq)).toBe(`${s.pre.head}>${s.post.head}|${jcs(s.decision)}`);
            }
            expect(alone.final === undefined ? null : jcs(alone.final)).toBe(jcs(full.projects.get(p)));
            expect(alone.deploymentDecisions).toEqual(fullDeployment);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('Given every entry of a run, When counted per chain, Then each entry has exactly one decision in exactly one chain', () => {
    const schedule = Array.from({ length: 400 }, (_, i) => (i * 7 + (i >> 3)) % (PROJECTS.length + NOISE.length));
    const sim = run(createCore(nodeHasher), schedule);
    const seqs = sim.log.map((s) => s.entry.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const chains = new Set(sim.log.map((s) => s.chain));
    for (const p of PROJECTS) expect(chains.has(p)).toBe(true);
    expect(chains.has(DEPLOYMENT_CHAIN)).toBe(true);
    // The schedule did real work: some project got into EXECUTION.
    expect(PROJECTS.some((p) => sim.view(p).clock.applied_count > 10)).toBe(true);
  });
});
