/**
 * decide(state, entry) → Decision. Pure and synchronous. The order of checks is fixed by
 * ARCHITECTURE §3 and the first failure wins:
 *
 *   1 envelope/schema  2 signature  3 signer authorized  4 idem key already accepted
 *   5 HLC after last accepted and not too far ahead  6 quarantine / licence gates
 *   7 allowed from the current configuration  8 optimistic concurrency  9 guards in chart
 *   order  10 accept
 *
 * Facts follow the same order with their own steps (decideFact).
 */
import type { TransitionSpec } from '../model/chart-spec.js';
import type { RejectionCode } from '../model/codes.js';
import {
  accepted,
  baseOf,
  duplicate,
  expiredMessage,
  guardRejection,
  passed,
  quarantined,
  rejection,
  type DecisionBase,
} from './decision.js';
import { decideFact } from './decide-fact.js';
import type { GuardContext } from '../guards/contract.js';
import type { DecideDeps } from './deps.js';
import { hashTargetOf } from './hash-target.js';
import { hashJcs } from '../encoding/hash.js';
import { compareStamp, parseHlc, type Hlc } from '../model/hlc.js';
import { idemBodyKey, idemLookup } from './idem.js';
import type { JsonObject } from '../encoding/json.js';
import { parseProposal } from './proposal.js';
import { expiredAt, proposalAgeMaxOf, rolesIn, type State } from '../model/state.js';
import type { CoreEvent, Decision, GuardOutcome, Proposal, WalEntry } from '../model/types.js';

/** Decide one WAL entry. Never throws on bad input: bad input is a rejection. */
export function decide(deps: DecideDeps, state: State, entry: WalEntry): Decision {
  if (entry.type === 'malformed') {
    return rejection(baseOf(entry), 'malformed_envelope', `${entry.code}: ${entry.message}`);
  }
  const d =
    entry.channel === 'fact' ? decideFact(deps, state, entry) : decideProposal(deps, state, entry);
  return d.applied.some((t) => deps.specs.get(t)?.snapshot === true) ? { ...d, snapshot: true } : d;
}

type Signed = Extract<WalEntry, { type: 'signed' }>;

function decideProposal(deps: DecideDeps, state: State, entry: Signed): Decision {
  const parsed = parseProposal(deps, entry, state.meta.project);
  if (!parsed.ok) return rejection(baseOf(entry), parsed.code, parsed.message);
  const { proposal, spec, hlc } = parsed;
  // Passed checks are appended to one array; the base is only copied when a decision is made.
  const outcomes: GuardOutcome[] = [passed('schema')];
  const base = baseOf(entry, {
    transition: proposal.transition,
    region: spec.region,
    signer: proposal.signer,
    idem_key: proposal.idem_key,
    hlc: proposal.hlc,
    window_id: proposal.window_id,
    inputs_hash: proposal.inputs_hash,
    evidence: proposal.evidence,
    guard_outcomes: outcomes,
  });
  const reject = (code: RejectionCode, message: string): Decision =>
    rejection({ ...base, guard_outcomes: outcomes.slice() }, code, message);
  if (!entry.sig) {
    return reject('bad_signature', `signature does not verify for ${proposal.signer}`);
  }
  outcomes.push(passed('signature'));
  const identity = state.identities[proposal.signer];
  if (identity === undefined) {
    return reject('unknown_signer', `${proposal.signer} is not registered`);
  }
  if (expiredAt(identity, entry.log_ms)) {
    return reject('identity_expired', expiredMessage(proposal.signer, identity.not_after_ms));
  }
  const roles = rolesIn(identity, state.meta.project);
  if (!spec.roles.some((r) => roles.includes(r))) {
    const scoped = identity.projects === undefined
      ? ''
      : ` (its roles are limited to projects [${identity.projects.join(', ')}])`;
    return reject(
      'unauthorized_role',
      `${spec.name} needs one of [${spec.roles.join(', ')}]; signer has ` +
      `[${roles.join(', ')}]${scoped}`,
    );
  }
  outcomes.push(passed('authorization'));
  const seen = idemLookup(state.idem, proposal.idem_key);
  const bodyKey = idemBodyKey(proposal.transition, proposal.inputs_hash);
  if (seen !== undefined && seen.body_key !== bodyKey) {
    return reject(
      'idem_conflict',
      `idem_key ${proposal.idem_key} was accepted at WAL seq ${seen.wal_seq} for ` +
      `${seen.body_key}, not ${bodyKey}; a retry must repeat the same request, a new request ` +
      'needs a new key',
    );
  }
  if (seen !== undefined) {
    return duplicate({ ...base, guard_outcomes: outcomes.slice() }, seen.wal_seq, seen.outcome);
  }
  outcomes.push(passed('idempotency'));
  const hlcProblem = checkHlc(state, proposal, hlc, entry.log_ms);
  if (hlcProblem !== null) return reject(hlcProblem[0], hlcProblem[1]);
  outcomes.push(passed('hlc'));
  const gate = checkGates(state, spec, entry.log_ms);
  if (gate !== null) return reject(gate[0], gate[1]);
  outcomes.push(passed('gate'));
  const phase = checkPhase(state, spec);
  if (phase !== null) return reject('invalid_phase', phase);
  outcomes.push(passed('phase'));
  const stale = checkConcurrency(deps, state, spec, proposal);
  if (stale !== null) return reject('stale_state_hash', stale);
  outcomes.push(passed('concurrency'));
  return runGuards(deps, state, entry, base, proposal, spec);
}

function checkHlc(
  state: State,
  p: Proposal,
  hlc: Hlc,
  logMs: number,
): ['hlc_regression' | 'hlc_too_far_ahead' | 'hlc_too_old', string] | null {
  const c = state.clock;
  if (c.hlc_last !== null) {
    const last = parseHlc(c.hlc_last);
    if (!last.ok) throw new Error(`state corrupt: clock.hlc_last ${c.hlc_last}`);
    const prev = {
      hlc: last.hlc,
      signer: c.hlc_last_signer ?? '',
      idem_key: c.hlc_last_idem_key ?? '',
    };
    if (compareStamp({ hlc, signer: p.signer, idem_key: p.idem_key }, prev) <= 0) {
      return ['hlc_regression', `hlc ${p.hlc} is not after the last accepted ${c.hlc_last}`];
    }
  }
  const skew = state.meta.config.max_clock_skew_ms;
  if (hlc.ms > logMs + skew) {
    return [
      'hlc_too_far_ahead',
      `hlc ${p.hlc} is ${hlc.ms - logMs} ms ahead of log time (max ${skew})`,
    ];
  }
  const age = proposalAgeMaxOf(state.meta.config);
  if (hlc.ms < logMs - age) {
    return [
      'hlc_too_old',
      `hlc ${p.hlc} is ${logMs - hlc.ms} ms behind log time (max ${age}); sign the request ` +
      'again with a current HLC and a new idem_key',
    ];
  }
  return null;
}

/** Quarantine, termination and licence gates. */
function checkGates(
  state: State,
  spec: TransitionSpec,
  logMs: number,
):
  | [
      'in_quarantine' | 'terminated' | 'not_licensed' | 'license_degraded' | 'license_expired',
      string,
    ]
  | null {
  const top = state.control.top;
  if (top === 'TERMINATED') return ['terminated', 'the machine is TERMINATED'];
  if (top === 'QUARANTINED' && !spec.active_in.includes('QUARANTINED')) {
    const why = state.policy.quarantine?.rationale ?? '';
    return ['in_quarantine', `QUARANTINED (${why}); only release or confirmed block apply`];
  }
  if (top === 'BOOT' && spec.region !== 'boot' && !spec.active_in.includes('BOOT')) {
    return ['not_licensed', `${spec.name} cannot run before the licence check passed`];
  }
  if (top === 'DEGRADED') {
    const expired =
      state.control.degraded === 'HARD_STOP' ||
      (state.control.grace_until_ms !== null && logMs >= state.control.grace_until_ms);
    if (expired && spec.name !== 'Control_Terminate') {
      return ['license_expired', 'licence grace period is over; only Control_Terminate applies'];
    }
    if (!spec.active_in.includes('DEGRADED')) {
      return ['license_degraded', `licence revoked; ${spec.name} waits until it is restored`];
    }
  }
  return null;
}

function checkPhase(state: State, spec: TransitionSpec): string | null {
  const top = state.control.top;
  if (!spec.active_in.includes(top)) {
    return `${spec.name} is allowed in [${spec.active_in.join(', ')}], machine is in ${top}`;
  }
  if (spec.from.length === 0) return null;
  const local = regionState(state, spec.region);
  if (local === null || !spec.from.includes(local)) {
    return `${spec.name} fires from ${spec.region} [${spec.from.join(', ')}], region is in ` +
      `${local ?? '-'}`;
  }
  return null;
}

/** The local state of a region with states, or null. */
export function regionState(state: State, region: string): string | null {
  switch (region) {
    case 'boot': return state.boot.state;
    case 'ingestion': return state.ingestion.state;
    case 'council': return state.council.state;
    case 'environment': return state.environment.state;
    case 'execution': return state.execution.state;
    default: return null;
  }
}

function checkConcurrency(
  deps: DecideDeps,
  state: State,
  spec: TransitionSpec,
  p: Proposal,
): string | null {
  if (spec.coordination === 'monotone') return null;
  const target = hashTargetOf(spec);
  const expected =
    target === 'head' ? deps.stateHasher.head(state) : deps.stateHasher.section(state, target);
  if (p.current_state_hash === expected) return null;
  const what = target === 'head' ? 'HEAD' : `${spec.region} region hash`;
  return `current_state_hash ${p.current_state_hash} is not the ${what} ${expected}`;
}

function runGuards(
  deps: DecideDeps,
  state: State,
  entry: Signed,
  base: DecisionBase,
  proposal: Proposal,
  spec: TransitionSpec,
): Decision {
  const ctx: GuardContext = {
    state,
    proposal,
    spec,
    chart: deps.chart,
    log_ms: entry.log_ms,
    embedded: entry.embedded,
    hash: (v) => hashJcs(deps.hasher, v),
  };
  const outcomes: GuardOutcome[] = [...base.guard_outcomes];
  const reasons: string[] = [];
  for (const id of spec.guards) {
    const guard = deps.guards[id];
    if (guard === undefined) throw new Error(`chart names guard ${id} without a provider`);
    const v = guard(ctx);
    outcomes.push({ guard: id, ok: v.ok, code: v.ok ? null : v.code, reasons: v.reasons });
    if (v.ok) {
      reasons.push(...v.reasons.map((r) => `${id}: ${r}`));
      continue;
    }
    const failedBase = { ...base, guard_outcomes: outcomes };
    if (v.breach !== undefined) {
      return quarantine(failedBase, state, entry, proposal, v.reasons, v.breach);
    }
    return guardRejection(failedBase, id, v.code, v.reasons.join('; '));
  }
  const events: CoreEvent[] = [
    recorded(entry, proposal, 'accepted'),
    {
      type: 'transition_applied',
      name: spec.name,
      inputs: proposal.inputs,
      signer: proposal.signer,
      seq: entry.seq,
      log_ms: entry.log_ms,
      window_id: proposal.window_id,
    },
  ];
  const why = reasons.length > 0 ? reasons.join('; ') : 'no guards';
  return accepted({ ...base, guard_outcomes: outcomes }, spec.name, why, events);
}

function recorded(entry: Signed, p: Proposal, outcome: 'accepted' | 'quarantined'): CoreEvent {
  return {
    type: 'proposal_recorded', seq: entry.seq, signer: p.signer, idem_key: p.idem_key, hlc: p.hlc,
    outcome, transition: p.transition, inputs_hash: p.inputs_hash,
  };
}

function quarantine(
  base: DecisionBase,
  state: State,
  entry: Signed,
  p: Proposal,
  reasons: readonly string[],
  breach: { rule: string; subject: JsonObject },
): Decision {
  const rationale = `${p.transition} breached policy v${state.facts.policy.rules.version}: ` +
    `${reasons.join('; ')}`;
  const events: CoreEvent[] = [
    recorded(entry, p, 'quarantined'),
    {
      type: 'auto_transition',
      name: 'Policy_Quarantine',
      seq: entry.seq,
      log_ms: entry.log_ms,
      reason: rationale,
      breach: {
        transition: p.transition,
        signer: p.signer,
        inputs: breach.subject,
        evidence: p.evidence,
        rule: breach.rule,
        reasons,
        policy_version: state.facts.policy.rules.version,
      },
    },
  ];
  return quarantined(base, reasons.join('; '), rationale, events);
}
