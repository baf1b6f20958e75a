/**
 * A schedule of several projects' walks interleaved with deployment noise (facts of every kind,
 * control proposals, project creation), shared by the property tests of many projects.
 */
import type { Core } from '../../src/core/index.js';
import { DeploymentSim, type LogStep, type ProjectLens } from '../../src/proving/sim/deployment.js';
import { CAST, castGenesis, h } from '../../src/proving/sim/world.js';
import { COUNCIL_INPUTS, pinsOf } from '../../src/proving/sim/walk.js';

export const PROJECTS = ['alpha', 'beta', 'gamma'];

/** One project's happy path, one proposal per step (outcomes are whatever they are). */
export const SCRIPT: readonly ((l: ProjectLens, n: number) => LogStep)[] = [
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
export const NOISE: readonly ((sim: DeploymentSim, n: number) => LogStep)[] = [
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
export function run(core: Core, schedule: readonly number[]): DeploymentSim {
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

