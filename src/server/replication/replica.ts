/**
 * A replica: the core's state plus where it stands in the WAL and the decision-record chain.
 * The writer and every follower are replicas; they differ only in what they do at the tail
 * (the writer publishes decision records, a follower compares them). Recovery is the same
 * for both: load the newest valid snapshot, then replay the WAL against the stored records.
 */
import {
  type Core,
  type Hasher,
  type State,
  type StepResult,
  type WalEntry,
  type WalSeq,
  hashText,
  jcs,
} from '../../core/index.js';
import type { SignatureVerifier } from '../../crypto/verify.js';
import {
  contentMembers,
  contentOf,
  contentTextOf,
  drContent,
  type ContentText,
  type DecisionRecord,
  type DrContent,
} from '../../protocol/decision-record.js';
import { decodeEnvelope, walEntryHash, type Decoded } from '../../protocol/envelope.js';
import {
  completeEntry,
  prepareEntry,
  verdictsOf,
  type PreparedEntry,
} from '../../protocol/entry.js';
import type { WalMessage } from '../../protocol/wal-message.js';

/**
 * Thrown when a recomputed record differs from the stored one: a determinism bug or a lost write.
 */
export class ReplayMismatchError extends Error {
  readonly code = 'replay_mismatch';
  constructor(
    readonly seq: number,
    readonly field: string,
    readonly stored: string,
    readonly recomputed: string,
  ) {
    super(
      `decision record ${seq} differs from its recomputation at ${field}: stored ${stored}, ` +
      `recomputed ${recomputed}. ` +
        'This is a determinism bug or a lost write; the writer stops rather than paper over it.',
    );
    this.name = 'ReplayMismatchError';
  }
}

/** The first differing top-level field of two contents (for a specific error). */
function firstDifference(a: DrContent, b: DrContent): [string, string, string] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const k of keys) {
    const x = jcs((a as unknown as Record<string, unknown>)[k] ?? null);
    const y = jcs((b as unknown as Record<string, unknown>)[k] ?? null);
    if (x !== y) return [k, x.slice(0, 200), y.slice(0, 200)];
  }
  return ['(none)', '', ''];
}

/** One decided entry: the step, its record content and the content hash. */
export interface Decided {
  readonly msg: WalMessage;
  readonly step: StepResult;
  readonly content: DrContent;
  /** JCS text of the content (what the hash covers and replicas compare), with member offsets. */
  readonly text: ContentText;
  /** = text.text */
  readonly contentText: string;
  readonly hash: string;
  /** Applied count before this entry (its transitions take the next indexes). */
  readonly appliedBefore: number;
}

/** Where a replica stands. */
export interface ReplicaPosition {
  readonly state: State;
  readonly lastSeq: number;
  readonly lastDrHash: string;
  readonly lastWalEntryHash: string;
}

/** Replica state and the deterministic step shared by writer, follower and recovery. */
export class Replica {
  state: State;
  lastSeq: number;
  lastDrHash: string;
  lastWalEntryHash: string;

  constructor(
    readonly core: Core,
    readonly hasher: Hasher,
    readonly verifier: SignatureVerifier,
    private readonly instance: string,
    pos: ReplicaPosition,
  ) {
    this.state = pos.state;
    this.lastSeq = pos.lastSeq;
    this.lastDrHash = pos.lastDrHash;
    this.lastWalEntryHash = pos.lastWalEntryHash;
  }

  /** Where the replica stands (to return to it if the next step must be undone). */
  position(): ReplicaPosition {
    return {
      state: this.state,
      lastSeq: this.lastSeq,
      lastDrHash: this.lastDrHash,
      lastWalEntryHash: this.lastWalEntryHash,
    };
  }

  /** Go back to a position taken earlier (states are immutable, so this is exact). */
  restore(p: ReplicaPosition): void {
    this.state = p.state;
    this.lastSeq = p.lastSeq;
    this.lastDrHash = p.lastDrHash;
    this.lastWalEntryHash = p.lastWalEntryHash;
  }

  /**
   * A WAL message decoded into the core's entry-to-be and its signature checks. The verdicts
   * can then be computed anywhere (this thread, or a worker pool ahead of the reducer): they
   * are a pure function of the bytes.
   */
  static prepare(msg: WalMessage): { decoded: Decoded; prepared: PreparedEntry } {
    const decoded = decodeEnvelope(msg.data);
    const name = msg.subject.split('.').at(-1) ?? '';
    const channel = msg.subject.includes('.facts.') ? 'fact' : 'proposal';
    if (!decoded.ok) {
      return {
        decoded,
        prepared: {
          kind: 'final',
          entry: {
            type: 'malformed',
            seq: msg.seq as WalSeq,
            log_ms: msg.logMs,
            channel,
            name,
            code: decoded.code,
            message: decoded.message,
          },
        },
      };
    }
    return {
      decoded,
      prepared: prepareEntry({
        seq: msg.seq,
        logMs: msg.logMs,
        channel,
        name,
        body: decoded.body,
        sig: decoded.sig,
      }),
    };
  }

  /** The core's entry for a WAL message, verified in this thread. */
  entryOf(msg: WalMessage): WalEntry {
    const { prepared } = Replica.prepare(msg);
    return completeEntry(
      prepared,
      prepared.kind === 'final' ? [] : verdictsOf(prepared.checks, this.verifier),
    );
  }

  /**
   * Decide the next entry (must be lastSeq + 1) and advance. `pre` carries the prepared entry
   * and its verdicts when they were computed ahead (the writer's pool); otherwise this thread
   * verifies.
   */
  decideNext(
    msg: WalMessage,
    pre?: { decoded: Decoded; prepared: PreparedEntry; verdicts: readonly boolean[] },
  ): Decided {
    if (msg.seq !== this.lastSeq + 1) {
      throw new Error(
        `replica at ${this.lastSeq} was handed WAL seq ${msg.seq}: ` +
          'entries must be decided in order',
      );
    }
    const appliedBefore = this.state.clock.applied_count;
    let decoded: Decoded;
    let entry: WalEntry;
    if (pre === undefined) {
      const p = Replica.prepare(msg); // decoded once: for the entry and for its hash
      decoded = p.decoded;
      entry = completeEntry(
        p.prepared,
        p.prepared.kind === 'final' ? [] : verdictsOf(p.prepared.checks, this.verifier),
      );
    } else {
      decoded = pre.decoded;
      entry = completeEntry(pre.prepared, pre.verdicts);
    }
    const step = this.core.step(this.state, entry);
    const entryHash = walEntryHash(msg.subject, msg.data, decoded);
    const content = drContent(
      this.instance,
      { seq: msg.seq, wal_entry_hash: entryHash },
      step,
      this.lastDrHash,
    );
    const text = contentTextOf(contentMembers(content));
    const contentText = text.text;
    const hash = hashText(this.hasher, contentText);
    this.state = step.state;
    this.lastSeq = msg.seq;
    this.lastDrHash = hash;
    this.lastWalEntryHash = entryHash;
    return { msg, step, content, text, contentText, hash, appliedBefore };
  }

  /** Compare a recomputed record with the stored one; throws ReplayMismatchError on any byte. */
  static compare(decided: Decided, stored: DecisionRecord): void {
    const a = jcs(contentOf(stored));
    const b = decided.contentText;
    if (a === b) return;
    const [field, x, y] = firstDifference(contentOf(stored), decided.content);
    throw new ReplayMismatchError(decided.msg.seq, field, x, y);
  }
}

