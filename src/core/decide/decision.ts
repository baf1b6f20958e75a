/**
 * Building decisions. Every WAL entry gets exactly one; these helpers keep their shape
 * uniform so decision records (and their hashes) never depend on which path produced them.
 */
import { REJECTION_CODES, type RejectionCode } from '../model/codes.js';
import type { Decision, GuardOutcome, WalEntry } from '../model/types.js';

/** Fields common to every decision about an entry, before the verdict. */
export type DecisionBase = Omit<
  Decision,
  'outcome' | 'code' | 'message' | 'failing_guard' | 'justification' | 'original' | 'applied' | 'events'
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

/** A rejection: the failing check (or guard) is named, with its code and reasons. */
export function rejection(
  base: DecisionBase,
  code: RejectionCode,
  message: string,
  reasons: readonly string[] = [message],
): Decision {
  const guard = REJECTION_CODES[code][0];
  const failed: GuardOutcome = { guard, ok: false, code, reasons };
  return {
    ...base,
    outcome: 'rejected',
    code,
    message,
    failing_guard: guard,
    guard_outcomes: [...base.guard_outcomes, failed],
    justification: `rejected by ${guard}: ${code}: ${message}`,
    original: null,
    applied: [],
    events: [],
  };
}
