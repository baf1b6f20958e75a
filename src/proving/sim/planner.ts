/**
 * A producer that always knows a next valid step: given the current state it proposes the
 * transition (or publishes the fact) that moves the machine forward along the statechart.
 * Seeded fault injection (stream.ts) mixes junk into what it produces.
 */
import type { JsonObject, WalEntry } from '../../core/index.js';
import { CAST, h, type Actor, type World } from './world.js';
import { COUNCIL_INPUTS, pinsOf } from './walk.js';

/** A small deterministic PRNG (mulberry32) so streams are reproducible from a seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** One element. */
  pick<T>(xs: readonly T[]): T {
    const x = xs[this.int(xs.length)];
    if (x === undefined) throw new Error('pick from empty list');
    return x;
  }
}

/**
 * One planned step: a proposal (with the window it names, when not the open one) or a fact.
 */
export type Step =
  | { kind: 'proposal'; by: Actor; transition: string; inputs?: JsonObject; window?: string }
  | { kind: 'fact'; factKind: string; payload: JsonObject };

export const P = (by: Actor, transition: string, inputs: JsonObject = {}): Step => ({
  kind: 'proposal',
  by,
  transition,
  inputs,
});
export const F = (factKind: string, payload: JsonObject): Step => ({
  kind: 'fact',
  factKind,
  payload,
});

/** Build the entry for a step. */
export function entryOf(w: World, step: Step): WalEntry {
  if (step.kind === 'fact') return w.factEntry(step.factKind, step.payload);
  return w.proposalEntry(
    step.by,
    step.transition,
    step.inputs ?? {},
    step.window === undefined ? {} : { window: step.window },
  );
}

/** The tempo of the planner's regular beat frames. */
export const TEMPO_BPM = 120;
/** How long the planner's regular windows stay open. */
export const WINDOW_MS = 600_000;

/** A BACKBEAT beat frame (INT-A) for `windowId` in `phase`. */
export function beatFrame(
  w: World,
  windowId: string,
  phase: 'plan' | 'execute' | 'review',
  o: { tempo?: number; openMs?: number } = {},
): Step {
  const b = w.state.facts.backbeat;
  return F('backbeat', {
    type: 'backbeat.beatframe.v1',
    cluster_id: 'c1',
    beat_index: b.beat_index + 1,
    downbeat: phase === 'plan',
    phase,
    hlc: '2025-10-19T01:00:00.000+00:00#0',
    deadline_at: new Date(w.logMs + (o.openMs ?? WINDOW_MS)).toISOString(),
    tempo_bpm: o.tempo ?? TEMPO_BPM,
    window_id: windowId,
  });
}

function beatStep(w: World, windowId: string, phase: 'plan' | 'execute' | 'review'): Step {
  return beatFrame(w, windowId, phase);
}

/** True for a beat-frame fact. */
export function isBeat(step: Step): step is Extract<Step, { kind: 'fact' }> {
  return step.kind === 'fact' && step.factKind === 'backbeat';
}

function windowOpen(w: World, phase: string, notWindow: string | null): boolean {
  const b = w.state.facts.backbeat;
  return b.phase === phase && b.window_id !== null && b.window_id !== notWindow &&
    b.deadline_ms !== null && w.logMs + 10 < b.deadline_ms;
}

function lifecycleStep(w: World, rng: Rng): Step {
  const s = w.state;
  const options: Step[] = [];
  switch (s.ingestion.state) {
    case 'DISCOVER':
      options.push(
        P(CAST.ingest, 'Ingestion_SourcesResolved', {
          sources: [{ uri: `git://repo/${rng.int(5)}` }],
        }),
      );
      break;
    case 'FETCH':
      options.push(
        P(CAST.ingest, 'Ingestion_BytesOk', { manifest_hash: h('m'), bytes_total: rng.int(1e6) }),
      );
      break;
    case 'VALIDATE':
      options.push(
        P(CAST.ingest, 'Ingestion_SchemaOk', { schema_version: 's1', checked: 5, failed: 0 }),
      );
      break;
    case 'INDEX':
      options.push(
        P(CAST.ingest, 'Ingestion_CorpusBuilt', {
          content_hash: h(`c${rng.int(3)}`),
          version: `v${rng.int(9)}`,
        }),
      );
      break;
  }
  switch (s.council.state) {
    case 'PLAN_ROLES': options.push(P(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS)); break;
    case 'ELECT': {
      const members = (s.council.plan?.assignments ?? []).map((a) => a.agent).sort();
      const msh = w.core.hash([...new Set(members)]);
      const t = s.council.term;
      options.push(P(CAST.c1, 'Council_QuorumCert', {
        members: [...new Set(members)], member_set_hash: msh, term: t,
        votes: [w.vote(CAST.v1, msh, t), w.vote(CAST.v2, msh, t)],
      }));
      break;
    }
    case 'TOOLING_SYNC':
      options.push(
        s.facts.mcp.tools['repo-tools']?.reachable === true &&
          s.facts.mcp.tools['repo-tools'].version === '1.2.0'
          ? P(CAST.c1, 'Council_McpGreen')
          : F('mcp', { tools: [{ name: 'repo-tools', reachable: true, version: '1.2.0' }] }),
      );
      break;
  }
  switch (s.environment.state) {
    case 'ALLOCATE':
      options.push(
        s.facts.capacity.known && s.facts.capacity.slots >= 1
          ? P(CAST.env, 'Environment_CapacityOk', { cpu_millis: 100, memory_mb: 100, slots: 1 })
          : F('capacity', { cpu_millis: 8000, memory_mb: 8000, slots: 4 }),
      );
      break;
    case 'PROVISION':
      options.push(
        P(CAST.env, 'Environment_Installed', { assets: ['runner'], env_version: `e${rng.int(3)}` }),
      );
      break;
    case 'HEALTHCHECK':
      options.push(
        rng.chance(0.2)
          ? P(CAST.env, 'Environment_Amber', { reasons: ['slow'] })
          : P(CAST.env, 'Environment_Green', { checks_passed: 1 }),
      );
      break;
    case 'DEGRADED':
      options.push(P(CAST.env, 'Environment_Recheck'));
      break;
  }
  if (options.length === 0) return P(CAST.operator, 'Lifecycle_AllReady', { pins: pinsOf(w) });
  return rng.pick(options);
}

/** The council member the planner proposes execution steps as. */
function memberOf(w: World): Actor {
  const members = w.state.council.members;
  return CAST.c1.signer === members[0] || CAST.c1.signer === members[1] ? CAST.c1 : CAST.c2;
}

/**
 * The windowed proposal the planner would make next if window `windowId` were open (plan lock,
 * review gate, approval, REVERB threshold or next window, by the execution state), naming that
 * window. Used for missed beats: the window never opened, so it must be rejected.
 */
export function windowedProposal(w: World, windowId: string): Step | null {
  if (w.state.control.top !== 'EXECUTION') return null;
  const x = w.state.execution;
  const members = w.state.council.members;
  const member = memberOf(w);
  const at = (s: Step): Step => (s.kind === 'proposal' ? { ...s, window: windowId } : s);
  switch (x.state) {
    case 'PLAN':
      return at(P(member, 'Execution_PlanLocked', { plan_hash: h(`plan-${x.loop}`) }));
    case 'WORK':
      return at(P(member, 'Execution_BeatReviewGate', { work_hash: h(`work-${x.loop}`) }));
    case 'REVIEW': {
      const pending = [CAST.c1, CAST.c2].find(
        (a) => members.includes(a.signer) && !x.approvals.includes(a.signer),
      );
      if (x.approvals.length < w.state.meta.config.approvals_threshold && pending !== undefined) {
        return at(P(pending, 'Execution_SubmitApproval', { work_hash: x.work_hash ?? '' }));
      }
      return at(P(member, 'Execution_ApprovalsThreshold'));
    }
    default:
      return at(P(member, 'Execution_NextWindow'));
  }
}

function executionStep(w: World): Step {
  const x = w.state.execution;
  const members = w.state.council.members;
  const member = memberOf(w);
  switch (x.state) {
    case 'PLAN':
      if (!windowOpen(w, 'plan', x.window_id)) {
        return beatStep(w, `backbeat:W-${++w.windows}`, 'plan');
      }
      return P(member, 'Execution_PlanLocked', { plan_hash: h(`plan-${x.loop}`) });
    case 'WORK':
      if (!windowOpen(w, 'review', null)) {
        return beatStep(
          w,
          w.state.facts.backbeat.window_id ?? `backbeat:W-${++w.windows}`,
          'review',
        );
      }
      return P(member, 'Execution_BeatReviewGate', { work_hash: h(`work-${x.loop}`) });
    case 'REVIEW': {
      if (!windowOpen(w, 'review', null)) {
        return beatStep(w, w.state.facts.backbeat.window_id ?? 'W', 'review');
      }
      const pending = [CAST.c1, CAST.c2].find(
        (a) => members.includes(a.signer) && !x.approvals.includes(a.signer),
      );
      if (x.approvals.length < w.state.meta.config.approvals_threshold && pending !== undefined) {
        return P(pending, 'Execution_SubmitApproval', { work_hash: x.work_hash ?? '' });
      }
      return P(member, 'Execution_ApprovalsThreshold');
    }
    default:
      if (!windowOpen(w, 'plan', x.window_id)) {
        return beatStep(w, `backbeat:W-${++w.windows}`, 'plan');
      }
      return P(member, 'Execution_NextWindow');
  }
}

/** The next step that moves the machine forward, or null when TERMINATED. */
export function nextStep(w: World, rng: Rng): Step | null {
  const s = w.state;
  switch (s.control.top) {
    case 'BOOT':
      if (s.boot.state === 'UNINITIALIZED') {
        return P(CAST.operator, 'Boot_ConfigOk', { config_hash: h('cfg') });
      }
      return s.facts.license.status === 'active'
        ? P(CAST.operator, 'Boot_Licensed')
        : F('license', { status: 'active' });
    case 'PROJECT_LIFECYCLE': return lifecycleStep(w, rng);
    case 'EXECUTION': return executionStep(w);
    case 'PAUSED': return P(CAST.operator, 'Control_Resume');
    case 'RECOVERY': return P(CAST.operator, 'Control_RecoveryComplete');
    case 'DEGRADED': return F('license', { status: 'active' });
    case 'QUARANTINED':
      return rng.chance(0.5)
        ? P(CAST.operator, 'Policy_Release', { justification: 'reviewed' })
        : F('policy', { version: s.facts.policy.rules.version + 1, denied_source_patterns: [] });
    default: return null;
  }
}

/** A policy fact with random rules: a denied source, a council cap, or nothing (a relaxation). */
export function policyChange(w: World, rng: Rng): Step {
  return F('policy', {
    version: w.state.facts.policy.rules.version + 1,
    denied_source_patterns: rng.chance(0.5) ? [`git://repo/${rng.int(5)}`] : [],
    max_council_size: rng.chance(0.3) ? 1 : 0,
  });
}

/** An MCP registry observation of repo-tools (pinned at 1.2.0 by the cast genesis). */
export function mcpFact(reachable: boolean, version: string): Step {
  return F('mcp', { tools: [{ name: 'repo-tools', reachable, version }] });
}

/**
 * Control and compensation steps: pause, recovery, quorum lost, index rollback, deprovision,
 * re-elect, eject, grant, tick.
 */
function controlOptions(rng: Rng): Step[] {
  return [
    P(CAST.operator, 'Control_Pause', { reason: 'chaos' }),
    P(CAST.operator, 'Control_EnterRecovery', { reason: 'chaos' }),
    P(CAST.c1, 'Execution_QuorumLost', { reason: 'chaos' }),
    P(CAST.ingest, 'Ingestion_RollbackIndex', { reason: 'chaos' }),
    P(CAST.env, 'Environment_Deprovision', { reason: 'chaos' }),
    P(CAST.operator, 'Council_ReElect', { reason: 'chaos' }),
    // Ejecting a planned member can strand the plan for good; mostly eject the bystander.
    P(CAST.operator, 'Council_Eject', {
      agent: (rng.chance(0.9) ? CAST.c3 : CAST.c2).signer,
      reason: 'chaos',
    }),
    F('tick', {}),
    P(CAST.admin, 'Identity_Grant', {
      identity: CAST.c3.signer,
      roles: [rng.pick(['voter', 'council'])],
    }),
  ];
}

/** A valid control or compensation step (the `control` stream fault). */
export function controlStep(rng: Rng): Step {
  return rng.pick(controlOptions(rng));
}

/**
 * A disruptive but valid single step of any kind: control, compensation, a licence flip, a
 * policy change, an MCP observation or capacity. The `reorder` fault logs one of these
 * before the planned step.
 */
export function disruptiveStep(w: World, rng: Rng): Step {
  const options: Step[] = [
    ...controlOptions(rng),
    F('license', { status: rng.chance(0.5) ? 'revoked' : 'active' }),
    policyChange(w, rng),
    mcpFact(rng.chance(0.5), rng.pick(['1.2.0', '1.3.0'])),
    F('capacity', { cpu_millis: rng.int(10_000), memory_mb: rng.int(10_000), slots: rng.int(3) }),
  ];
  return rng.pick(options);
}
