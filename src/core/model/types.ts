/**
 * Core vocabulary: WAL entries in, decisions out. See docs/glossary.md for the words.
 */
import type { Sha256 } from '../encoding/hash.js';
import type { Json, JsonObject } from '../encoding/json.js';

/** JetStream sequence of a WAL entry (1-based). */
export type WalSeq = number & { readonly __brand: 'WalSeq' };
/** `hmmm:pubkey:<64 hex>`. */
export type Signer = string & { readonly __brand: 'Signer' };
/** A producer's idempotency key. */
export type IdemKey = string & { readonly __brand: 'IdemKey' };

/**
 * A signature verdict computed by the shell under SWOOSH's one rule (docs/signatures.md §3).
 * Verification is a pure function of the bytes, so the core takes the verdict as an input;
 * only `src/protocol/entry.ts` and test helpers create these.
 */
export type SigVerdict = boolean & { readonly __brand: 'SigVerdict' };

/** Where an entry came from: its subject family. */
export type EntryChannel = 'proposal' | 'fact';

/**
 * What a proposal entry's subject says about its chain (contract v2 §3): a project's subject
 * `<prefix>.proposals.<project>.<transition>` names the project; the v1 subject
 * `<prefix>.proposals.<transition>` names none (`project: null`, the default project);
 * `<prefix>.control.<transition>` is a control proposal for the deployment chain. Absent on
 * facts, and on entries decided by a single-project core (no routing at all).
 */
export type EntryScope =
  | { readonly kind: 'project'; readonly project: string | null }
  | { readonly kind: 'control' };

/**
 * One WAL entry as the core sees it. `log_ms` is the JetStream timestamp assigned by the
 * server and stored in the log: the only notion of time inside the core.
 */
export type WalEntry =
  | {
      readonly type: 'signed';
      readonly seq: WalSeq;
      readonly log_ms: number;
      readonly channel: EntryChannel;
      /** Last subject token: the transition name or the fact kind. */
      readonly name: string;
      /** JCS text of the proposal or fact without its signature. */
      readonly body: string;
      /** Verdict on the envelope signature over `DOMAIN\n ‖ body`. */
      readonly sig: SigVerdict;
      /** Verdicts on signatures embedded in the inputs (council votes), in order. */
      readonly embedded: readonly SigVerdict[];
      /** The subject's project or control scope (proposals; see EntryScope). */
      readonly scope?: EntryScope;
    }
  | {
      readonly type: 'malformed';
      readonly seq: WalSeq;
      readonly log_ms: number;
      readonly channel: EntryChannel | null;
      readonly name: string | null;
      /** Stable code, e.g. `malformed_envelope`. */
      readonly code: string;
      readonly message: string;
      readonly scope?: EntryScope;
    };

/** The five decision outcomes. */
export type Outcome = 'accepted' | 'rejected' | 'duplicate' | 'quarantined' | 'fact';

/** One guard's verdict as recorded in the decision record. */
export interface GuardOutcome {
  readonly guard: string;
  readonly ok: boolean;
  readonly code: string | null;
  readonly reasons: readonly string[];
}

/** A proposal after schema validation (ARCHITECTURE §3). */
export interface Proposal {
  /** The project the proposal is signed for; null for control proposals and v1 bodies. */
  readonly project: string | null;
  readonly current_state_hash: Sha256;
  readonly transition: string;
  readonly inputs: JsonObject;
  readonly inputs_hash: Sha256;
  readonly signer: Signer;
  readonly idem_key: IdemKey;
  readonly hlc: string;
  readonly window_id: string;
  readonly evidence: readonly string[];
}

/** A fact after schema validation (ARCHITECTURE §6). */
export interface Fact {
  readonly kind: FactKind;
  readonly signer: Signer;
  readonly hlc: string;
  readonly payload: JsonObject;
}

/** Fact kinds, one per feeder. */
export type FactKind = 'license' | 'backbeat' | 'mcp' | 'policy' | 'capacity' | 'tick';

/** What a policy breach recorded: enough to re-check it under a newer policy. */
export interface PolicyBreach {
  readonly transition: string;
  readonly signer: string;
  readonly inputs: JsonObject;
  readonly evidence: readonly string[];
  readonly rule: string;
  readonly reasons: readonly string[];
  readonly policy_version: number;
}

/**
 * What evolve applies. Every accepted or quarantined proposal and every fact becomes a short
 * list of events; rejections and duplicates carry none, so they change nothing.
 */
export type CoreEvent =
  | {
      /** Advances the clock and remembers the idem key. */
      readonly type: 'proposal_recorded';
      readonly seq: WalSeq;
      readonly signer: Signer;
      readonly idem_key: IdemKey;
      readonly hlc: string;
      readonly outcome: 'accepted' | 'quarantined';
      readonly transition: string;
      readonly inputs_hash: string;
    }
  | {
      readonly type: 'transition_applied';
      readonly name: string;
      readonly inputs: JsonObject;
      readonly signer: Signer;
      readonly seq: WalSeq;
      readonly log_ms: number;
      readonly window_id: string;
    }
  | {
      readonly type: 'auto_transition';
      readonly name: string;
      readonly seq: WalSeq;
      readonly log_ms: number;
      readonly reason: string;
      readonly breach: PolicyBreach | null;
    }
  | { readonly type: 'fact_recorded'; readonly kind: FactKind; readonly value: JsonObject };

/** The core's answer to one WAL entry. Exactly one per entry. */
export interface Decision {
  readonly seq: WalSeq;
  readonly log_ms: number;
  readonly outcome: Outcome;
  readonly channel: EntryChannel | null;
  /** Transition name (proposals) or fact kind (facts), when known. */
  readonly transition: string | null;
  readonly region: string | null;
  readonly signer: string | null;
  readonly idem_key: string | null;
  readonly hlc: string | null;
  readonly window_id: string | null;
  readonly inputs_hash: string | null;
  readonly evidence: readonly string[];
  /** Rejection code; null when accepted, a fact, or a duplicate. */
  readonly code: string | null;
  readonly message: string | null;
  readonly failing_guard: string | null;
  readonly guard_outcomes: readonly GuardOutcome[];
  readonly justification: string;
  /** For a duplicate: the entry that was decided first. */
  readonly original: {
    readonly wal_seq: number;
    readonly outcome: 'accepted' | 'quarantined';
  } | null;
  /** Transitions this decision applied (proposed and automatic), in order. */
  readonly applied: readonly string[];
  readonly events: readonly CoreEvent[];
  /**
   * Present when an applied transition is marked `snapshot: true` in the chart: the writer
   * snapshots right after this decision. Not part of the decision record.
   */
  readonly snapshot?: true;
}

/** Re-export for convenience. */
export type { Json, JsonObject, Sha256 };
