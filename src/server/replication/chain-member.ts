/**
 * A member of a deployment whose chains are spread over writer processes by bucket lease
 * (docs/adr/0002-many-projects.md §2 and §4; docs/architecture.md "Writers by bucket").
 *
 * Every member folds the whole WAL (every chain is a pure function of the WAL, so each member
 * computes every record), and publishes only the records of the chains it holds: a project's
 * chain while it holds that project's bucket lease, the deployment chain while it holds the
 * deployment lease. For every other chain it is a follower: it reads the records the holders
 * stored and compares each with its own, byte for byte.
 *
 * Per loop turn (numbered as in `turn`):
 *  1. read stored records from DECISIONS (`<prefix>.dr.>`, in stream order) and confirm or
 *     compare each against what this member decided for that chain and index (a record not
 *     decided here yet is remembered by its content hash until it is);
 *  2. decide the next WAL entries (signatures verified on the crypto pool, then the reducer in
 *     WAL order), unless too many decided records are still waiting to be stored (backpressure:
 *     a chain whose holder is gone gets a new holder within a lease TTL);
 *  3. for each held chain with records waiting, publish them in chain order, one at a time, each
 *     fenced with `Nats-Expected-Last-Subject-Sequence` = the stream sequence of the chain's
 *     last stored record and `Nats-Msg-Id: dr:<chain>:<index>`; then its TRANSITIONS records
 *     (`Nats-Msg-Id: tr:<applied_index>`).
 *
 * The fence (what "a paused ex-writer can never get a record stored after a takeover" rests on):
 * a chain's publisher learns the chain's stored tail from the stream (`last_by_subj`) when it
 * starts publishing that chain and after any refusal, then from each PubAck. Every record is
 * fenced on the one before it, and a chain has at most one publish in flight per member. Once
 * the new holder has stored one record on a chain, any publish by the old holder names a stale
 * subject sequence and is refused (10071). Before that, the old holder's record is the same
 * content the new holder computed (records are a pure function of the WAL); the new holder's
 * own publish of it is then refused, it re-learns the tail and confirms the record as stored.
 * A lease's validity is also bounded in time (bucket-leases.ts), so a member resumed after a
 * pause stops publishing at once.
 *
 * Never trusting the stream: a message on a record subject that is not a record, whose
 * signature does not verify, that names another chain than its subject, or that repeats an
 * index already stored (a stray a foreign client published) is counted and logged, and never
 * halts the member. A genuine record whose content differs from the recomputation is a
 * divergence: the member stops deciding (as a follower does) and raises the alarm.
 */
import {
  JetStreamApiCodes,
  type JetStreamClient,
  type JetStreamManager,
  type NextMsgRequest,
  type SeqMsgRequest,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { DEFAULT_PROJECT, DEPLOYMENT_CHAIN, type State } from '../../core/index.js';
import type { NodeSigner } from '../../crypto/node-sign.js';
import { jcs } from '../../core/index.js';
import {
  contentOf,
  decodeDr,
  drHash,
  subjectToken,
  transitionRecords,
  verifyDrSignature,
  writerProblem,
  type DecisionRecord,
  type TransitionRecord,
} from '../../protocol/decision-record.js';
import type { SigCheck } from '../../protocol/entry.js';
import { SwooshError } from '../../protocol/errors.js';
import { StreamReader } from '../../protocol/batch-reader.js';
import { fromStoredMsg, type WalMessage } from '../../protocol/wal-message.js';
import { batchVerdicts, signRecords, type CryptoPool } from './crypto-pool.js';
import { FencedPublisher, PublishRefusedError } from './fenced-publisher.js';
import {
  Replica,
  ReplayMismatchError,
  latestHlc,
  newerHlc,
  worldDocOf,
  worldHash,
  type ChainHead,
  type Decided,
  type HeldChainHead,
  type ReplicaPosition,
  type WorldState,
} from './replica.js';
import {
  snapshotMeta,
  type SnapshotMeta,
  type SnapshotOutcome,
  type SnapshotStore,
} from './snapshots.js';
import { walEntryHash } from '../../protocol/envelope.js';
import {
  headOf,
  projectSnapshotProblem,
  type ProjectSnapshot,
  type ProjectSnapshots,
} from './project-snapshots.js';
import { crashNow, type CrashPoint, type WriterSubjects } from './writer.js';

/** Why a message on a record subject was set aside. */
export type StrayKind =
  | 'not_a_record'
  | 'bad_signature'
  | 'wrong_subject'
  | 'repeated_index'
  | 'chain_gap'
  | 'unmatched'
  | 'unknown_writer';

/** What a member needs. */
export interface ChainMemberDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly replica: Replica;
  readonly signer: NodeSigner;
  readonly pool: CryptoPool | null;
  readonly subjects: WriterSubjects;
  readonly walName: string;
  readonly decisionsName: string;
  readonly transitionsName: string;
  /** True while this member may publish `chain` (its lease is held and fresh). */
  readonly holds: (chain: string) => boolean;
  readonly batchMax: number;
  /** Decided records not yet stored, all chains, past which no more entries are decided. */
  readonly backlogMax: number;
  /** A record is stored (by this member or another): `byMe` when this member published it. */
  readonly onStored: (d: Decided, byMe: boolean) => void;
  readonly onDivergence: (err: ReplayMismatchError) => void;
  readonly onStray: (kind: StrayKind, detail: string) => void;
  /**
   * Snapshots: written by the deployment chain's holder every `every` entries of the stored
   * watermark, at a position whose records are all stored (see `maybeSnapshot`).
   */
  readonly snapshots?: {
    readonly store: SnapshotStore;
    readonly every: number;
    /** The head revision the last snapshot was read or written at (CAS). */
    revision: number;
    readonly onWritten: (r: SnapshotOutcome) => void;
  };
  /**
   * Decide only the chains this member holds (and the deployment chain); every other project's
   * entries are queued and decided when it takes that project's bucket (ADR 0006). Absent: every
   * member decides every chain.
   */
  readonly held?: {
    /** True while this member's last lease round gave it `chain`'s bucket (no time check). */
    readonly owns: (chain: string) => boolean;
    /** Changes whenever the set of buckets owned changes. */
    readonly ownEpoch: () => number;
    readonly projectSnapshots: ProjectSnapshots;
    /** Records of a held chain between two of its snapshots. */
    readonly snapshotEvery: number;
    /** Bytes of queued entries (all projects) past which the longest queue is decided. */
    readonly queueBytesMax: number;
    readonly onProjectSnapshot: (
      project: string,
      outcome: 'written' | 'adopted' | 'failed',
    ) => void;
    /**
     * Project documents kept in memory at most (the default project always stays): past it, the
     * least recently used are evicted and loaded again when needed (ADR 0007).
     */
    readonly residentMax: number;
    readonly onResidency: (event: ResidencyEvent) => void;
  };
  readonly log: (
    level: 'info' | 'warn' | 'error',
    msg: string,
    fields?: Record<string, unknown>,
  ) => void;
  /**
   * Test-only fault injection (SWOOSH_CRASH_AT, as the single writer takes it): SIGKILL after
   * storing the record of an entry at or past the seq, before its TRANSITIONS records.
   */
  readonly crashAt?: ReadonlyMap<CrashPoint, number>;
}

/** What happened to a project's document in memory (ADR 0007). */
export type ResidencyEvent = 'evicted' | 'loaded' | 'load_failed';

/** Where a chain's stored records end: the last one's index and stream sequence. */
interface Tail {
  readonly index: number;
  readonly seq: number;
}

/** A stored record this member has not decided yet: enough to compare it when it does. */
interface Ahead {
  readonly hash: string;
  /** The key that signed it: checked against the registry at its entry once decided. */
  readonly writer: string;
  readonly walSeq: number;
  /** Its DECISIONS seq. */
  readonly seq: number;
}

/** A position this member may snapshot once every record up to it is stored. */
interface Mark {
  readonly pos: ReplicaPosition;
  /** DECISIONS seq of the record of entry `pos.lastSeq`, once known. */
  drSeq: number | null;
}

/** Project snapshots written per turn at most (the rest wait; only the newest is kept). */
const PROJECT_SNAPSHOTS_PER_TURN = 8;
/** Queued projects whose snapshot is looked up (or queue decided) per turn at most. */
const PRUNES_PER_TURN = 8;
/** Snapshot intervals one project's queue may reach before it is decided in place. */
const QUEUE_INTERVALS_MAX = 8;
/** Projects looked at per eviction sweep, and snapshot reads or writes it makes, at most. */
const EVICT_LOOKS_PER_SWEEP = 256;
const EVICT_KV_PER_SWEEP = 16;
/** Least time between two eviction sweeps. */
const EVICT_SWEEP_MS = 250;
/** Least time between two attempts to load a project whose load failed. */
const LOAD_RETRY_MS = 10_000;

/** Deployment-chain records whose DECISIONS seq a member deciding held chains remembers at most. */
const DEP_SEQS_MAX = 100_000;

/** Turns between two looks at chains whose TRANSITIONS records may be missing. */
const REPAIR_EVERY = 20;

/** Waiting records of a chain signed in one call to the crypto pool. */
const SIGN_AHEAD = 64;

/** Entries between two marks at least (marks hold copy-on-write views of the documents). */
const MARK_EVERY = 64;

/** Stored records read per turn at most. */
const RECORDS_PER_TURN = 512;
/** How long a turn waits for WAL entries when nothing else happened. */
const IDLE_WAIT_MS = 50;
/**
 * Records held back at most (all chains) behind one whose writer cannot be judged yet (see
 * `park`). Only their positions are kept (the bytes are read again on release), so this bounds
 * memory to a few MB; past it a held record is set aside as a stray, loudly.
 */
const PARKED_MAX = 100_000;
/**
 * A reader that delivered nothing for this long while its stream holds more is reopened at its
 * position: after a nats-server restart an ordered consumer can stop delivering, and the client
 * resumes it only once two idle heartbeats are missed, 30 s or more later.
 */
const READER_STALL_MS = 1_000;

const enc = new TextEncoder();

/** One member's loop over the WAL and DECISIONS. */
export class ChainMember {
  /** Set when a genuine record differs from the recomputation: nothing more is decided. */
  diverged: ReplayMismatchError | null = null;
  private readonly wal: StreamReader;
  private readonly drs: StreamReader;
  private readonly publisher: FencedPublisher;
  /** Per chain: records decided here, not yet known stored, in chain order. */
  private readonly pending = new Map<string, Decided[]>();
  private pendingCount = 0;
  /** Per chain: stored records read before this member decided them, by chain index. */
  private readonly ahead = new Map<string, Map<number, Ahead>>();
  private aheadCount = 0;
  /**
   * Per chain: the stored tail the publisher fences on, learned from the stream and from
   * PubAcks (absent: learn it again). It may run ahead of what step 1 has read.
   */
  private readonly tails = new Map<string, Tail>();
  /** Per chain: the last record step 1 read (records of a chain are read in index order). */
  private readonly readTails = new Map<string, Tail>();
  /**
   * Per chain: records held back, in the order read, behind one signed by a key that is not a
   * writer in the newest registry this member folded but whose entry it has not decided yet (a
   * rotation it has not folded may add that key). Judged again once that entry is decided.
   */
  private readonly parked = new Map<string, { seq: number; index: number }[]>();
  private parkedCount = 0;
  private parkedTotal = 0;
  /**
   * Per chain: the TRANSITIONS records of its last record stored by another member, which that
   * member may have died before storing (it stores them before the chain's next record).
   */
  private readonly lastTrs = new Map<string, readonly TransitionRecord[]>();
  /** Records this member stored, by DECISIONS seq, until step 1 reads them. */
  private readonly published = new Map<number, { chain: string; index: number; walSeq: number }>();
  /** Signed bytes of waiting records, signed ahead in batches (a record's bytes never change). */
  private readonly signed = new WeakMap<Decided, Uint8Array>();
  private turns = 0;
  /** The WAL seq of the first record this member's key could not sign (logged once). */
  private keyRefusedAt = 0;
  /** Chains with a publishing loop running. */
  private readonly publishing = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  /** WAL seqs decided here whose records are not known stored yet. */
  private readonly unstored = new Set<number>();
  /** Every entry up to here has its record stored. */
  private watermark: number;
  /** Candidate snapshot positions by WAL seq, oldest first. */
  private readonly marks = new Map<number, Mark>();
  /** Records read (DECISIONS seq, WAL seq) that a snapshot's `dr_from` must not skip. */
  private readAbove: { s: number; w: number }[] = [];
  /** The last DECISIONS seq read. */
  private lastRead: number;
  private lastSnapshotSeq: number;
  /** WAL seq of the newest mark taken (marks are dropped once a newer one is complete). */
  private lastMarkSeq: number;
  /** When the WAL and DECISIONS readers last delivered (or were last found current). */
  private walHeard = Date.now();
  private drHeard = Date.now();
  private stallChecked = Date.now();
  /** Deciding held chains only: the owned set last acted on (see `syncOwned`). */
  private ownEpochSeen = Number.NaN;
  /** Per held chain: the index of its newest snapshot (written or adopted). */
  private readonly snapIndex = new Map<string, number>();
  /** Per held chain: the newest record waiting to be snapshotted, with its DECISIONS seq. */
  private readonly snapWanted = new Map<string, { d: Decided; seq: number }>();
  /** Per queued project: the queue length at which its snapshot is looked up next. */
  private readonly pruneAt = new Map<string, number>();
  /** Subject prefix of records (`<prefix>.dr.`). */
  private readonly drPrefix: string;

  /** `drFrom`: every record of an entry after the replica's position is past this DECISIONS seq. */
  /**
   * `drFrom`: every record of an entry after the replica's position is past this DECISIONS seq.
   * `tails`: per project, its last record's index and DECISIONS seq, where reading its records
   * resumes (a snapshot of a member deciding held chains names them).
   */
  constructor(
    private readonly deps: ChainMemberDeps,
    drFrom = 0,
    tails: ReadonlyMap<string, { index: number; seq: number }> = new Map(),
  ) {
    this.wal = new StreamReader(deps.js, deps.walName, deps.replica.lastSeq + 1);
    this.drs = new StreamReader(deps.js, deps.decisionsName, drFrom + 1);
    this.publisher = new FencedPublisher(deps.nc);
    this.watermark = deps.replica.lastSeq;
    this.lastRead = drFrom;
    this.lastSnapshotSeq = deps.replica.lastSeq;
    this.lastMarkSeq = deps.replica.lastSeq;
    const deploymentSubject = deps.subjects.dr(DEPLOYMENT_CHAIN);
    this.drPrefix = deploymentSubject.slice(0, deploymentSubject.length - DEPLOYMENT_CHAIN.length);
    if (deps.held !== undefined) {
      // Until its first lease round, a member decides no project.
      for (const p of deps.replica.projectIds()) deps.replica.defer(p);
    }
    for (const [p, t] of tails) {
      if (t.seq <= 0) continue;
      this.readTails.set(p, t);
      this.lastConfirmed.set(p, t);
      if (p === DEPLOYMENT_CHAIN) this.depSeqs.set(t.index, t.seq);
    }
  }

  /** Bytes of entries queued for projects this member does not decide now. */
  get queuedBytes(): number {
    return this.deps.replica.queuedBytes;
  }

  /** Deciding held chains only: what this member did with queued projects since it started. */
  readonly heldCounts = {
    taken_up: 0, entries_taken_up: 0, snapshots_adopted: 0, evicted: 0, loaded: 0,
    load_failed: 0,
  };

  /** Every entry up to this WAL seq has its record stored. */
  get storedUpTo(): number {
    return this.watermark;
  }

  /** Records decided here and not yet stored (all chains). */
  get backlog(): number {
    return this.pendingCount;
  }

  /** Records held until their entry was decided (see `park`), since this member started. */
  get heldTotal(): number {
    return this.parkedTotal;
  }

  /** Stored records read ahead of this member's decisions (all chains). */
  get readAhead(): number {
    return this.aheadCount;
  }

  /** Run until `keepGoing()` is false or a divergence stops deciding. */
  async run(keepGoing: () => boolean): Promise<void> {
    try {
      while (keepGoing() && this.diverged === null) await this.turn();
    } finally {
      this.stopped = true;
      await Promise.allSettled([...this.running]);
      this.publisher.close();
      await this.drs.close();
      await this.wal.close();
    }
  }

  /** One turn of steps 1–3 (see the header). */
  private async turn(): Promise<void> {
    // 1. Stored records.
    const recs = await this.drs.read(RECORDS_PER_TURN, 0);
    if (recs.length > 0) this.drHeard = Date.now();
    for (const m of recs) this.onRecord(m);
    if (this.diverged !== null) return;
    // Deciding held chains only: take up the projects of buckets gained, queue those lost.
    await this.syncOwned();
    if (this.diverged !== null) return;
    // 2. WAL entries, unless too much waits to be stored.
    const room = this.deps.backlogMax - this.pendingCount;
    if (room > 0) {
      const wait = recs.length > 0 ? 0 : IDLE_WAIT_MS;
      const msgs = await this.wal.read(Math.min(this.deps.batchMax, room), wait);
      if (msgs.length > 0) {
        this.walHeard = Date.now();
        await this.decide(msgs);
      }
    } else {
      this.walHeard = Date.now(); // not reading the WAL: not stalled
      if (recs.length === 0) await new Promise((r) => setTimeout(r, IDLE_WAIT_MS));
    }
    // Records held until their entry is decided (a rotation this member had not folded).
    await this.retryParked();
    if (this.diverged !== null) return;
    // 3. Publish what this member holds.
    this.kick();
    await this.maybeSnapshot();
    await this.projectSnapshots();
    await this.evictIdle();
    await this.reopenStalled();
  }

  /**
   * Reopen a reader (a new ordered consumer at its position) that delivered nothing for
   * READER_STALL_MS while its stream holds messages past it. Checked at most once per
   * READER_STALL_MS; a failing check is retried on a later turn.
   */
  private async reopenStalled(): Promise<void> {
    const now = Date.now();
    if (now - this.stallChecked < READER_STALL_MS) return;
    this.stallChecked = now;
    const stalled = async (name: string, at: number, heard: number): Promise<boolean> => {
      if (now - heard < READER_STALL_MS) return false;
      const last = (await this.deps.jsm.streams.info(name)).state.last_seq;
      if (last <= at) return false;
      this.deps.log('warn', 'stream reader stalled; reopening it', { stream: name, at, last });
      return true;
    };
    try {
      if (await stalled(this.deps.walName, this.deps.replica.lastSeq, this.walHeard)) {
        await this.wal.close();
      }
      this.walHeard = Math.max(this.walHeard, now);
      if (await stalled(this.deps.decisionsName, this.lastRead, this.drHeard)) {
        await this.drs.close();
      }
      this.drHeard = Math.max(this.drHeard, now);
    } catch (err) {
      this.deps.log('warn', 'checking the stream readers failed', { err: (err as Error).message });
    }
  }

  /** Step 2: verify on the pool, decide in WAL order, then match or queue each record. */
  private async decide(msgs: readonly WalMessage[]): Promise<void> {
    const r = this.deps.replica;
    const held = this.deps.held;
    // Entries of queued projects are neither decoded nor verified now (routing reads only the
    // subject and the registry; a project created in this batch is routed to as it is decided).
    const prepared = msgs.map((m) =>
      held !== undefined && r.isDeferred(r.routeOf(m)) ? null : Replica.prepare(m));
    const verdicts = await this.verdicts(
      prepared.map((p) => (p === null || p.prepared.kind === 'final' ? [] : p.prepared.checks)),
    );
    const woken = new Set<string>();
    msgs.forEach((m, i) => {
      const p = prepared[i];
      if (p === undefined || this.diverged !== null) return;
      if (held !== undefined) {
        const chain = r.routeOf(m);
        if (r.isDeferred(chain)) {
          r.deferNext(m, chain);
          this.queued(chain);
          // A project of a bucket held here whose document was evicted: loaded and its queue
          // decided once this batch is (`wake`). (An entry a snapshot covers is not queued.)
          if (held.owns(chain) && r.queueOf(chain).length > 0) woken.add(chain);
          return;
        }
        this.touch(chain);
      }
      const d = p === null
        ? r.decideNext(m)
        : r.decideNext(m, { ...p, verdicts: verdicts[i] ?? [] });
      if (held !== undefined) {
        for (const c of d.step.created) if (!held.owns(c.project)) r.defer(c.project);
      }
      const chain = d.content.project;
      const index = d.content.chain_index;
      const seen = this.ahead.get(chain)?.get(index);
      if (seen !== undefined) {
        this.dropAhead(chain, index);
        // The writer first: a record from a key that was not a writer at this entry is not a
        // record of this deployment (whatever it holds), so it is set aside, not compared; the
        // chain's genuine record is still to come (or to publish).
        const notWriter = writerProblem(d.step.before.identities, seen);
        if (notWriter !== null) {
          this.stray('unknown_writer', `DECISIONS seq ${seen.seq}: ${notWriter}`);
          this.readTails.set(chain, { index: index - 1, seq: seen.seq });
        } else if (seen.hash !== d.hash || seen.walSeq !== d.msg.seq) {
          this.diverge(new ReplayMismatchError(
            d.msg.seq, 'content', `stored record hashes to ${seen.hash}`,
            `recomputed record hashes to ${d.hash}`,
          ));
          return;
        } else {
          this.noteTransitions(d);
          this.confirmed(d, seen.seq, false);
          return;
        }
      }
      const q = this.pending.get(chain);
      if (q === undefined) this.pending.set(chain, [d]);
      else q.push(d);
      this.pendingCount += 1;
      this.unstored.add(d.msg.seq);
    });
    if (held !== undefined) {
      for (const p of woken) {
        if (this.diverged !== null) return;
        if (r.isDeferred(p) && !r.coversAhead(p) && held.owns(p) && r.queueOf(p).length > 0) {
          await this.wake(p);
        }
      }
      if (r.queuedBytes > held.queueBytesMax) await this.decideLongestQueue();
    } else if (r.lastSeq - this.lastMarkSeq >= MARK_EVERY) {
      this.lastMarkSeq = r.lastSeq;
      this.marks.set(r.lastSeq, { pos: r.position(), drSeq: null });
      // The record of the mark's entry may already be stored (read ahead, or confirmed above).
      const known = this.storedAt.get(r.lastSeq);
      if (known !== undefined) (this.marks.get(r.lastSeq) as Mark).drSeq = known;
    }
    this.sweepAhead();
    this.advance();
  }

  /**
   * A stored record read ahead names an entry this member has now decided without matching it
   * (another chain or index): not a record of this log. Set aside, so it pins nothing.
   */
  private sweepAhead(): void {
    if (this.aheadCount === 0) return;
    const last = this.deps.replica.lastSeq;
    for (const [chain, m] of this.ahead) {
      for (const [index, a] of m) {
        if (a.walSeq > last) continue;
        this.dropAhead(chain, index);
        this.stray('unmatched', `DECISIONS seq ${a.seq}: ${chain} index ${index} names WAL ` +
          `entry ${a.walSeq}, whose record is another`);
      }
    }
  }

  /** DECISIONS seq of recently stored records by WAL seq (for marks; pruned by `advance`). */
  private readonly storedAt = new Map<number, number>();

  /** A record decided here is stored at DECISIONS seq `seq`. */
  private confirmed(d: Decided, seq: number, byMe: boolean): void {
    const w = d.msg.seq;
    const held = this.deps.held;
    const chain = d.content.project;
    this.unstored.delete(w);
    this.lastConfirmed.set(chain, { index: d.content.chain_index, seq });
    if (held !== undefined) {
      if (chain === DEPLOYMENT_CHAIN) {
        this.depSeqs.set(d.content.chain_index, seq);
        // Bounded on every member (only the deployment chain's holder prunes it at snapshots):
        // the oldest indexes go first (a Map keeps insertion order, and indexes only grow).
        if (this.depSeqs.size > DEP_SEQS_MAX) {
          const oldest = this.depSeqs.keys().next();
          if (oldest.done !== true) this.depSeqs.delete(oldest.value);
        }
      } else if (held.owns(chain) &&
        d.content.chain_index - (this.snapIndex.get(chain) ?? 0) >= held.snapshotEvery) {
        this.snapWanted.set(chain, { d, seq });
      }
    } else {
      // Marks and the read records a world snapshot's `dr_from` needs (members deciding every
      // chain only; `advance` prunes them as marks complete).
      this.readAbove.push({ s: seq, w });
      const mark = this.marks.get(w);
      if (mark !== undefined) mark.drSeq = seq;
      else if (w > this.lastMarkSeq) this.storedAt.set(w, seq);
    }
    this.deps.onStored(d, byMe);
  }

  /** Move the watermark over stored entries; drop marks and read records no snapshot needs. */
  private advance(): void {
    const last = this.deps.replica.lastSeq;
    while (this.watermark < last && !this.unstored.has(this.watermark + 1)) this.watermark += 1;
    let newest: number | null = null;
    for (const [seq, m] of this.marks) {
      if (seq <= this.watermark && m.drSeq !== null) newest = seq;
    }
    if (newest === null) return;
    for (const seq of [...this.marks.keys()]) if (seq < newest) this.marks.delete(seq);
    for (const w of [...this.storedAt.keys()]) if (w <= newest) this.storedAt.delete(w);
    if (this.readAbove.length > 1024) this.readAbove = this.readAbove.filter((x) => x.w > newest);
  }

  /**
   * The deployment chain's holder snapshots the newest mark whose records are all stored, every
   * `every` entries: the documents at that position, the record of its entry (`dr_seq`), and
   * the DECISIONS seq from which every later entry's record can be read (`dr_from`).
   */
  private async maybeSnapshot(): Promise<void> {
    const snap = this.deps.snapshots;
    if (snap === undefined || !this.deps.holds(DEPLOYMENT_CHAIN)) return;
    if (this.deps.held !== undefined) {
      await this.maybeHeldSnapshot(snap);
      return;
    }
    if (this.watermark - this.lastSnapshotSeq < snap.every) return;
    let at: [number, Mark] | null = null;
    for (const [seq, m] of this.marks) if (seq <= this.watermark && m.drSeq !== null) at = [seq, m];
    if (at === null || at[0] <= this.lastSnapshotSeq) return;
    const [seq, mark] = at;
    const p = mark.pos;
    let drFrom = this.lastRead;
    for (const x of this.readAbove) if (x.w > seq && x.s - 1 < drFrom) drFrom = x.s - 1;
    for (const m of this.ahead.values()) {
      for (const a of m.values()) if (a.walSeq > seq && a.seq - 1 < drFrom) drFrom = a.seq - 1;
    }
    // Held records are read again by position; a snapshot never starts past one.
    for (const q of this.parked.values()) for (const p of q) drFrom = Math.min(drFrom, p.seq - 1);
    const meta = {
      ...snapshotMeta(this.deps.replica.core, p), dr_seq: mark.drSeq as number, dr_from: drFrom,
    };
    const hlc = meta.hlc_last;
    this.lastSnapshotSeq = seq;
    try {
      // The deployment chain's previous holder may have written since: CAS on the head as it is
      // now (the CAS still keeps two concurrent writes from both landing).
      snap.revision = await snap.store.headRevision();
      const w = await snap.store.write(meta, worldDocOf(p), snap.revision);
      snap.revision = w.revision;
      snap.onWritten({ seq, hlc, revision: w.revision, bytes: w.bytes, encoding: w.encoding });
    } catch (err) {
      // Another member's snapshot won the CAS, or a transient error: the next one comes later.
      snap.onWritten({ seq, error: err instanceof Error ? err.message : String(err) });
    }
  }

  private verdicts(checks: readonly (readonly (SigCheck | null)[])[]): Promise<boolean[][]> {
    return batchVerdicts(this.deps.pool, this.deps.replica.verifier, checks);
  }

  private dropAhead(chain: string, index: number): void {
    const m = this.ahead.get(chain);
    if (m?.delete(index) === true) {
      this.aheadCount -= 1;
      if (m.size === 0) this.ahead.delete(chain);
    }
  }

  private diverge(err: ReplayMismatchError): void {
    if (this.diverged !== null) return;
    this.diverged = err;
    this.deps.onDivergence(err);
  }

  private stray(kind: StrayKind, detail: string): void {
    this.deps.onStray(kind, detail);
  }

  /** Step 1 for one stored message: check it is a record of this deployment, then match it. */
  private onRecord(m: WalMessage): void {
    this.lastRead = m.seq;
    this.judge(m);
  }

  /**
   * Hold `m` back until its entry is decided (see `parked`). Past PARKED_MAX it is set aside
   * instead: a flood of such records must not grow without bound.
   */
  private park(chain: string, m: WalMessage, index: number, why: string): void {
    if (this.parkedCount >= PARKED_MAX) {
      this.stray('unknown_writer', `DECISIONS seq ${m.seq}: ${why} (and ${PARKED_MAX} records ` +
        'are already held)');
      return;
    }
    const q = this.parked.get(chain);
    if (q === undefined) {
      this.parked.set(chain, [{ seq: m.seq, index }]);
      this.deps.log('info', 'holding a record until its chain index is decided', {
        chain, dr_seq: m.seq, chain_index: index, reason: why,
      });
    } else {
      q.push({ seq: m.seq, index });
    }
    this.parkedCount += 1;
    this.parkedTotal += 1;
  }

  /**
   * Judge held records again, per chain in the order read, once this member has decided the
   * chain index the first one claims: it is then judged against that decision (the registry
   * before its entry), whatever entry it names. A hostile first record holds its chain only
   * until the chain's next entry is decided, and a quiet chain has no genuine record to hold.
   */
  private async retryParked(): Promise<void> {
    if (this.parkedCount === 0) return;
    for (const [chain, q] of [...this.parked]) {
      const first = q[0];
      if (first === undefined || this.deps.replica.chainHead(chain).index < first.index) continue;
      this.parked.delete(chain);
      this.parkedCount -= q.length;
      for (const p of q) {
        let m: WalMessage | null | undefined;
        try {
          const stored = await this.deps.jsm.streams.getMessage(this.deps.decisionsName,
            { seq: p.seq });
          m = stored === null ? null : fromStoredMsg(stored);
        } catch (err) {
          this.deps.log('warn', 'reading a held record failed; holding it again', {
            dr_seq: p.seq, err: (err as Error).message,
          });
        }
        if (m === null) {
          this.stray('not_a_record', `DECISIONS seq ${p.seq} is gone`);
          continue;
        }
        if (m === undefined) {
          // Unreadable now: hold it (and what follows) for the next turn, in order.
          const rest = q.slice(q.indexOf(p));
          const again = this.parked.get(chain) ?? [];
          this.parked.set(chain, [...rest, ...again]);
          this.parkedCount += rest.length;
          break;
        }
        this.judge(m);
        if (this.diverged !== null) return;
      }
    }
  }

  /** Step 1's checks of one stored message (also for held records judged again). */
  private judge(m: WalMessage): void {
    // A record this member stored itself (known from its PubAck): nothing to check or decode,
    // unless it still waits in its chain (the publishing loop failed after the PubAck, storing
    // its TRANSITIONS records): then it is confirmed below like another member's record, which
    // also has the next publishing loop store those records if they are missing.
    const own = this.published.get(m.seq);
    if (own !== undefined) {
      this.published.delete(m.seq);
      const waiting = this.pending.get(own.chain)?.[0]?.content.chain_index === own.index;
      if (!waiting) {
        this.readTails.set(own.chain, { index: own.index, seq: m.seq });
        return;
      }
    }
    // Deciding held chains only: a record of a project this member queues is not read (no
    // decode, no signature check), unless it may confirm a record this member still waits on.
    const deferredChain = this.deferredChainOf(m.subject);
    if (deferredChain !== null && !this.pending.has(deferredChain)) return;
    let rec: DecisionRecord;
    try {
      rec = decodeDr(m.data);
    } catch (err) {
      this.stray('not_a_record', `DECISIONS seq ${m.seq}: ${(err as Error).message}`);
      return;
    }
    const chain = (rec as { project?: unknown }).project;
    const index = (rec as { chain_index?: unknown }).chain_index;
    const walSeq = (rec as { wal_seq?: unknown }).wal_seq;
    if (typeof chain !== 'string' || !Number.isSafeInteger(index) ||
      !Number.isSafeInteger(walSeq) || (index as number) < 1) {
      this.stray('not_a_record', `DECISIONS seq ${m.seq} has no chain, index or wal_seq`);
      return;
    }
    if (m.subject !== this.deps.subjects.dr(chain)) {
      this.stray('wrong_subject', `DECISIONS seq ${m.seq} names chain ${chain} on ${m.subject}`);
      return;
    }
    if (deferredChain !== null) {
      // Only records up to the last one this member waits on are its to confirm.
      const q = this.pending.get(chain);
      const last = q?.[q.length - 1];
      if (last === undefined || (index as number) > last.content.chain_index) return;
    }
    if (this.parked.has(chain)) {
      this.park(chain, m, index as number, 'an earlier record of its chain is held');
      return;
    }
    let verifies = false;
    try {
      verifies = verifyDrSignature(rec, this.deps.replica.verifier);
    } catch (err) {
      void err; // a malformed writer or signature field: reported as not verifying
    }
    if (!verifies) {
      this.stray('bad_signature', `DECISIONS seq ${m.seq}: the signature does not verify`);
      return;
    }
    const i = index as number;
    // A chain's records are stored in index order, so they are read in index order: a second
    // message with an index already read, or one that skips indexes, is a stray a foreign client
    // got stored.
    const tail = this.readTails.get(chain);
    if (tail === undefined) {
      // The first record of this chain read since this member started: the next one after what
      // it has confirmed, or an older one (below its snapshot, or a replay of an old record).
      const confirmedIndex = this.confirmedIndex(chain);
      if (i <= confirmedIndex) return;
      if (i !== confirmedIndex + 1) {
        this.stray('chain_gap',
          `DECISIONS seq ${m.seq}: ${chain} index ${i} after ${confirmedIndex}`);
        return;
      }
    }
    // At or before the chain's read position: read already (or passed over while the project
    // was queued, and read again by `readChainRecords`).
    if (tail !== undefined && m.seq <= tail.seq) return;
    if (tail !== undefined && i <= tail.index) {
      this.stray('repeated_index', `DECISIONS seq ${m.seq} repeats ${chain} index ${i}`);
      return;
    }
    if (tail !== undefined && i !== tail.index + 1) {
      this.stray('chain_gap', `DECISIONS seq ${m.seq}: ${chain} index ${i} after ${tail.index}`);
      return;
    }
    const q = this.pending.get(chain);
    const head = q?.[0];
    // Signed by a key that is not a writer at the record's entry: checked against the registry
    // of that entry when this member has decided it, else against the newest registry it has
    // folded (a record read ahead of its entry), and again when the entry is decided. A record
    // read ahead whose key is not a writer in the newest registry is held until its entry is
    // decided (a rotation this member has not folded yet may add the key), not set aside.
    const judgedExactly = head !== undefined && head.content.chain_index === i;
    const registry = judgedExactly
      ? head.step.before.identities
      : this.deps.replica.deployment.identities;
    const notWriter = writerProblem(registry, rec);
    if (notWriter !== null && !judgedExactly && (walSeq as number) > this.deps.replica.lastSeq) {
      // Its entry is not decided yet: a Writer_Rotate before it may add the key. Held, with
      // the rest of its chain, until then (the chain's tail does not move).
      this.park(chain, m, i, notWriter);
      return;
    }
    if (notWriter !== null) {
      this.stray('unknown_writer', `DECISIONS seq ${m.seq}: ${notWriter}`);
      return;
    }
    this.readTails.set(chain, { index: i, seq: m.seq });
    if (head !== undefined && head.content.chain_index < i) {
      // Unreachable while records are read in order; said loudly rather than waited on forever.
      this.deps.log('error', 'a record was read past one still waiting in its chain', {
        chain, waiting: head.content.chain_index, read: i,
      });
    }
    if (q !== undefined && head !== undefined && head.content.chain_index === i) {
      try {
        Replica.compare(head, rec);
      } catch (err) {
        if (!(err instanceof ReplayMismatchError)) throw err;
        this.diverge(err);
        return;
      }
      this.shift(chain, q);
      this.noteTransitions(head);
      this.confirmed(head, m.seq, false);
      this.advance();
      return;
    }
    const decidedHere = this.deps.replica.chainHead(chain).index;
    if (i > decidedHere) {
      let m2 = this.ahead.get(chain);
      if (m2 === undefined) {
        m2 = new Map();
        this.ahead.set(chain, m2);
      }
      if (!m2.has(i)) this.aheadCount += 1;
      const hash = drHash(this.deps.replica.hasher, contentOf(rec));
      m2.set(i, { hash, writer: rec.writer, walSeq: walSeq as number, seq: m.seq });
    }
    // Otherwise it is below where this member started (a snapshot) or already confirmed.
  }

  /** Remember the TRANSITIONS records of a chain's newest record stored by another member. */
  private noteTransitions(d: Decided): void {
    const regionOf = this.deps.replica.core.regionOf;
    const trs = transitionRecords(d.content, regionOf, d.chainAppliedBefore + 1);
    if (trs.length > 0) this.lastTrs.set(d.content.project, trs);
    else this.lastTrs.delete(d.content.project);
  }

  /**
   * On taking a chain over: store the TRANSITIONS records of its last record if the member that
   * stored it did not (each is looked up on its own subject first, so none is stored twice even
   * long after the duplicate window).
   */
  private async repairTransitions(chain: string): Promise<void> {
    const trs = this.lastTrs.get(chain);
    if (trs === undefined) return;
    const missing: TransitionRecord[] = [];
    for (const tr of trs) {
      const subject =
        this.deps.subjects.transitions(tr.project, tr.region, subjectToken(tr.transition));
      const last = await this.deps.jsm.streams.getMessage(this.deps.transitionsName, {
        last_by_subj: subject,
      });
      // Compared by WAL position (the subject is the project's, and numbering changed from
      // deployment-wide to per chain once): the last one stored is at or past this entry.
      let at = 0;
      if (last !== null) {
        try {
          const w = (JSON.parse(new TextDecoder().decode(last.data)) as { wal_seq?: unknown })
            .wal_seq;
          if (Number.isSafeInteger(w)) at = w as number;
        } catch (err) {
          void err; // a stray message on the subject: ours is not there
        }
      }
      if (at < tr.wal_seq) missing.push(tr);
    }
    if (missing.length > 0) {
      this.deps.log('warn', 'storing TRANSITIONS records a previous holder did not', {
        chain, applied_indexes: missing.map((t) => t.applied_index),
      });
      await this.publishTransitions(missing);
    }
    this.lastTrs.delete(chain);
  }

  /** Chains whose last stored record's TRANSITIONS records were looked at since start. */
  private readonly trsChecked = new Set<string>();

  /**
   * The first time this member publishes a chain: the TRANSITIONS records of the chain's last
   * stored record, to store if they are missing. Whoever stored that record may have died
   * before storing them, and a member that started from a snapshot past it never read it (so
   * `noteTransitions` did not see it). The record is taken from the stream only when it is the
   * one this member's chain head names (its content hash), never on a stray's word.
   */
  private async learnLastTransitions(chain: string): Promise<void> {
    if (this.trsChecked.has(chain)) return;
    this.trsChecked.add(chain);
    if (this.lastTrs.has(chain)) return;
    const q = this.pending.get(chain);
    const head = this.deps.replica.chainHead(chain);
    const first = q?.[0];
    const index = first !== undefined ? first.content.chain_index - 1 : head.index;
    const hash = first !== undefined ? first.content.prev_dr_hash : head.drHash;
    const appliedAfter = first !== undefined ? first.chainAppliedBefore : head.applied;
    if (index === 0 || appliedAfter === undefined) return;
    const last = await this.deps.jsm.streams.getMessage(this.deps.decisionsName, {
      last_by_subj: this.deps.subjects.dr(chain),
    });
    if (last === null) return;
    let rec: DecisionRecord;
    try {
      rec = decodeDr(last.data);
    } catch (err) {
      void err; // a stray on top of the chain: not the record the head names
      return;
    }
    if (rec.chain_index !== index || drHash(this.deps.replica.hasher, contentOf(rec)) !== hash) {
      return;
    }
    const content = contentOf(rec);
    const trs = transitionRecords(content, this.deps.replica.core.regionOf,
      appliedAfter - content.applied.length + 1);
    if (trs.length > 0) this.lastTrs.set(chain, trs);
  }

  private shift(chain: string, q: Decided[]): void {
    q.shift();
    this.pendingCount -= 1;
    if (q.length === 0) this.pending.delete(chain);
  }

  /** Step 3: start a publishing loop for each held chain with records waiting. */
  private kick(): void {
    // Chains with records waiting, every turn; chains whose last record's TRANSITIONS records
    // may be missing (taken over with nothing new to publish), every REPAIR_EVERY turns.
    this.turns += 1;
    const chains = this.turns % REPAIR_EVERY === 0
      ? new Set([...this.pending.keys(), ...this.lastTrs.keys()])
      : this.pending.keys();
    for (const chain of chains) {
      if (this.publishing.has(chain)) continue;
      if (!this.deps.holds(chain)) {
        // Not ours (or no longer): when it is again, its tail is learned afresh.
        this.tails.delete(chain);
        continue;
      }
      this.publishing.add(chain);
      const p = this.publishChain(chain)
        .catch((err: unknown) => {
          this.deps.log('warn', 'publishing a chain failed; retrying on the next turn', {
            chain, err: (err as Error).message,
          });
          this.tails.delete(chain);
        })
        .finally(() => {
          this.publishing.delete(chain);
          this.running.delete(p);
        });
      this.running.add(p);
    }
  }

  /** The chain's stored tail from the stream (its last record's index and sequence). */
  private async learnTail(chain: string): Promise<Tail | null> {
    const last = await this.deps.jsm.streams.getMessage(this.deps.decisionsName, {
      last_by_subj: this.deps.subjects.dr(chain),
    });
    if (last === null) return { index: 0, seq: 0 };
    // The fence names the subject's last message, whatever it is. The chain's last genuine
    // record is never taken from that message (a stray, or a replay of an old record, could
    // be it): it is the last one step 1 has read, once step 1 has read that far.
    if (this.lastRead < last.seq) return null;
    // Records of the chain are held (judged once its next index is decided): not read yet.
    if (this.parked.has(chain)) return null;
    const index = this.readTails.get(chain)?.index ?? this.confirmedIndex(chain);
    return { index, seq: last.seq };
  }

  /** The index of the last record of `chain` this member knows stored. */
  private confirmedIndex(chain: string): number {
    return this.deps.replica.chainHead(chain).index - (this.pending.get(chain)?.length ?? 0);
  }

  /**
   * Publish `chain`'s waiting records in order, one at a time, each fenced on the one before;
   * stop when the lease is no longer held, the queue is empty, or the stream refuses (another
   * member stored records first: re-learn the tail on the next turn and let step 1 confirm).
   */
  private async publishChain(chain: string): Promise<void> {
    // The tail is learned from the stream when this member starts publishing the chain (and
    // again after a refusal or a lost lease), then kept from each PubAck.
    if (!this.tails.has(chain)) {
      const fresh = await this.learnTail(chain);
      if (fresh === null) return;
      this.tails.set(chain, fresh);
    }
    await this.learnLastTransitions(chain);
    await this.repairTransitions(chain);
    while (!this.stopped && this.diverged === null && this.deps.holds(chain)) {
      const q = this.pending.get(chain);
      const d = q?.[0];
      const tail = this.tails.get(chain);
      if (q === undefined || d === undefined || tail === undefined) return;
      const index = d.content.chain_index;
      // Stored already (by another member): step 1 confirms it when it reads it.
      if (index <= tail.index) return;
      if (index !== tail.index + 1) {
        this.deps.log('warn', 'chain tail does not precede the next record; learning it again', {
          chain, tail: tail.index, next: index,
        });
        this.tails.delete(chain);
        return;
      }
      // This member's key must be a writer in the registry the record's entry was decided on
      // (a Writer_Rotate may have removed it): otherwise every reader would refuse the record.
      const me = { writer: this.deps.signer.signer };
      const notWriter = writerProblem(d.step.before.identities, me);
      if (notWriter !== null) {
        if (this.keyRefusedAt !== d.msg.seq) {
          this.keyRefusedAt = d.msg.seq;
          this.deps.log('error', 'this member\'s key is not a writer here; not publishing', {
            code: 'writer_not_registered', chain, wal_seq: d.msg.seq, detail: notWriter,
          });
        }
        return;
      }
      const bytes = await this.signedBytes(q);
      if (bytes === undefined || !this.deps.holds(chain) || q[0] !== d) return;
      let ack;
      try {
        ack = await this.publisher.publishFenced(
          this.deps.subjects.dr(chain),
          bytes,
          `dr:${chain}:${index}`,
          { subject: tail.seq },
          {
            'Swoosh-Outcome': d.content.outcome,
            'Swoosh-Transition': subjectToken(d.content.transition),
          },
        );
      } catch (err) {
        if (err instanceof PublishRefusedError &&
          err.errCode === JetStreamApiCodes.StreamWrongLastSequence) {
          this.deps.log('info', 'chain moved on; re-learning its tail', { chain, index });
          this.tails.delete(chain);
          return;
        }
        throw err;
      }
      if (ack.duplicate) {
        this.deps.log('info', 'record already stored by another member', { chain, index });
        this.tails.delete(chain);
        return;
      }
      // (Step 1 may have read it before the PubAck came back: then it is checked already.)
      if (ack.seq > this.lastRead) this.published.set(ack.seq, { chain, index, walSeq: d.msg.seq });
      // Stored by this member: its TRANSITIONS records are this member's to store, before the
      // chain's next record (so only a chain's last record can lack them after a crash).
      this.tails.set(chain, { index, seq: ack.seq });
      const regionOf = this.deps.replica.core.regionOf;
      const trs = transitionRecords(d.content, regionOf, d.chainAppliedBefore + 1);
      const crashAt = this.deps.crashAt?.get('between_dr_and_transitions');
      if (crashAt !== undefined && d.msg.seq >= crashAt && trs.length > 0) {
        crashNow('between_dr_and_transitions', d.msg.seq, { chain });
      }
      // A holder that lost the chain meanwhile (paused past its lease) leaves them to the new
      // holder's repair, and remembers them for its own if it holds the chain again.
      if (this.deps.holds(chain)) await this.publishTransitions(trs);
      else if (trs.length > 0) this.lastTrs.set(chain, trs);
      // Step 1 may have read it already (and confirmed it); otherwise confirm it here.
      if (q[0] === d) {
        this.shift(chain, q);
        this.confirmed(d, ack.seq, true);
        this.advance();
      }
    }
  }

  /**
   * The wire bytes of the first waiting record of a chain; signs up to SIGN_AHEAD waiting
   * records in one call (one round trip to the crypto pool, not one per record).
   */
  private async signedBytes(q: readonly Decided[]): Promise<Uint8Array | undefined> {
    const first = q[0];
    if (first === undefined) return undefined;
    const have = this.signed.get(first);
    if (have !== undefined) return have;
    const batch = q.slice(0, SIGN_AHEAD).filter((d) => !this.signed.has(d));
    const bytes = await signRecords(this.deps.pool, this.deps.signer, batch.map((d) => d.text));
    batch.forEach((d, i) => {
      const b = bytes[i];
      if (b !== undefined) this.signed.set(d, b);
    });
    return this.signed.get(first);
  }

  /** TRANSITIONS records of a stored record, deduplicated by applied index. */
  private async publishTransitions(trs: readonly TransitionRecord[]): Promise<void> {
    await Promise.all(trs.map((tr) => this.publisher.publishFenced(
      this.deps.subjects.transitions(tr.project, tr.region, subjectToken(tr.transition)),
      enc.encode(jcs(tr)),
      `tr:${tr.project}:${tr.applied_index}`,
      null,
    )));
  }

  // ---- Deciding held chains only (docs/adr/0006-deciding-held-chains.md) ----

  /** DECISIONS seq of the deployment chain's records by index (pruned at each snapshot). */
  private readonly depSeqs = new Map<number, number>();
  /** Per chain: the last record confirmed (decided here and found stored), and where. */
  private readonly lastConfirmed = new Map<string, Tail>();
  /** When `maybeHeldSnapshot` last found it could not write yet (it looks again a second later). */
  private heldSnapshotBlockedAt = 0;

  /**
   * The deployment chain's holder snapshots what it has, every `every` entries: the
   * deployment's document at the oldest position it still holds (before any entry it queued or
   * decided without the record being stored yet), and each project's document at its own
   * position, with the WAL seq its entries are covered to (ADR 0006, "Restart"). A member that
   * starts from it replays the WAL from that position, passing over each project's covered
   * entries. Queues older than ten intervals are decided in place so the position moves on.
   */
  private async maybeHeldSnapshot(
    snap: NonNullable<ChainMemberDeps['snapshots']>,
  ): Promise<void> {
    const r = this.deps.replica;
    if (r.lastSeq - this.lastSnapshotSeq < snap.every) return;
    // A snapshot that could not be written yet is looked at again a second later, not every
    // turn (finding the position visits every queue).
    const now = Date.now();
    if (now - this.heldSnapshotBlockedAt < 1000) return;
    const blocked = (): void => {
      this.heldSnapshotBlockedAt = now;
    };
    r.forgetCoveredBehind();
    if (r.coveredAhead().size > 0) {
      blocked();
      return;
    }
    let at = { seq: r.lastSeq, deployment: r.deployment, head: r.chainHead(DEPLOYMENT_CHAIN),
      project: null as string | null };
    const earlier = (seq: number, deployment: State, head: ChainHead, project: string): void => {
      if (seq < at.seq) at = { seq, deployment, head, project };
    };
    for (const [chain, q] of this.pending) {
      const d = q[0];
      if (d === undefined) continue;
      earlier(d.msg.seq - 1, d.before.deployment, d.before.deploymentHead, chain);
    }
    for (const p of r.deferredProjects()) {
      const e = r.queueOf(p)[0];
      if (e !== undefined) earlier(e.msg.seq - 1, e.deployment, e.deploymentHead, p);
    }
    if (r.lastSeq - at.seq > 10 * snap.every) {
      // Old queues hold the position back: decide them all (their records then wait to be
      // stored, and a later snapshot moves on once they are).
      const old = r.lastSeq - 10 * snap.every;
      for (const p of [...r.deferredProjects()]) {
        const e = r.queueOf(p)[0];
        if (e !== undefined && e.msg.seq < old && !this.pending.has(p)) {
          await this.decideQueue(p, false);
        }
      }
      blocked();
      return;
    }
    const drSeq = this.depSeqs.get(at.head.index);
    if (at.head.index === 0 || drSeq === undefined || at.seq <= this.lastSnapshotSeq) {
      blocked();
      return;
    }
    this.lastSnapshotSeq = r.lastSeq;
    for (const i of [...this.depSeqs.keys()]) if (i < at.head.index) this.depSeqs.delete(i);
    const projects = new Map<string, State>();
    const chains = new Map<string, ChainHead | HeldChainHead>([
      // Its record's DECISIONS seq, where a member starting here resumes the chain (`tails`).
      [DEPLOYMENT_CHAIN, { ...at.head, applied: at.head.applied ?? 0, covered: 0, dr_seq: drSeq }],
    ]);
    let coldHlc: string | null = null;
    for (const p of Object.keys(at.deployment.projects).sort()) {
      const d = this.pending.get(p)?.[0];
      const cold = d === undefined ? r.coldOf(p) : undefined;
      if (d === undefined && cold === undefined && !r.isResident(p) &&
        r.chainHead(p).index === 0) {
        // No record yet and out of memory: rebuilt from its configuration (`configs`).
        const first = r.queueOf(p)[0];
        chains.set(p, { index: 0, drHash: r.chainHead(p).drHash, applied: 0,
          covered: first !== undefined ? first.msg.seq - 1 : r.lastSeq, dr_seq: 0, fresh: true });
        continue;
      }
      if (cold !== undefined) {
        // Out of memory: the snapshot names its head and document hash, not the document.
        const head = r.chainHead(p);
        const first = r.queueOf(p)[0];
        const t = [this.readTails.get(p), this.lastConfirmed.get(p)]
          .find((x) => x?.index === head.index);
        chains.set(p, { index: head.index, drHash: head.drHash, applied: head.applied ?? 0,
          covered: first !== undefined ? first.msg.seq - 1 : r.lastSeq, dr_seq: t?.seq ?? 0,
          cold_hash: cold.postHash, hlc_last: cold.hlc });
        coldHlc = newerHlc(coldHlc, cold.hlc);
        continue;
      }
      const doc = d !== undefined ? d.before.doc : r.docOf(p);
      const head: ChainHead = d !== undefined
        ? { index: d.content.chain_index - 1, drHash: d.content.prev_dr_hash,
          applied: d.chainAppliedBefore }
        : r.chainHead(p);
      const first = r.queueOf(p)[0];
      const covered = d !== undefined ? d.msg.seq - 1
        : first !== undefined ? first.msg.seq - 1 : r.lastSeq;
      if (doc === undefined) return;
      const t = [this.readTails.get(p), this.tails.get(p)].find((x) => x?.index === head.index);
      projects.set(p, doc);
      chains.set(p, { index: head.index, drHash: head.drHash, applied: head.applied ?? 0,
        covered, dr_seq: t?.seq ?? 0 });
    }
    const world: WorldState = { deployment: at.deployment, projects, chains, appliedTotal: 0 };
    try {
      const wal = await this.deps.jsm.streams.getMessage(this.deps.walName, { seq: at.seq });
      if (wal === null) throw new Error(`WAL entry ${at.seq} is gone`);
      const core = r.core;
      const meta: SnapshotMeta = {
        state_hash: worldHash(core, world),
        facts_hash: core.hashes(at.deployment).facts,
        wal_seq: at.seq,
        wal_entry_hash: walEntryHash(wal.subject, wal.data),
        hlc_last: newerHlc(latestHlc(world), coldHlc),
        chart_hash: core.chartHash,
        dr_hash: at.head.drHash,
        applied_count: 0,
        taken_at_ms: Date.now(),
        dr_seq: drSeq,
        dr_from: drSeq,
        held: true,
      };
      snap.revision = await snap.store.headRevision();
      // Only the configurations of projects out of memory as fresh, now (projects created
      // since `at` included): the map never outgrows the distinct configurations in use.
      r.keepConfigs(r.freshConfigHashes());
      const doc = { ...worldDocOf(world), configs: Object.fromEntries(r.freshConfigs()) };
      const w = await snap.store.write(meta, doc, snap.revision);
      snap.revision = w.revision;
      snap.onWritten({ seq: at.seq, hlc: meta.hlc_last, revision: w.revision, bytes: w.bytes,
        encoding: w.encoding });
    } catch (err) {
      snap.onWritten({ seq: at.seq, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** The project of a record subject when this member queues it rather than decides it. */
  private deferredChainOf(subject: string): string | null {
    if (this.deps.held === undefined || !subject.startsWith(this.drPrefix)) return null;
    const chain = subject.slice(this.drPrefix.length);
    return chain !== DEPLOYMENT_CHAIN && this.deps.replica.isDeferred(chain) ? chain : null;
  }

  /** An entry was queued for `project`: look its snapshot up once the queue is long enough. */
  private queued(project: string): void {
    const held = this.deps.held;
    if (held === undefined) return;
    const n = this.deps.replica.queueOf(project).length;
    if (n >= (this.pruneAt.get(project) ?? 2 * held.snapshotEvery)) this.pruneWanted.add(project);
    // No snapshot dropped it (the holder writes none: gone, or over the payload limit): decide
    // it in place, so one queue never grows past this (a read of it verifies it all).
    if (n >= QUEUE_INTERVALS_MAX * held.snapshotEvery) this.decideWanted.add(project);
  }

  /** Queued projects whose snapshot is to be looked up (see `pruneQueues`). */
  private readonly pruneWanted = new Set<string>();
  /** Queued projects whose queue is to be decided in place (see `queued`). */
  private readonly decideWanted = new Set<string>();

  /**
   * Act on a change of the buckets owned: queue the projects of buckets lost (their records
   * still waiting here stay, to be confirmed when their new holder stores them), and take up
   * the projects of buckets gained (`takeUp`).
   */
  private async syncOwned(): Promise<void> {
    const held = this.deps.held;
    if (held === undefined) return;
    const epoch = held.ownEpoch();
    if (epoch === this.ownEpochSeen) return;
    this.ownEpochSeen = epoch;
    const r = this.deps.replica;
    const take: string[] = [];
    for (const p of r.projectIds()) {
      const owned = held.owns(p);
      if (owned && r.isDeferred(p) && r.coversAhead(p)) {
        // Its document is ahead of this member's position (it started from a snapshot): taken
        // up once the member has passed that position; look again next turn.
        this.ownEpochSeen = Number.NaN;
      } else if (owned && r.isDeferred(p)) {
        // An evicted project with nothing queued stays out of memory until an entry comes.
        if (r.coldOf(p) === undefined || r.queueOf(p).length > 0) take.push(p);
      } else if (!owned && !r.isDeferred(p)) this.deferChain(p);
    }
    for (const p of take) {
      await this.takeUp(p);
      if (this.diverged !== null) return;
    }
  }

  /**
   * Stop deciding `project` (its bucket was lost). Records of it read ahead of this member's
   * decisions, or held back, are forgotten and the chain's read position goes back to its last
   * record confirmed here: they are read again when the project is taken up (then against the
   * records its queue decides), and never mistaken for strays meanwhile.
   */
  private deferChain(project: string): void {
    this.deps.replica.defer(project);
    this.snapWanted.delete(project);
    const ahead = this.ahead.get(project);
    if (ahead !== undefined) {
      this.aheadCount -= ahead.size;
      this.ahead.delete(project);
    }
    const parked = this.parked.get(project);
    if (parked !== undefined) {
      this.parkedCount -= parked.length;
      this.parked.delete(project);
    }
    const last = this.lastConfirmed.get(project);
    if (last === undefined) this.readTails.delete(project);
    else this.readTails.set(project, last);
  }

  /**
   * Start deciding `project`: decide its queued entries (verified on the pool, each against the
   * deployment's document at its position), queue their records, and read the project's stored
   * records this member passed over, which confirms (or, compared byte for byte, refutes)
   * every one of them; those not stored yet are this member's to publish.
   */
  private async takeUp(project: string): Promise<void> {
    const n = await this.decideQueue(project, true);
    this.tails.delete(project);
    this.heldCounts.taken_up += 1;
    this.heldCounts.entries_taken_up += n.decided;
    this.deps.log('info', 'taking up a project', {
      project, decided: n.decided, records_read: n.read,
      chain_index: this.deps.replica.chainHead(project).index,
    });
  }

  /**
   * Decide `project`'s queue (verified on the pool) and wait for the records: they join the
   * project's backlog, and its stored records this member passed over are judged against them.
   * Whether the project then stays queued (`live` false) or not, nothing it decided is ever
   * lost: a record not stored yet waits here until its chain's holder stores it (or this member
   * does, once it holds the chain).
   */
  private async decideQueue(
    project: string,
    live: boolean,
  ): Promise<{ decided: number; read: number }> {
    const r = this.deps.replica;
    if (r.coldOf(project) !== undefined && r.queueOf(project).length > 0) {
      // Not loaded: its queue waits (bounded like any other); loading is tried when needed.
      if (!(await this.load(project))) return { decided: 0, read: 0 };
      if (live && r.coversAhead(project)) {
        // Loaded from a snapshot past this member's position: taken up once it gets there.
        this.ownEpochSeen = Number.NaN;
        return { decided: 0, read: 0 };
      }
    }
    const prepared = r.queueOf(project).map((e) => Replica.prepare(e.msg));
    const verdicts = await this.verdicts(prepared.map(({ prepared: p }) =>
      p.kind === 'final' ? [] : p.checks));
    const ds = r.materialize(project, verdicts, live, prepared);
    if (ds.length > 0) {
      const waiting = this.pending.get(project) ?? [];
      for (const d of ds) waiting.push(d);
      this.pending.set(project, waiting);
      this.pendingCount += ds.length;
    }
    this.pruneAt.delete(project);
    const read = await this.readChainRecords(project);
    return { decided: ds.length, read };
  }

  /** Judge `chain`'s stored records after the last one read, up to where step 1 has read. */
  private async readChainRecords(chain: string): Promise<number> {
    const subject = this.deps.subjects.dr(chain);
    let from = (this.readTails.get(chain)?.seq ?? 0) + 1;
    let n = 0;
    while (from <= this.lastRead && this.diverged === null) {
      // STREAM.MSG.GET honours `next_by_subj` since nats-server 2.9 (see http/decisions.ts).
      const req: SeqMsgRequest & NextMsgRequest = { seq: from, next_by_subj: subject };
      const sm = await this.deps.jsm.streams.getMessage(this.deps.decisionsName, req);
      if (sm === null || sm.seq > this.lastRead) break;
      this.judge(fromStoredMsg(sm));
      n += 1;
      from = sm.seq + 1;
    }
    return n;
  }

  /**
   * Queued entries use more than their bound: decide the longest queue now (its project stays
   * queued, its document moved on). What bounds memory when a project's holder writes no
   * snapshot (gone, or its document is over the payload limit).
   */
  private async decideLongestQueue(): Promise<void> {
    const r = this.deps.replica;
    let longest: string | null = null;
    let most = 0;
    for (const p of r.deferredProjects()) {
      const n = r.queueOf(p).length;
      if (n > most && !this.pending.has(p) && !this.loadBlocked(p)) {
        most = n;
        longest = p;
      }
    }
    if (longest === null || this.pending.has(longest)) return;
    const n = await this.decideQueue(longest, false);
    this.deps.log('warn', 'queued entries over their bound; decided the longest queue', {
      project: longest, entries: n.decided, queued_bytes: r.queuedBytes,
    });
  }

  /**
   * Per-project snapshots: write those due for the chains this member holds, and look up the
   * snapshots of long queues to drop what they cover. Bounded per turn.
   */
  private async projectSnapshots(): Promise<void> {
    const held = this.deps.held;
    if (held === undefined) return;
    let written = 0;
    for (const [chain, w] of [...this.snapWanted]) {
      if (written >= PROJECT_SNAPSHOTS_PER_TURN) break;
      this.snapWanted.delete(chain);
      if (!this.deps.holds(chain)) continue;
      written += 1;
      await this.writeProjectSnapshot(chain, w.d, w.seq);
    }
    let looked = 0;
    for (const p of [...this.pruneWanted]) {
      if (looked >= PRUNES_PER_TURN) break;
      this.pruneWanted.delete(p);
      looked += 1;
      await this.pruneQueue(p);
    }
    for (const p of [...this.decideWanted]) {
      if (looked >= PRUNES_PER_TURN) break;
      this.decideWanted.delete(p);
      const r = this.deps.replica;
      if (!r.isDeferred(p) || this.pending.has(p) ||
        r.queueOf(p).length < QUEUE_INTERVALS_MAX * held.snapshotEvery) continue;
      looked += 1;
      const n = await this.decideQueue(p, false);
      this.deps.log('warn', 'a queue grew past its bound with no snapshot to drop it; decided it', {
        project: p, entries: n.decided,
      });
    }
  }

  private async writeProjectSnapshot(chain: string, d: Decided, seq: number): Promise<void> {
    const held = this.deps.held;
    if (held === undefined) return;
    const core = this.deps.replica.core;
    const doc = d.step.stored;
    const snap: ProjectSnapshot = {
      v: 1,
      project: chain,
      state: doc,
      state_hash: d.content.state_post_hash,
      wal_seq: d.msg.seq,
      wal_entry_hash: d.content.wal_entry_hash,
      hlc_last: doc.clock.hlc_last,
      chart_hash: core.chartHash,
      chain_index: d.content.chain_index,
      dr_hash: d.hash,
      dr_seq: seq,
      applied: d.chainAppliedBefore + d.content.applied.length,
      taken_at_ms: Date.now(),
    };
    try {
      const w = await held.projectSnapshots.write(snap, this.isGenuine(chain));
      if (w.ok) {
        this.snapIndex.set(chain, snap.chain_index);
        held.onProjectSnapshot(chain, 'written');
      } else {
        // Too large: try again only a full interval later.
        this.snapIndex.set(chain, snap.chain_index);
        held.onProjectSnapshot(chain, 'failed');
        this.deps.log('warn', 'project snapshot not written', { project: chain, reason: w.reason });
      }
    } catch (err) {
      held.onProjectSnapshot(chain, 'failed');
      this.deps.log('warn', 'writing a project snapshot failed; trying again later', {
        project: chain, err: (err as Error).message,
      });
    }
  }

  /** Adopt `project`'s snapshot when it is genuine and covers queued entries. */
  private async pruneQueue(project: string): Promise<void> {
    const held = this.deps.held;
    const r = this.deps.replica;
    if (held === undefined || !r.isDeferred(project) || this.pending.has(project)) return;
    // Looked up again only after another interval of entries, whatever the outcome.
    this.pruneAt.set(project, r.queueOf(project).length + held.snapshotEvery);
    let why: string | null;
    let snap: ProjectSnapshot | null = null;
    try {
      snap = await held.projectSnapshots.read(project);
      if (snap === null) return;
      if (snap.chain_index <= r.chainHead(project).index) return;
      why = await this.snapshotProblem(project, snap);
    } catch (err) {
      why = `unreadable: ${(err as Error).message}`;
    }
    if (why !== null || snap === null) {
      held.onProjectSnapshot(project, 'failed');
      this.deps.log('warn', 'project snapshot not used', { project, reason: why });
      return;
    }
    // Taken past this member's position: the entries it covers are not queued yet, so they
    // are dropped as they arrive (the queue keeps only entries after `wal_seq`).
    if (snap.wal_seq > r.lastSeq) return;
    if (r.adopt(project, snap.state, headOf(snap), snap.wal_seq)) {
      this.readTails.set(project, { index: snap.chain_index, seq: snap.dr_seq });
      this.lastConfirmed.set(project, { index: snap.chain_index, seq: snap.dr_seq });
      this.heldCounts.snapshots_adopted += 1;
      held.onProjectSnapshot(project, 'adopted');
    }
  }

  // ---- Residency: a bounded set of project documents in memory (ADR 0007) ----

  /** Projects by last use here, least recent first (a Map keeps insertion order). */
  private readonly used = new Map<string, true>();
  private lastSweep = 0;
  /** When a failed load of a project was last logged. */
  private readonly loadFailLogged = new Map<string, number>();
  /** When loading a project last failed (not tried again for LOAD_RETRY_MS). */
  private readonly loadFailedAt = new Map<string, number>();

  /** True while `project` is cold and its last load failed less than LOAD_RETRY_MS ago. */
  private loadBlocked(project: string): boolean {
    const at = this.loadFailedAt.get(project);
    return at !== undefined && this.deps.replica.coldOf(project) !== undefined &&
      Date.now() - at < LOAD_RETRY_MS;
  }

  private touch(project: string): void {
    this.used.delete(project);
    this.used.set(project, true);
  }

  /** Entries came for an evicted project of a bucket held here: load it and decide them. */
  private async wake(project: string): Promise<void> {
    await this.decideQueue(project, true);
    if (this.deps.replica.isDeferred(project)) return; // not loaded: tried at its next entry
    this.tails.delete(project);
    this.touch(project);
  }

  /**
   * Past `residentMax` documents in memory, evict the least recently used, a bounded number of
   * looks per sweep. A project with no record yet is simply dropped (rebuilt from its
   * configuration); any other needs a copy of its document at its chain head in its project
   * snapshot first (the holder writes it; any other member finds it there, or keeps the
   * document), and goes out of memory deferred, so its next entries wait in its queue until it
   * is loaded. Never the default project, nor one with records waiting to be stored.
   */
  private async evictIdle(): Promise<void> {
    const held = this.deps.held;
    const r = this.deps.replica;
    if (held === undefined || r.residentCount <= held.residentMax) return;
    const now = Date.now();
    if (now - this.lastSweep < EVICT_SWEEP_MS) return;
    this.lastSweep = now;
    // Never used here first (bases of queued projects), then by last use.
    const order: string[] = [];
    for (const p of r.residentIds()) if (!this.used.has(p)) order.push(p);
    for (const p of this.used.keys()) order.push(p);
    let excess = r.residentCount - held.residentMax;
    let looks = 0;
    let kvOps = 0;
    for (const p of order) {
      if (excess <= 0 || looks >= EVICT_LOOKS_PER_SWEEP || this.diverged !== null) break;
      if (!r.isResident(p)) {
        this.used.delete(p);
        continue;
      }
      looks += 1;
      if (await this.evictOne(p, () => kvOps++ < EVICT_KV_PER_SWEEP)) {
        excess -= 1;
        this.used.delete(p);
        this.heldCounts.evicted += 1;
        held.onResidency('evicted');
      } else {
        // Kept for now: to the back of the order, so the next sweeps look at others first
        // (a project that cannot go yet never holds the sweep on the same few).
        this.touch(p);
      }
    }
  }

  /**
   * Evict `p` if it may go now (see `evictIdle`); `kv()` grants one snapshot read or write of
   * the sweep's budget. True when it went.
   */
  private async evictOne(p: string, kv: () => boolean): Promise<boolean> {
    const r = this.deps.replica;
    if (p === DEFAULT_PROJECT || this.pending.has(p) || r.coversAhead(p)) return false;
    const head = r.chainHead(p);
    if (head.index > 0) {
      if (!kv()) return false;
      if (r.isDeferred(p) && r.queueOf(p).length > 0) {
        // Queued entries: only a snapshot that covers them all lets the document go.
        await this.pruneQueue(p);
        if (r.queueOf(p).length > 0 || !r.isResident(p)) return false;
      }
      if (!(await this.copyAtHead(p))) return false;
      if (this.pending.has(p) || r.chainHead(p).index !== head.index) return false;
      if (!r.isDeferred(p)) this.deferChain(p);
    }
    const out = r.evict(p);
    if (out === 'fresh' || out === 'cold') return true;
    this.deps.log('warn', 'project document kept in memory', { project: p, reason: out });
    return false;
  }

  /**
   * True when `<P>_SNAPSHOTS` holds `project`'s document at its chain head (what a member that
   * evicts it loads again): found there with the document's hash, or written now by the holder
   * of its chain once its last record is stored.
   */
  private async copyAtHead(project: string): Promise<boolean> {
    const held = this.deps.held;
    const r = this.deps.replica;
    const doc = r.docOf(project);
    if (held === undefined || doc === undefined) return false;
    const head = r.chainHead(project);
    const postHash = r.core.hashes(doc).head;
    try {
      let cur: ProjectSnapshot | null = null;
      try {
        cur = await held.projectSnapshots.read(project);
      } catch (err) {
        void err; // unreadable: written anew below (the write checks what is stored again)
      }
      if (cur !== null && cur.chain_index === head.index && cur.dr_hash === head.drHash &&
        typeof cur.state === 'object' && cur.state !== null &&
        r.core.hashes(cur.state).head === postHash) {
        return true;
      }
      const last = this.lastConfirmed.get(project);
      if (!this.deps.holds(project) || last === undefined || last.index !== head.index) {
        return false;
      }
      const stored = await this.deps.jsm.streams.getMessage(this.deps.decisionsName,
        { seq: last.seq });
      const rec = stored === null ? null : decodeDr(stored.data);
      if (rec === null || rec.project !== project || rec.chain_index !== head.index ||
        drHash(r.hasher, contentOf(rec)) !== head.drHash || rec.state_post_hash !== postHash) {
        return false;
      }
      const w = await held.projectSnapshots.write({
        v: 1, project, state: doc, state_hash: postHash, wal_seq: rec.wal_seq,
        wal_entry_hash: rec.wal_entry_hash, hlc_last: doc.clock.hlc_last,
        chart_hash: r.core.chartHash, chain_index: head.index, dr_hash: head.drHash,
        dr_seq: last.seq, applied: head.applied ?? 0, taken_at_ms: Date.now(),
      }, this.isGenuine(project));
      if (!w.ok) return false;
      this.snapIndex.set(project, head.index);
      held.onProjectSnapshot(project, 'written');
      return true;
    } catch (err) {
      this.deps.log('warn', 'copying a project to its snapshot failed; keeping it in memory', {
        project, err: (err as Error).message,
      });
      return false;
    }
  }

  /**
   * An evicted project's document from `<P>_SNAPSHOTS`: the copy at its chain head (newest
   * revision, else back through the key's history) that hashes to what was evicted, or a newer
   * snapshot whose record verifies. Never changes the replica.
   */
  private async fetchCold(project: string): Promise<
    | { readonly kind: 'same'; readonly doc: State }
    | { readonly kind: 'newer'; readonly snap: ProjectSnapshot }
    | { readonly kind: 'none'; readonly why: string }
  > {
    const held = this.deps.held;
    const r = this.deps.replica;
    const head = r.chainHead(project);
    if (held === undefined) return { kind: 'none', why: 'not a member deciding held chains' };
    let newest: ProjectSnapshot | null = null;
    let why = 'no snapshot';
    try {
      newest = await held.projectSnapshots.read(project);
    } catch (err) {
      why = `its snapshot is unreadable (${(err as Error).message})`;
    }
    if (newest !== null && Number.isSafeInteger(newest.chain_index) &&
      newest.chain_index > head.index) {
      const problem = await this.snapshotProblem(project, newest);
      if (problem === null) return { kind: 'newer', snap: newest };
      why = `its newest snapshot is refused (${problem})`;
    }
    const problem = (s: ProjectSnapshot): string | null =>
      typeof s.state === 'object' && s.state !== null ? r.coldProblem(project, s.state)
        : 'no document';
    try {
      // The newest revision when it is the copy at the head; else back through the history
      // (a newer or foreign write may have replaced it).
      const fits = newest !== null && newest.chain_index === head.index &&
        newest.dr_hash === head.drHash ? newest : null;
      const refused = fits === null ? null : problem(fits);
      if (refused !== null) {
        why = `its snapshot at chain index ${head.index} is refused (${refused})`;
      }
      const same = fits !== null && refused === null ? fits
        : await held.projectSnapshots.atIndex(project, head.index, head.drHash,
          (s) => problem(s) === null);
      if (same !== null) return { kind: 'same', doc: same.state };
    } catch (err) {
      why = `reading its snapshot history failed (${(err as Error).message})`;
    }
    return {
      kind: 'none', why: `no usable copy of ${project} at chain index ${head.index}: ${why}`,
    };
  }

  /** Load an evicted project's document (`fetchCold`). False, logged and counted, if none. */
  private async load(project: string): Promise<boolean> {
    const held = this.deps.held;
    const r = this.deps.replica;
    if (held === undefined || r.coldOf(project) === undefined) return true;
    // A project whose copy is gone is not looked for again at every entry or bound check.
    if (this.loadBlocked(project)) return false;
    const got = await this.fetchCold(project);
    if (r.coldOf(project) === undefined) return true; // loaded meanwhile
    let why: string | null = null;
    if (got.kind === 'newer') {
      const s = got.snap;
      if (r.adopt(project, s.state, headOf(s), s.wal_seq)) {
        if (s.wal_seq > r.lastSeq) r.coverUpTo(project, s.wal_seq);
        this.readTails.set(project, { index: s.chain_index, seq: s.dr_seq });
        this.lastConfirmed.set(project, { index: s.chain_index, seq: s.dr_seq });
        this.heldCounts.snapshots_adopted += 1;
      } else {
        why = 'its newer snapshot could not be adopted';
      }
    } else if (got.kind === 'same') {
      // The evicted hash came from this member's own document, or from a world snapshot: the
      // head's record, when its position is known, must have that post-state too.
      why = await this.headRecordProblem(project);
      if (why === null) why = r.warm(project, got.doc);
    } else {
      why = got.why;
    }
    if (why !== null) {
      this.loadFailedAt.set(project, Date.now());
      this.heldCounts.load_failed += 1;
      held.onResidency('load_failed');
      // Tried again at each of its entries: said once a minute per project.
      const now = Date.now();
      if (now - (this.loadFailLogged.get(project) ?? 0) >= 60_000) {
        this.loadFailLogged.set(project, now);
        this.deps.log('error', 'an evicted project could not be loaded; its entries wait', {
          code: 'project_unavailable', project, reason: why,
          hint: 'see docs/operations.md "Evicted projects"',
        });
      }
      return false;
    }
    this.loadFailLogged.delete(project);
    this.loadFailedAt.delete(project);
    this.heldCounts.loaded += 1;
    held.onResidency('loaded');
    this.touch(project);
    return true;
  }

  /**
   * A project as readers see it when its document is out of memory: loaded from its snapshot
   * for this read only (the replica is not changed, so reads never fill memory), with its
   * queued entries decided on top. Throws `SwooshError` `project_unavailable` when no copy is
   * usable.
   */
  async readCold(project: string): Promise<State | null> {
    const r = this.deps.replica;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (r.coldOf(project) === undefined) return r.view(project);
      const at = r.chainHead(project).index;
      const got = await this.fetchCold(project);
      if (r.coldOf(project) === undefined) return r.view(project);
      // Loaded, decided and evicted again meanwhile: what was fetched is for another head.
      if (r.chainHead(project).index !== at) continue;
      if (got.kind === 'none') {
        throw new SwooshError('project_unavailable', `project ${project}: ${got.why}`, true);
      }
      if (got.kind === 'newer' && got.snap.wal_seq > r.lastSeq) {
        throw new SwooshError('project_unavailable', `project ${project}: its snapshot is ` +
          `ahead of this member (WAL seq ${got.snap.wal_seq}, at ${r.lastSeq}); retry in a ` +
          'moment', true);
      }
      return got.kind === 'same'
        ? r.viewFrom(project, got.doc, 0)
        : r.viewFrom(project, got.snap.state, got.snap.wal_seq);
    }
    throw new SwooshError('project_unavailable',
      `project ${project}: it moved on during every read; try again`, true);
  }

  /**
   * Why the record at `project`'s chain head (when this member knows its DECISIONS seq) does
   * not vouch for the evicted document's hash, or null.
   */
  private async headRecordProblem(project: string): Promise<string | null> {
    const r = this.deps.replica;
    const cold = r.coldOf(project);
    const head = r.chainHead(project);
    const at = this.lastConfirmed.get(project);
    if (cold === undefined || at === undefined || at.index !== head.index || at.seq <= 0) {
      return null;
    }
    try {
      const stored = await this.deps.jsm.streams.getMessage(this.deps.decisionsName,
        { seq: at.seq });
      const rec = stored === null ? null : decodeDr(stored.data);
      if (rec === null || rec.project !== project || rec.chain_index !== head.index ||
        drHash(r.hasher, contentOf(rec)) !== head.drHash) {
        return `DECISIONS seq ${at.seq} is not ${project}'s record at index ${head.index}`;
      }
      return rec.state_post_hash === cold.postHash ? null
        : `its record's post-state is ${rec.state_post_hash}, not the evicted ${cold.postHash}`;
    } catch (err) {
      return `its head record is unreadable (${(err as Error).message})`;
    }
  }

  /** Whether a stored snapshot of `project` is one its record vouches for. */
  private isGenuine(project: string): (s: ProjectSnapshot) => Promise<boolean> {
    return async (s) => (await this.snapshotProblem(project, s)) === null;
  }

  /** Why `snap` (newer than what this member holds) cannot be trusted, or null. */
  private async snapshotProblem(project: string, snap: ProjectSnapshot): Promise<string | null> {
    const r = this.deps.replica;
    try {
      const stored = Number.isSafeInteger(snap.dr_seq) && snap.dr_seq > 0
        ? await this.deps.jsm.streams.getMessage(this.deps.decisionsName, { seq: snap.dr_seq })
        : null;
      let rec: DecisionRecord | null = null;
      if (stored !== null && stored.subject === this.deps.subjects.dr(project)) {
        try {
          rec = decodeDr(stored.data);
        } catch (err) {
          void err; // not a record: refused below as "no record"
        }
      }
      return projectSnapshotProblem(r.core, r.hasher, r.verifier, r.deployment.identities,
        project, snap, rec);
    } catch (err) {
      return `unreadable: ${(err as Error).message}`;
    }
  }

  /** The deployment chain's name, for callers that map chains to leases. */
  static readonly DEPLOYMENT = DEPLOYMENT_CHAIN;
}
