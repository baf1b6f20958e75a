/**
 * Building decisions. Every WAL entry gets exactly one; these helpers keep their shape
 * uniform so decision records (and their hashes) never depend on which path produced them.
 */
import { REJECTION_CODES, type RejectionCode } from '../model/codes.js';
import type { CoreEvent, Decision, GuardOutcome, WalEntry } from '../model/types.js';
import { formatIsoUtcMs } from '../model/hlc.js';

/** Fields common to every decision about an entry, before the verdict. */
export type DecisionBase = Omit<
  Decision,
  | 'outcome'
  | 'code'
  | 'message'
  | 'failing_guard'
  | 'justification'
  | 'original'
  | 'applied'
  | 'events'
>;

/** The base of a decision about `entry`, with what is known of it so far. */
export function baseOf(entry: WalEntry, known: Partial<DecisionBase> = {}): DecisionBase {
  return {
    seq: entry.seq,
    log_ms: entry.log_ms,
    channel: entry.channel,
    transition: entry.name,
    region: null,
    signer: null,
    idem_key: null,
    hlc: null,
    window_id: null,
    inputs_hash: null,
    evidence: [],
    guard_outcomes: [],
    ...known,
  };
}

const passCache = new Map<string, GuardOutcome>();

/** A passing outcome of a fixed check (shared, immutable). */
export function passed(check: string): GuardOutcome {
  let o = passCache.get(check);
  if (o === undefined) {
    o = Object.freeze({ guard: check, ok: true, code: null, reasons: Object.freeze([]) });
    passCache.set(check, o);
  }
  return o;
}

/** The verdict half of a decision: what every builder below fills in. */
type Verdict = Omit<Decision, keyof DecisionBase>;

/** The one place a Decision object is assembled: the base, then the verdict's fields. */
function decision(base: DecisionBase, v: Verdict): Decision {
  return {
    ...base,
    outcome: v.outcome,
    code: v.code,
    message: v.message,
    failing_guard: v.failing_guard,
    justification: v.justification,
    original: v.original,
    applied: v.applied,
    events: v.events,
  };
}

/** A verdict that applies nothing: its outcome, code, message and failing check. */
function inert(
  outcome: Decision['outcome'],
  code: string | null,
  message: string | null,
  failing: string | null,
): Pick<Verdict, 'outcome' | 'code' | 'message' | 'failing_guard' | 'applied' | 'events'> {
  return { outcome, code, message, failing_guard: failing, applied: [], events: [] };
}

/** A rejection: the failing check (or guard) is named, with its code and reasons. */
export function rejection(
  base: DecisionBase,
  code: RejectionCode,
  message: string,
  reasons: readonly string[] = [message],
): Decision {
  const guard = REJECTION_CODES[code][0];
  const failed: GuardOutcome = { guard, ok: false, code, reasons };
  const outcomes = [...base.guard_outcomes, failed];
  return guardRejection({ ...base, guard_outcomes: outcomes }, guard, code, message);
}

/** A rejection by a guard whose failing outcome is already last in `base.guard_outcomes`. */
export function guardRejection(
  base: DecisionBase,
  guard: string,
  code: string,
  message: string,
): Decision {
  return decision(base, {
    ...inert('rejected', code, message, guard),
    justification: `rejected by ${guard}: ${code}: ${message}`,
    original: null,
  });
}

/** A re-sent idem key: the original decision stands and nothing is applied. */
export function duplicate(
  base: DecisionBase,
  walSeq: number,
  outcome: 'accepted' | 'quarantined',
): Decision {
  const message = `idem_key already decided at WAL seq ${walSeq} (${outcome})`;
  return decision(base, {
    ...inert('duplicate', null, message, null),
    justification: `duplicate of WAL seq ${walSeq}: the original decision stands`,
    original: { wal_seq: walSeq, outcome },
  });
}

/** An accepted proposal for `transition`, with why its guards passed. */
export function accepted(
  base: DecisionBase,
  transition: string,
  why: string,
  events: readonly CoreEvent[],
): Decision {
  return decision(base, {
    ...inert('accepted', null, null, null),
    justification: `${transition} accepted: ${why}`,
    original: null,
    applied: [transition],
    events,
  });
}

/** A policy breach: the proposal is recorded and the machine quarantines. */
export function quarantined(
  base: DecisionBase,
  message: string,
  rationale: string,
  events: readonly CoreEvent[],
): Decision {
  return decision(base, {
    ...inert('quarantined', 'policy_breach', message, 'policy'),
    justification: `quarantined: ${rationale}`,
    original: null,
    applied: ['Policy_Quarantine'],
    events,
  });
}

/** A recorded fact and the automatic transitions it fired. */
export function factRecorded(
  base: DecisionBase,
  justification: string,
  applied: readonly string[],
  events: readonly CoreEvent[],
): Decision {
  return decision(base, {
    ...inert('fact', null, null, null),
    justification,
    original: null,
    applied,
    events,
  });
}

/** Why an expired identity's entry is refused (shared with facts). */
export function expiredMessage(signer: string, notAfterMs: number | undefined): string {
  const at = notAfterMs === undefined ? '?' : formatIsoUtcMs(notAfterMs);
  return `${signer} expired at ${at} (not_after_ms ${notAfterMs ?? '?'}); an admin renews it ` +
    'with Identity_Grant';
}
