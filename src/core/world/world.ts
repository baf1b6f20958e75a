/**
 * Many projects in one deployment (contract v2 §1–§7; docs/adr/0002-many-projects.md).
 *
 * The deployment's document holds the identities, the facts, the project registry and the
 * deployment chain's clock and idempotency memory. Each project has its own document (the
 * statechart instance: boot, regions, execution, control, policy, epochs, clock, idem) and its
 * own decision chain. Every WAL entry is decided in exactly one chain:
 *
 *   facts, control proposals (`<prefix>.control.<t>`)          → the deployment chain
 *   `<prefix>.proposals.<project>.<t>` of a registered project  → that project's chain
 *   `<prefix>.proposals.<t>` (v1 subject)                        → the default project's chain
 *   a proposal naming no registered project                      → the deployment chain,
 *                                                                  rejected `unknown_project`
 *
 * A project's decision is a pure function of its document and the deployment's document at
 * that WAL position: the project reads the deployment's identities and facts through a *view*
 * (its document with those two sections swapped in; neither is part of HEAD, so the view
 * hashes as the document does).
 *
 * Facts that change a project's orchestration state (licence revoked → DEGRADED, restored,
 * grace expired, a newer policy that clears the recorded breach) reach the project at its next
 * entry, before that entry is decided: the *catch-up*. Its automatic transitions lead the
 * `applied` list of that entry's record, so every change to a project's document is in the
 * project's own chain, and a fact stays one record in the deployment chain however many
 * projects it touches. Reads show the caught-up view (`view`), so nothing looks stale, and the
 * gates read the deployment's facts directly, so nothing a fact forbids is accepted in between.
 * The grace period runs from the revocation's log time, not from the catch-up. A revocation
 * and a restoration that both fall between two entries of a project leave no trace in it (it
 * never acted while revoked). ADR 0002 §3 weighs this against one effect entry per project.
 */
import type { Chart, TransitionSpec } from '../model/chart-spec.js';
import type { DecideDeps } from '../decide/deps.js';
import type { EvolveDeps } from '../evolve/evolve.js';
import { evolve, evolveEvents } from '../evolve/evolve.js';
import { decide } from '../decide/decide.js';
import { baseOf, factRecorded, rejection } from '../decide/decision.js';
import { isControlTransition } from '../decide/proposal.js';
import { evaluatePolicy } from '../domain/policy.js';
import { projectConfigOf } from '../domain/project.js';
import { assertInvariants } from '../invariants.js';
import { DEFAULT_PROJECT, projectState } from '../genesis.js';
import type { FactsSection, Identities, ProjectRegistry, State } from '../model/state.js';
import type { CoreEvent, Decision, WalEntry } from '../model/types.js';
import type { StateHashes } from '../encoding/merkle.js';
import { isJsonObject, str, type JsonObject } from '../encoding/json.js';

/** The deployment chain's name (`<prefix>.dr._deployment`, `bubble://dr/<i>/_deployment/<n>`). */
export const DEPLOYMENT_CHAIN = '_deployment';

/** The result of deciding one entry in its chain. */
export interface ChainStep {
  /** The chain the entry was decided in: a project id or DEPLOYMENT_CHAIN. */
  readonly chain: string;
  readonly decision: Decision;
  /**
   * The chain's document after the entry as it was decided: for a project, its view with the
   * deployment's identities and facts (so `hashes(state)` equals `post`).
   */
  readonly state: State;
  /** What to keep: a project's stored form (storedForm), or the deployment's document. */
  readonly stored: State;
  /** The chain's document before the entry, as decided on (a project's view). */
  readonly before: State;
  /** Hashes of the chain's document before and after (facts_hash: the deployment's). */
  readonly pre: StateHashes;
  readonly post: StateHashes;
  /** The deployment's document after the entry (the same object unless it changed). */
  readonly deployment: State;
  /** Projects this entry created (an accepted Project_Create), with their first documents. */
  readonly created: readonly { readonly project: string; readonly state: State }[];
}

/** What the world functions need: the core's parts. */
export interface WorldDeps {
  readonly chart: Chart;
  readonly specs: ReadonlyMap<string, TransitionSpec>;
  readonly decideDeps: DecideDeps;
  readonly evolveDeps: EvolveDeps;
  readonly hashes: (s: State) => StateHashes;
  readonly regionOf: (t: string) => string;
  readonly hash: (v: unknown) => string;
}

/** A project's sections that belong to the deployment: empty in the stored form. */
const NO_IDENTITIES: Identities = Object.freeze({});
const NO_PROJECTS: ProjectRegistry = Object.freeze({});

/**
 * The chain an entry is decided in (see the header). Pure; reads only the subject and the
 * registry. On the v1 subject (no project token) a control transition goes to the deployment
 * chain, as v1 producers published everything there.
 */
export function routeOf(deps: WorldDeps, deployment: State, entry: WalEntry): string {
  const scope = entry.scope;
  if (entry.channel === 'fact' || scope === undefined || scope.kind === 'control') {
    return DEPLOYMENT_CHAIN;
  }
  if (scope.project === null && entry.name !== null) {
    const spec = deps.specs.get(entry.name);
    if (spec !== undefined && isControlTransition(spec)) return DEPLOYMENT_CHAIN;
  }
  const project = scope.project ?? DEFAULT_PROJECT;
  return Object.hasOwn(deployment.projects, project) ? project : DEPLOYMENT_CHAIN;
}

/** A project's document as the core decides on it: the deployment's identities and facts in. */
function viewOf(deployment: State, doc: State): State {
  if (doc.identities === deployment.identities && doc.facts === deployment.facts) return doc;
  return { ...doc, identities: deployment.identities, facts: deployment.facts };
}

/** A project's document as stored: the deployment's sections out (they are not its own). */
export function storedForm(doc: State, placeholderFacts: FactsSection): State {
  if (doc.identities === NO_IDENTITIES && doc.facts === placeholderFacts) return doc;
  return { ...doc, identities: NO_IDENTITIES, facts: placeholderFacts, projects: NO_PROJECTS };
}

type Auto = Extract<CoreEvent, { type: 'auto_transition' }>;

function auto(name: string, seq: number, logMs: number, reason: string): Auto {
  return {
    type: 'auto_transition',
    name,
    seq: seq as Auto['seq'],
    log_ms: logMs,
    reason,
    breach: null,
  };
}

/**
 * The automatic transitions a project owes to the deployment's facts at `logMs` (the
 * catch-up), applied one after the other. Empty when the project is up to date.
 */
export function catchUp(
  deps: WorldDeps,
  view: State,
  seq: number,
  logMs: number,
): { readonly state: State; readonly events: readonly Auto[] } {
  const events: Auto[] = [];
  let s = view;
  const fire = (a: Auto): void => {
    events.push(a);
    s = evolveEvents(deps.evolveDeps, s, [a]);
  };
  const activeIn = (name: string): boolean =>
    deps.specs.get(name)?.active_in.includes(s.control.top) ?? false;
  const lic = view.facts.license;
  const since = lic.since_ms ?? logMs;
  const until = since + s.meta.config.license_grace_ms;
  // DEGRADED by an earlier revocation, restored and revoked again since the project last
  // acted: the grace of *this* revocation applies, so restore first, then degrade afresh.
  if (
    lic.status === 'revoked' && s.control.top === 'DEGRADED' &&
    s.control.grace_until_ms !== until
  ) {
    fire(auto('Control_LicenseRestored', seq, logMs, `licence restored before ${since}`));
  }
  if (lic.status === 'revoked' && activeIn('Control_LicenseGrace')) {
    const why = `licence revoked at ${since}; grace until ${until}`;
    fire(auto('Control_LicenseGrace', seq, since, why));
  } else if (lic.status === 'active' && s.control.top === 'DEGRADED') {
    fire(auto('Control_LicenseRestored', seq, logMs, 'licence active again'));
  }
  const c = s.control;
  if (
    c.top === 'DEGRADED' && c.degraded === 'GRACE' && c.grace_until_ms !== null &&
    logMs >= c.grace_until_ms
  ) {
    fire(auto('Control_LicenseExpired', seq, logMs, `grace ended at ${c.grace_until_ms}`));
  }
  const q = s.policy.quarantine;
  const rules = view.facts.policy.rules;
  if (s.control.top === 'QUARANTINED' && q !== null && rules.version > q.breach.policy_version) {
    const b = q.breach;
    const subject = {
      uris: Array.isArray(b.inputs['uris']) ? b.inputs['uris'].map(String) : [],
      council_size: typeof b.inputs['council_size'] === 'number' ? b.inputs['council_size'] : null,
    };
    if (evaluatePolicy(rules, b.transition, subject, b.evidence).length === 0) {
      const why = `policy v${rules.version} clears: ${b.reasons.join('; ')}`;
      fire(auto('Policy_AutoRelease', seq, logMs, why));
    }
  }
  return { state: s, events };
}

/**
 * A project's document as readers see it at the deployment's current position: the view with
 * the catch-up applied at `logMs` (the last entry's log time). What `current_state_hash`
 * should name.
 */
export function projectView(deps: WorldDeps, deployment: State, doc: State, logMs: number): State {
  return catchUp(deps, viewOf(deployment, doc), 0, logMs).state;
}

/** Decide one entry in its chain (`doc`: the project's document; undefined for the deployment). */
export function stepChain(
  deps: WorldDeps,
  deployment: State,
  chain: string,
  doc: State | undefined,
  entry: WalEntry,
  placeholderFacts: FactsSection,
): ChainStep {
  if (chain === DEPLOYMENT_CHAIN) return stepDeployment(deps, deployment, entry, placeholderFacts);
  if (doc === undefined) throw new Error(`stepChain: project ${chain} has no document`);
  const view = viewOf(deployment, doc);
  const pre = deps.hashes(view);
  const up = catchUp(deps, view, entry.seq, entry.log_ms);
  if (up.events.length > 0) {
    const names = up.events.map((e) => e.name);
    const owed = factRecorded(baseOf(entry), 'catch-up', names, up.events);
    assertInvariants(view, owed, up.state, deps.regionOf, deps.hash);
  }
  const d = decide(deps.decideDeps, up.state, entry);
  const next = evolve(deps.evolveDeps, up.state, d);
  assertInvariants(up.state, d, next, deps.regionOf, deps.hash);
  const decision: Decision =
    up.events.length === 0
      ? d
      : {
          ...d,
          applied: [...up.events.map((e) => e.name), ...d.applied],
          events: [...up.events, ...d.events],
          justification: `caught up ${up.events.map((e) => e.name).join(', ')}; ${d.justification}`,
        };
  return {
    chain,
    decision,
    state: next,
    // Nothing changed (a rejection or a duplicate without catch-up): keep the very same document.
    stored: next === view ? doc : storedForm(next, placeholderFacts),
    before: view,
    pre,
    post: deps.hashes(next),
    deployment,
    created: [],
  };
}

function stepDeployment(
  deps: WorldDeps,
  deployment: State,
  entry: WalEntry,
  placeholderFacts: FactsSection,
): ChainStep {
  const pre = deps.hashes(deployment);
  const scope = entry.scope;
  let d: Decision;
  const spec = entry.name === null ? undefined : deps.specs.get(entry.name);
  const v1Control = scope?.kind === 'project' && scope.project === null &&
    spec !== undefined && isControlTransition(spec);
  if (entry.type === 'signed' && scope?.kind === 'project' && !v1Control) {
    // A proposal for a project the registry does not hold: recorded here, nothing applied.
    const named = scope.project ?? DEFAULT_PROJECT;
    d = rejection(
      baseOf(entry),
      'unknown_project',
      `project ${named} is not in the registry; create it with Project_Create ` +
      '(swoosh project create) or publish to a project that exists',
    );
  } else {
    d = decide(deps.decideDeps, deployment, entry);
  }
  const next = evolve(deps.evolveDeps, deployment, d);
  assertInvariants(deployment, d, next, deps.regionOf, deps.hash);
  const created: { project: string; state: State }[] = [];
  for (const ev of d.events) {
    if (ev.type !== 'transition_applied' || ev.name !== 'Project_Create') continue;
    const inputs: JsonObject = isJsonObject(ev.inputs) ? ev.inputs : {};
    const id = str(inputs, 'project');
    const cfg = projectConfigOf(deps.chart, deployment.meta.config, inputs);
    if (!cfg.ok) throw new Error(`world: Project_Create passed its guard with ${cfg.message}`);
    const doc = projectState(
      deps.decideDeps.hasher, deps.chart, next, id, cfg.config, placeholderFacts,
    );
    created.push({ project: id, state: storedForm(doc, placeholderFacts) });
  }
  return {
    chain: DEPLOYMENT_CHAIN,
    decision: d,
    state: next,
    stored: next,
    before: deployment,
    pre,
    post: deps.hashes(next),
    deployment: next,
    created,
  };
}
