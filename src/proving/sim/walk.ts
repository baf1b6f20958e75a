/**
 * The happy path, step by step: boot, licence, the three lifecycle regions, EXECUTION and one
 * PLAN → WORK → REVIEW → REVERB → PLAN loop. Each helper asserts its step was accepted, so a
 * test built on it fails at the first step that does not go through.
 */
import type { Core, JsonObject, State, StepResult } from '../../core/index.js';
import { CAST, h, type Actor, type ProposeOpts } from './world.js';

/**
 * What the walk drives: the single-project World, or one project of a DeploymentSim
 * (`sim.lens(project)`).
 */
export interface World {
  readonly core: Pick<Core, 'hash'>;
  readonly state: State;
  propose(by: Actor, transition: string, inputs?: JsonObject, o?: ProposeOpts): StepResult;
  fact(kind: string, payload: JsonObject, by?: Actor): StepResult;
  beat(windowId: string, phase: 'plan' | 'execute' | 'review', openMs?: number): StepResult;
  vote(by: Actor, memberSetHash: string, term: number): JsonObject;
}

/** Throw unless the step was accepted (or, for facts, recorded). */
export function ok<T extends StepResult>(r: T): T {
  const d = r.decision;
  if (d.outcome !== 'accepted' && d.outcome !== 'fact') {
    throw new Error(
      `seq ${d.seq} ${d.transition ?? '?'}: ${d.outcome} ${d.code ?? ''} ${d.message ?? ''}`,
    );
  }
  return r;
}

/** BOOT → PROJECT_LIFECYCLE. */
export function boot(w: World): void {
  ok(w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('config') }));
  ok(w.fact('license', { status: 'active', license_id: 'lic-1' }));
  ok(w.propose(CAST.operator, 'Boot_Licensed'));
}

/** Ingestion DISCOVER → READY. */
export function ingest(w: World, version = 'v1'): void {
  ok(
    w.propose(CAST.ingest, 'Ingestion_SourcesResolved', {
      sources: [{ uri: 'git://repo/a', kind: 'git' }],
    }),
  );
  ok(
    w.propose(CAST.ingest, 'Ingestion_BytesOk', {
      manifest_hash: h('manifest'),
      bytes_total: 1024,
    }),
  );
  ok(
    w.propose(CAST.ingest, 'Ingestion_SchemaOk', { schema_version: 's1', checked: 10, failed: 0 }),
  );
  ok(
    w.propose(CAST.ingest, 'Ingestion_CorpusBuilt', {
      content_hash: h(`corpus-${version}`),
      version,
    }),
  );
}

/** The council's required roles and candidates used by the walk. */
export const COUNCIL_INPUTS = {
  required_roles: ['architect', 'reviewer'],
  candidates: [
    { agent: CAST.c1.signer, capabilities: ['architect'] },
    { agent: CAST.c2.signer, capabilities: ['architect', 'reviewer'] },
  ],
};

/** Council PLAN_ROLES → READY. */
export function formCouncil(w: World): void {
  ok(w.propose(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS));
  ok(w.fact('mcp', { tools: [{ name: 'repo-tools', reachable: true, version: '1.2.0' }] }));
  elect(w);
  ok(w.propose(CAST.c1, 'Council_McpGreen'));
}

/** ELECT → TOOLING_SYNC with two signed votes over the planned members. */
export function elect(w: World): void {
  const members = [CAST.c1.signer, CAST.c2.signer].sort();
  const msh = w.core.hash(members);
  const term = w.state.council.term;
  ok(w.propose(CAST.c1, 'Council_QuorumCert', {
    members, member_set_hash: msh, term,
    votes: [w.vote(CAST.v1, msh, term), w.vote(CAST.v2, msh, term)],
  }));
}

/** Environment ALLOCATE → READY. */
export function provision(w: World): void {
  ok(w.fact('capacity', { cpu_millis: 8000, memory_mb: 16384, slots: 4 }));
  ok(
    w.propose(CAST.env, 'Environment_CapacityOk', { cpu_millis: 2000, memory_mb: 4096, slots: 1 }),
  );
  ok(w.propose(CAST.env, 'Environment_Installed', { assets: ['runner'], env_version: 'e1' }));
  ok(w.propose(CAST.env, 'Environment_Green', { checks_passed: 3 }));
}

/** The pins a producer names for Lifecycle_AllReady. */
export function pinsOf(w: World): Record<string, string> {
  const s = w.state;
  return {
    content_hash: s.ingestion.content_hash ?? '',
    ingestion_version: s.ingestion.version ?? '',
    member_set_hash: s.council.member_set_hash ?? '',
    env_version: s.environment.env_version ?? '',
  };
}

/** Everything up to EXECUTION.PLAN. */
export function toExecution(w: World): void {
  boot(w);
  ingest(w);
  formCouncil(w);
  provision(w);
  ok(w.propose(CAST.operator, 'Lifecycle_AllReady', { pins: pinsOf(w) }));
}

/** One full loop PLAN → WORK → REVIEW → REVERB → PLAN, in window `W-<n>`. */
export function loop(w: World, n: number): void {
  const win = `backbeat:W-${n}`;
  ok(w.beat(win, 'plan'));
  ok(w.propose(CAST.c1, 'Execution_PlanLocked', { plan_hash: h(`plan-${n}`) }));
  ok(w.beat(win, 'review'));
  ok(w.propose(CAST.c1, 'Execution_BeatReviewGate', { work_hash: h(`work-${n}`) }));
  ok(w.propose(CAST.c1, 'Execution_SubmitApproval', { work_hash: h(`work-${n}`) }));
  ok(w.propose(CAST.c2, 'Execution_SubmitApproval', { work_hash: h(`work-${n}`) }));
  ok(w.propose(CAST.c1, 'Execution_ApprovalsThreshold'));
  ok(w.beat(`backbeat:W-${n}b`, 'plan'));
  ok(w.propose(CAST.c2, 'Execution_NextWindow'));
}
