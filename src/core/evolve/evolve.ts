/**
 * evolve(state, decision) → state. Total and pure: applies a decision's events in order and
 * returns a new state that shares every section it did not replace. Rejections and duplicates
 * carry no events, so evolve returns the very same object for them.
 *
 * Each applied transition (proposed or automatic) does two things: the generic part from the
 * chart (local state `to`, top configuration `top`, history, epoch of its region, applied
 * count), then its own data effect, an exhaustive switch over the generated TransitionName
 * union with no default, so a transition added to the chart without an effect fails to compile.
 */
import { planCouncil } from '../domain/council.js';
import type { Chart, TransitionSpec } from '../model/chart-spec.js';
import type { TransitionName } from '../generated/chart.js';
import type { Hasher } from '../encoding/hash.js';
import { parseHlc } from '../model/hlc.js';
import { idemAppend, idemBodyKey } from '../decide/idem.js';
import { str, type JsonObject } from '../encoding/json.js';
import type {
  ControlSection,
  ExecutionPins,
  Identities,
  ProjectEntry,
  ProjectRegistry,
  State,
} from '../model/state.js';
import { projectConfigOf } from '../domain/project.js';
import { rotateWriters } from '../domain/writers.js';
import type { CoreEvent, Decision, PolicyBreach } from '../model/types.js';
import { assertNever } from '../model/never.js';

/** Deepest history stack the chart allows (PAUSED in RECOVERY, DEGRADED, QUARANTINED). */
export const HISTORY_MAX = 4;

/** What evolve needs besides the state and the decision. */
export interface EvolveDeps {
  readonly chart: Chart;
  readonly specs: ReadonlyMap<string, TransitionSpec>;
  readonly hasher: Hasher;
  /** `sha256-<hex>` of the JCS form of a value. */
  readonly hash: (value: unknown) => string;
}

/** Apply a decision. */
export function evolve(deps: EvolveDeps, state: State, decision: Decision): State {
  return evolveEvents(deps, state, decision.events);
}

/** Apply events in order (a decision's, or a project's catch-up before its entry). */
export function evolveEvents(deps: EvolveDeps, state: State, events: readonly CoreEvent[]): State {
  let s = state;
  for (const ev of events) s = apply(deps, s, ev);
  return s;
}

function apply(deps: EvolveDeps, s: State, ev: CoreEvent): State {
  switch (ev.type) {
    case 'proposal_recorded':
      return recordProposal(deps, s, ev);
    case 'transition_applied':
      return effect(
        deps,
        generic(deps, s, ev.name, ev.log_ms),
        ev.name as TransitionName,
        ev,
        null,
      );
    case 'auto_transition':
      return effect(
        deps,
        generic(deps, s, ev.name, ev.log_ms),
        ev.name as TransitionName,
        null,
        ev,
      );
    case 'fact_recorded':
      return { ...s, facts: { ...s.facts, [ev.kind]: ev.value } };
  }
  return assertNever(ev, 'event');
}

function recordProposal(
  deps: EvolveDeps,
  s: State,
  ev: Extract<CoreEvent, { type: 'proposal_recorded' }>,
): State {
  const hlc = parseHlc(ev.hlc);
  if (!hlc.ok) throw new Error(`evolve: decided proposal carries a bad hlc ${ev.hlc}`);
  const cfg = s.meta.config;
  return {
    ...s,
    clock: {
      ...s.clock,
      hlc_last: ev.hlc,
      hlc_last_signer: ev.signer,
      hlc_last_idem_key: ev.idem_key,
    },
    idem: idemAppend(
      deps.hasher,
      s.idem,
      {
        idem_key: ev.idem_key, wal_seq: ev.seq, outcome: ev.outcome, hlc_ms: hlc.hlc.ms,
        body_key: idemBodyKey(ev.transition, ev.inputs_hash),
      },
      { retentionMs: cfg.idem_retention_ms, max: cfg.idem_max },
    ),
  };
}

/** The chart-driven part of every transition. */
function generic(deps: EvolveDeps, s: State, name: string, _logMs: number): State {
  const spec = deps.specs.get(name);
  if (spec === undefined) throw new Error(`evolve: unknown transition ${name}`);
  let next: State = {
    ...s,
    epochs: { ...s.epochs, [spec.region]: (s.epochs[spec.region] ?? 0) + 1 },
    clock: { ...s.clock, applied_count: s.clock.applied_count + 1 },
  };
  if (spec.to !== undefined) next = withRegionState(next, spec.region, spec.to);
  if (spec.top !== undefined) next = { ...next, control: moveTop(deps, next, spec) };
  return next;
}

function withRegionState(s: State, region: string, to: string): State {
  switch (region) {
    case 'boot': return { ...s, boot: { ...s.boot, state: to } };
    case 'ingestion': return { ...s, ingestion: { ...s.ingestion, state: to } };
    case 'council': return { ...s, council: { ...s.council, state: to } };
    case 'environment': return { ...s, environment: { ...s.environment, state: to } };
    case 'execution': return { ...s, execution: { ...s.execution, state: to } };
    default: throw new Error(`evolve: region ${region} has no local state`);
  }
}

/** True when some transition leaves `top` through `$history`. */
function hasHistoryExit(deps: EvolveDeps, top: string): boolean {
  return deps.chart.transitions.some((t) => t.top === '$history' && t.active_in.includes(top));
}

/**
 * True when EXECUTION may be (re-)entered: every lifecycle region READY and the pins recorded
 * at Lifecycle_AllReady still equal to what the regions hold.
 */
export function executionHolds(s: State): boolean {
  const p = s.execution.pins;
  return (
    p !== null &&
    s.ingestion.state === 'READY' &&
    s.council.state === 'READY' &&
    s.environment.state === 'READY' &&
    p.content_hash === s.ingestion.content_hash &&
    p.ingestion_version === s.ingestion.version &&
    p.member_set_hash === s.council.member_set_hash &&
    p.env_version === s.environment.env_version
  );
}

/** Why a return to EXECUTION was redirected to RECOVERY. */
export const EXECUTION_REDIRECT_REASON =
  'the lifecycle changed while away from EXECUTION (a compensation ran); recover and re-pin';

function moveTop(deps: EvolveDeps, s: State, spec: TransitionSpec): ControlSection {
  const c = s.control;
  const target = spec.top as string;
  if (target === '$history') {
    const saved = c.history[c.history.length - 1];
    if (saved === undefined) throw new Error(`evolve: ${spec.name} with an empty history`);
    // Compensations may run in DEGRADED: returning to EXECUTION must not skip its entry guard.
    const redirect = saved === 'EXECUTION' && !executionHolds(s);
    const left = c.top;
    return {
      ...c, top: redirect ? 'RECOVERY' : saved, history: c.history.slice(0, -1),
      degraded: left === 'DEGRADED' ? null : c.degraded,
      grace_until_ms: left === 'DEGRADED' ? null : c.grace_until_ms,
      reason: redirect ? EXECUTION_REDIRECT_REASON : c.reason,
    };
  }
  if (target === 'TERMINATED') return { ...c, top: target, history: [], degraded: null };
  if (target === c.top) return c;
  const push = hasHistoryExit(deps, target);
  return { ...c, top: target, history: push ? [...c.history, c.top] : c.history };
}

type Applied = Extract<CoreEvent, { type: 'transition_applied' }> | null;
type Auto = Extract<CoreEvent, { type: 'auto_transition' }> | null;

const sortedUnique = (xs: readonly string[]): string[] => [...new Set(xs)].sort();

function inputsOf(ev: Applied): JsonObject {
  if (ev === null) throw new Error('evolve: proposed transition without its inputs');
  return ev.inputs;
}

/** The data effect of each transition, beyond the generic part. */
function effect(deps: EvolveDeps, s: State, name: TransitionName, ev: Applied, au: Auto): State {
  switch (name) {
    case 'Boot_ConfigOk':
      return { ...s, boot: { ...s.boot, config_hash: str(inputsOf(ev), 'config_hash') } };
    case 'Boot_Licensed':
      return { ...s, boot: { ...s.boot, licensed_at_ms: ev?.log_ms ?? null } };
    case 'Ingestion_SourcesResolved':
    case 'Ingestion_BytesOk':
    case 'Ingestion_SchemaOk':
    case 'Ingestion_CorpusBuilt':
    case 'Ingestion_RollbackIndex':
      return ingestionEffect(s, name, inputsOf(ev));
    case 'Council_ProfilesLoaded':
    case 'Council_QuorumCert':
    case 'Council_McpGreen':
    case 'Council_Eject':
    case 'Council_ReElect':
      return councilEffect(deps, s, name, inputsOf(ev), ev?.log_ms ?? 0);
    case 'Environment_CapacityOk':
    case 'Environment_Installed':
    case 'Environment_Green':
    case 'Environment_Amber':
    case 'Environment_Recheck':
    case 'Environment_Deprovision':
      return environmentEffect(s, name, inputsOf(ev));
    case 'Lifecycle_AllReady': {
      const pins = inputsOf(ev)['pins'] as unknown as ExecutionPins;
      return {
        ...s,
        execution: {
          ...s.execution, state: 'PLAN', pins: { ...pins }, window_id: null, plan_hash: null,
          work_hash: null, approvals: [],
        },
      };
    }
    case 'Execution_PlanLocked':
    case 'Execution_BeatReviewGate':
    case 'Execution_SubmitApproval':
    case 'Execution_ApprovalsThreshold':
    case 'Execution_NextWindow':
    case 'Execution_QuorumLost':
      return executionEffect(s, name, ev);
    case 'Control_Pause':
    case 'Control_EnterRecovery':
    case 'Control_Terminate':
      return { ...s, control: { ...s.control, reason: str(inputsOf(ev), 'reason') } };
    case 'Control_Resume':
      if (s.control.reason === EXECUTION_REDIRECT_REASON) return s;
      return { ...s, control: { ...s.control, reason: null } };
    case 'Control_RecoveryComplete':
      return { ...s, control: { ...s.control, reason: null } };
    case 'Control_LicenseGrace':
      return {
        ...s,
        control: {
          ...s.control, degraded: 'GRACE',
          grace_until_ms: (au?.log_ms ?? 0) + s.meta.config.license_grace_ms,
        },
      };
    case 'Control_LicenseExpired':
      return { ...s, control: { ...s.control, degraded: 'HARD_STOP' } };
    case 'Control_LicenseRestored':
      return s;
    case 'Policy_Quarantine':
      return quarantineEffect(s, au);
    case 'Policy_Release':
    case 'Policy_AutoRelease':
      return { ...s, policy: { ...s.policy, quarantine: null, releases: s.policy.releases + 1 } };
    case 'Policy_ConfirmedBlock':
      return { ...s, control: { ...s.control, reason: str(inputsOf(ev), 'justification') } };
    case 'Identity_Grant':
    case 'Identity_Revoke':
      return { ...s, identities: identityEffect(s.identities, name, inputsOf(ev)) };
    case 'Writer_Rotate': {
      const i = inputsOf(ev);
      const list = (k: string): string[] =>
        (Array.isArray(i[k]) ? (i[k] as unknown[]).map(String) : []);
      return { ...s, identities: rotateWriters(s.identities, list('add'), list('remove')) };
    }
    case 'Project_Create':
      return { ...s, projects: projectEffect(deps, s, inputsOf(ev), ev?.seq ?? 0) };
  }
  return assertNever(name, 'transition');
}

/** Add a project to the registry, keeping it sorted by id (the guard checked it is new). */
function projectEffect(deps: EvolveDeps, s: State, i: JsonObject, seq: number): ProjectRegistry {
  const cfg = projectConfigOf(deps.chart, s.meta.config, i);
  if (!cfg.ok) throw new Error(`evolve: Project_Create passed its guard with ${cfg.message}`);
  const id = str(i, 'project');
  const out: Record<string, ProjectEntry> = {};
  for (const k of [...Object.keys(s.projects), id].sort()) {
    out[k] = k === id
      ? { created_seq: seq, config_hash: deps.hash(cfg.config) }
      : (s.projects[k] as ProjectEntry);
  }
  return out;
}

function ingestionEffect(s: State, name: TransitionName, i: JsonObject): State {
  const g = s.ingestion;
  switch (name) {
    case 'Ingestion_SourcesResolved': {
      const sources = (i['sources'] as readonly JsonObject[]).map((x) => ({
        uri: str(x, 'uri'), kind: typeof x['kind'] === 'string' ? x['kind'] : null,
      }));
      return { ...s, ingestion: { ...g, sources } };
    }
    case 'Ingestion_BytesOk':
      return {
        ...s,
        ingestion: {
          ...g,
          manifest_hash: str(i, 'manifest_hash'),
          bytes_total: i['bytes_total'] as number,
        },
      };
    case 'Ingestion_SchemaOk':
      return {
        ...s,
        ingestion: {
          ...g, schema_version: str(i, 'schema_version'),
          validation: { checked: i['checked'] as number, failed: i['failed'] as number },
        },
      };
    case 'Ingestion_CorpusBuilt':
      return {
        ...s,
        ingestion: { ...g, content_hash: str(i, 'content_hash'), version: str(i, 'version') },
      };
    default: // Ingestion_RollbackIndex
      return {
        ...s,
        ingestion: { ...g, content_hash: null, version: null, rollbacks: g.rollbacks + 1 },
      };
  }
}

function councilEffect(
  deps: EvolveDeps,
  s: State,
  name: TransitionName,
  i: JsonObject,
  logMs: number,
): State {
  const c = s.council;
  const cleared = {
    members: [],
    member_set_hash: null,
    quorum_cert: null,
    tooling_green_at_ms: null,
  };
  switch (name) {
    case 'Council_ProfilesLoaded': {
      const plan = planCouncil(
        i['required_roles'] as readonly string[],
        i['candidates'] as unknown as Parameters<typeof planCouncil>[1],
        c.ejected,
      );
      return { ...s, council: { ...c, plan } };
    }
    case 'Council_QuorumCert': {
      const members = sortedUnique(i['members'] as readonly string[]);
      const voters = sortedUnique(
        (i['votes'] as readonly JsonObject[]).map((v) => str(v, 'voter')),
      );
      const msh = deps.hash(members);
      return {
        ...s,
        council: {
          ...c,
          members,
          member_set_hash: msh,
          quorum_cert: { term: i['term'] as number, member_set_hash: msh, voters },
        },
      };
    }
    case 'Council_McpGreen':
      return { ...s, council: { ...c, tooling_green_at_ms: logMs } };
    case 'Council_Eject': {
      const ejected = sortedUnique([...c.ejected, str(i, 'agent')]);
      const plan =
        c.plan === null ? null : planCouncil(c.plan.required_roles, c.plan.candidates, ejected);
      const state = plan !== null && plan.unmatched_roles.length === 0 ? 'ELECT' : 'PLAN_ROLES';
      return { ...s, council: { ...c, ...cleared, state, ejected, plan, term: c.term + 1 } };
    }
    default: // Council_ReElect
      return { ...s, council: { ...c, ...cleared, term: c.term + 1 } };
  }
}

function environmentEffect(s: State, name: TransitionName, i: JsonObject): State {
  const e = s.environment;
  switch (name) {
    case 'Environment_CapacityOk':
      return {
        ...s,
        environment: {
          ...e,
          allocation: {
            cpu_millis: i['cpu_millis'] as number,
            memory_mb: i['memory_mb'] as number,
            slots: i['slots'] as number,
          },
        },
      };
    case 'Environment_Installed':
      return {
        ...s,
        environment: {
          ...e,
          assets: sortedUnique(i['assets'] as readonly string[]),
          env_version: str(i, 'env_version'),
        },
      };
    case 'Environment_Green':
      return {
        ...s,
        environment: {
          ...e,
          health: { checks_passed: i['checks_passed'] as number },
          amber_reasons: [],
        },
      };
    case 'Environment_Amber':
      return {
        ...s,
        environment: { ...e, amber_reasons: [...(i['reasons'] as readonly string[])] },
      };
    case 'Environment_Recheck':
      return s;
    default: // Environment_Deprovision
      return {
        ...s,
        environment: {
          ...e,
          allocation: null,
          assets: [],
          env_version: null,
          health: null,
          amber_reasons: [],
        },
      };
  }
}

function executionEffect(s: State, name: TransitionName, ev: Applied): State {
  const x = s.execution;
  const i = inputsOf(ev);
  switch (name) {
    case 'Execution_PlanLocked':
      return {
        ...s,
        execution: {
          ...x,
          plan_hash: str(i, 'plan_hash'),
          window_id: ev?.window_id ?? null,
          work_hash: null,
          approvals: [],
        },
      };
    case 'Execution_BeatReviewGate':
      return { ...s, execution: { ...x, work_hash: str(i, 'work_hash'), approvals: [] } };
    case 'Execution_SubmitApproval':
      return {
        ...s,
        execution: { ...x, approvals: sortedUnique([...x.approvals, ev?.signer ?? '']) },
      };
    case 'Execution_ApprovalsThreshold':
      return s;
    case 'Execution_NextWindow':
      return {
        ...s,
        execution: { ...x, loop: x.loop + 1, plan_hash: null, work_hash: null, approvals: [] },
      };
    default: {
      // Execution_QuorumLost: the council must be re-elected before execution resumes.
      const c = s.council;
      return {
        ...s,
        execution: { ...x, pins: null, plan_hash: null, work_hash: null, approvals: [] },
        council: {
          ...c, state: 'ELECT', members: [], member_set_hash: null, quorum_cert: null,
          tooling_green_at_ms: null, term: c.term + 1,
        },
      };
    }
  }
}

function quarantineEffect(s: State, au: Auto): State {
  if (au === null || au.breach === null) {
    throw new Error('evolve: Policy_Quarantine without its breach');
  }
  const breach: PolicyBreach = au.breach;
  return {
    ...s,
    policy: {
      ...s.policy,
      quarantine: { since_seq: au.seq, rationale: au.reason, breach },
      quarantines: s.policy.quarantines + 1,
    },
  };
}

/**
 * Grant adds roles (creating the identity); `projects`, when given, sets the projects its roles
 * are limited to, and when absent leaves the scope as it was (a new identity: unlimited).
 * Revoke removes roles; an identity left with none is gone.
 */
function identityEffect(ids: Identities, name: TransitionName, i: JsonObject): Identities {
  type Entry = Identities[string];
  const who = str(i, 'identity');
  const roles = i['roles'] as readonly string[];
  const had = ids[who];
  const have = had?.roles ?? [];
  const next = name === 'Identity_Grant'
    ? sortedUnique([...have, ...roles])
    : have.filter((r) => !roles.includes(r));
  const given = name === 'Identity_Grant' && Array.isArray(i['projects'])
    ? sortedUnique(i['projects'] as readonly string[])
    : had?.projects;
  const out: Record<string, Entry> = {};
  for (const k of Object.keys(ids)) {
    if (k !== who) out[k] = ids[k] as Entry;
  }
  const notAfter = name === 'Identity_Grant' && typeof i['not_after_ms'] === 'number'
    ? i['not_after_ms']
    : had?.not_after_ms;
  if (next.length > 0) {
    out[who] = {
      roles: next,
      ...(given === undefined ? {} : { projects: given }),
      ...(notAfter === undefined ? {} : { not_after_ms: notAfter }),
    };
  }
  const sorted: Record<string, Entry> = {};
  for (const k of Object.keys(out).sort()) sorted[k] = out[k] as Entry;
  return sorted;
}
