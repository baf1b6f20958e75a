/**
 * The writer loop — the imperative shell around the core. Numbered steps, per micro-batch:
 *
 *  1. take a micro-batch from the WAL's durable pull consumer (bounded count and wait);
 *  2. drop what is already decided (a redelivery after a failover) and fill any gap with a
 *     direct get, so entries are decided strictly in WAL order;
 *  3. decode every envelope and verify every signature (envelopes and council votes) on the
 *     crypto pool's worker threads — a pure function of the bytes, so the verdicts are the
 *     ones any replica computes; then, on this thread and in order, decide + evolve
 *     in the entry's chain (core.stepChain) and build each decision record's content; then sign
 *     the records on the pool;
 *  4. publish every record to its chain's subject `<prefix>.dr.<chain>` with
 *     Nats-Expected-Last-Sequence = WAL seq − 1 and Nats-Msg-Id = dr:<chain>:<chain index>
 *     (the fence: DR seq always equals WAL seq while one writer decides every chain, and a
 *     second writer's publish is refused), and each applied transition to TRANSITIONS fenced
 *     the same way by the deployment's applied count. The batch's first record is awaited
 *     alone: it proves the log ends exactly where this replica does. Only then is the rest
 *     pipelined, acks awaited together (pipelined without that proof, a stale ex-writer's
 *     later records could land on a tail the new writer has not reached yet, each one
 *     individually passing the fence);
 *  5. only then ack the WAL messages (nothing is acked before its outputs are stored);
 *  6. snapshot every N decisions, and right after a decision that says so (`snapshot`: it applied
 *     a transition the chart marks `snapshot: true`, today the one entering REVERB).
 *
 * Pipelining: steps 1–3 of batch N+1 run while batch N's publishes (step 4) are in flight;
 * batch N+1 publishes nothing until every output of batch N is stored and judged. So the
 * fence is exactly as strict as one batch at a time, and the decisions of N+1 are computed
 * on the state after N — if N turns out fenced, the replica goes back to before N and
 * nothing of N+1 was sent. The replica may therefore run one batch ahead of what is stored;
 * `storedPosition()` is what is known stored.
 *
 * When the consumer delivers nothing, the writer also decides whatever the WAL holds past its
 * replica: entries delivered to an ex-writer's pull request (a paused or dead process) stay
 * with it until ack_wait, and nothing later may arrive to reveal the gap.
 * A refused publish (wrong last sequence, or a duplicate written by someone else) means
 * another writer holds the log: FencedError, and the instance steps down to follower.
 */
import { writeSync } from 'node:fs';
import {
  JetStreamApiCodes,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { FencedPublisher, PublishRefusedError, type FencedAck } from './fenced-publisher.js';
import type { NodeSigner } from '../../crypto/node-sign.js';
import {
  subjectToken,
  transitionRecords,
  writerProblem,
  type TransitionRecord,
} from '../../protocol/decision-record.js';
import { batchVerdicts, signRecords, type CryptoPool } from './crypto-pool.js';
import type { SigCheck } from '../../protocol/entry.js';
import { MessagePump, StreamReader } from '../../protocol/batch-reader.js';
import {
  Replica,
  worldDocOf,
  type Decided,
  type ReplicaPosition,
} from './replica.js';
import { fromJsMsg, fromStoredMsg, type WalMessage } from '../../protocol/wal-message.js';
import { snapshotMeta, type SnapshotOutcome, type SnapshotStore } from './snapshots.js';
import { jcs } from '../../core/index.js';
import type { OperatingErrorCode } from '../../protocol/errors.js';

/** Another writer holds the log. */
export class FencedError extends Error {
  readonly code = 'fenced' satisfies OperatingErrorCode;
  constructor(readonly seq: number, detail: string) {
    super(`fenced at WAL seq ${seq}: ${detail}; another writer holds the log`);
    this.name = 'FencedError';
  }
}

/**
 * This writer's key is not a writer in the registry the next entry is decided on (never
 * registered, or removed by a Writer_Rotate): it stores what it decided before and stops.
 */
export class WriterNotRegisteredError extends Error {
  readonly code = 'writer_not_registered' satisfies OperatingErrorCode;
  constructor(readonly seq: number, detail: string) {
    super(`WAL seq ${seq}: ${detail}`);
    this.name = 'WriterNotRegisteredError';
  }
}

/**
 * Test-only crash points: SIGKILL of this process at the first WAL seq at or past a target
 * (between_dr_and_transitions: the first such entry that applied a transition).
 */
export type CrashPoint =
  'before_publish' | 'between_dr_and_transitions' | 'before_ack' | 'during_snapshot';

/**
 * Test-only: say which crash point was reached, straight to stderr and synchronously (the
 * logger writes asynchronously, and SIGKILL follows at once), then SIGKILL this process.
 */
export function crashNow(
  point: CrashPoint,
  seq: number,
  fields: Record<string, unknown> = {},
): void {
  const msg = 'crash point reached (test fault injection)';
  writeSync(2, `${JSON.stringify({
    level: 'warn', time: Date.now(), pid: process.pid, point, seq, ...fields, msg,
  })}\n`);
  process.kill(process.pid, 'SIGKILL');
}

/** Subjects the writer publishes to. */
export interface WriterSubjects {
  /** `<prefix>.dr.<chain>`: a project's chain or `_deployment`. */
  dr(chain: string): string;
  /** `<prefix>.transitions.<project>.<region>.<transition>`. */
  transitions(project: string, region: string, transition: string): string;
}

/** What the writer needs. */
export interface WriterDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly replica: Replica;
  readonly signer: NodeSigner;
  /** True while the writer lease is held and fresh; checked before each batch is published. */
  readonly leaseHeld: () => boolean;
  /** Worker threads for verification and record signing; null does both on this thread. */
  readonly pool: CryptoPool | null;
  readonly subjects: WriterSubjects;
  readonly walName: string;
  readonly snapshots: SnapshotStore;
  readonly snapshotEvery: number;
  readonly batchMax: number;
  readonly crashAt: ReadonlyMap<CrashPoint, number>;
  readonly onDecided: (d: Decided, storedMs: number) => void;
  /** One stored batch: its size and how long its publishes took until every ack. */
  readonly onBatch?: (size: number, publishSeconds: number) => void;
  readonly onSnapshot: (r: SnapshotOutcome) => void;
  readonly log: (
    level: 'info' | 'warn' | 'error',
    msg: string,
    fields?: Record<string, unknown>,
  ) => void;
}

/** A batch whose outputs are being stored. */
interface InFlight {
  /** Where the replica stood before the batch (restored if the batch is refused). */
  readonly before: ReplicaPosition;
  /** Resolves to null once stored, judged and acked; to the error otherwise (never rejects). */
  readonly done: Promise<Error | null>;
}

/** One decided entry, signed, ready to publish. */
interface Signed {
  readonly d: Decided;
  readonly bytes: Uint8Array;
}

/** The writer over a recovered replica. */
export class Writer {
  private snapshotRevision: number;
  private lastSnapshotSeq: number;
  private inflight: InFlight | null = null;
  private stored: ReplicaPosition;
  private readonly publisher: FencedPublisher;

  constructor(
    private readonly deps: WriterDeps,
    snapshotRevision: number,
    snapshotSeq: number,
  ) {
    this.snapshotRevision = snapshotRevision;
    this.lastSnapshotSeq = snapshotSeq;
    this.stored = deps.replica.position();
    this.publisher = new FencedPublisher(deps.nc);
  }

  /** Release the publisher's inbox (the writer is done for this term). */
  close(): void {
    this.publisher.close();
  }

  /**
   * The last position whose decision records are all stored (the replica may be one batch ahead).
   */
  storedPosition(): ReplicaPosition {
    return this.stored;
  }

  /**
   * Fires at the first WAL seq at or past the target (batch boundaries are not predictable).
   * The notice goes straight to stderr, synchronously: the logger writes asynchronously, and
   * SIGKILL follows at once, so a logged line could be lost with the process.
   */
  private crash(point: CrashPoint, seq: number): void {
    const at = this.deps.crashAt.get(point);
    if (at !== undefined && seq >= at) crashNow(point, seq);
  }

  private regionOf = (t: string): string => this.deps.replica.core.regionOf(t);

  /** Publish TRANSITIONS records a crash kept from being stored. */
  async publishTransitions(records: readonly TransitionRecord[]): Promise<void> {
    await Promise.all(records.map((tr) => this.publishTransition(tr)));
  }

  private publishTransition(tr: TransitionRecord): Promise<FencedAck> {
    const subject = this.deps.subjects.transitions(
      tr.project,
      tr.region,
      subjectToken(tr.transition),
    );
    return this.publisher.publish(
      subject,
      new TextEncoder().encode(jcs(tr)),
      `tr:${tr.applied_index}`,
      tr.applied_index - 1,
    );
  }

  /** Decide and store entries from lastSeq+1 up to `toSeq`, read in order (catch-up). */
  async catchUp(toSeq: number): Promise<void> {
    if (toSeq <= this.deps.replica.lastSeq) return;
    const reader = new StreamReader(this.deps.js, this.deps.walName, this.deps.replica.lastSeq + 1);
    try {
      while (this.deps.replica.lastSeq < toSeq) {
        const batch = await reader.read(
          Math.min(this.deps.batchMax, toSeq - this.deps.replica.lastSeq),
          5000,
        );
        if (batch.length === 0) {
          throw new Error(`catch-up stalled at ${this.deps.replica.lastSeq} before ${toSeq}`);
        }
        await this.submit(batch, []);
      }
      await this.flush();
    } finally {
      await this.abandon();
      await reader.close();
    }
  }

  /** Run until `keepGoing()` is false. Throws FencedError when another writer holds the log. */
  async run(consumer: Consumer, keepGoing: () => boolean): Promise<void> {
    const pump = new MessagePump(consumer);
    try {
      while (keepGoing()) {
        const msgs = await pump.take(this.deps.batchMax, 250);
        if (msgs.length > 0) {
          await this.processBatch(msgs);
          continue;
        }
        await this.flush();
        // Idle: the WAL, not the consumer, says what is left to decide (see the header).
        const walLast = (await this.deps.jsm.streams.info(this.deps.walName)).state.last_seq;
        if (walLast > this.deps.replica.lastSeq && keepGoing()) await this.catchUp(walLast);
      }
      await this.flush();
    } finally {
      await this.abandon();
      await pump.close();
    }
  }

  /** Step 2 for one micro-batch from the durable consumer, then the pipeline. */
  private async processBatch(msgs: readonly JsMsg[]): Promise<void> {
    const r = this.deps.replica;
    const fresh = msgs
      .map(fromJsMsg)
      .filter((m) => m.seq > r.lastSeq)
      .sort((a, b) => a.seq - b.seq);
    const ordered: WalMessage[] = [];
    let expected = r.lastSeq + 1;
    for (const m of fresh) {
      if (m.seq < expected) continue; // the same message twice in one batch
      while (expected < m.seq) {
        const missing = await this.deps.jsm.streams.getMessage(this.deps.walName, {
          seq: expected,
        });
        if (missing === null) throw new Error(`WAL entry ${expected} is missing`);
        ordered.push(fromStoredMsg(missing));
        expected += 1;
      }
      ordered.push(m);
      expected += 1;
    }
    if (ordered.length > 0) {
      await this.submit(ordered, msgs);
      return;
    }
    // Only redeliveries of decided entries: ack once what is in flight is stored.
    await this.flush();
    for (const m of msgs) m.ack();
  }

  /**
   * Step 3 for a batch in WAL order, overlapping the previous batch's step 4; then wait for
   * that batch to be stored and start storing this one (steps 4–6, in flight on return).
   */
  private async submit(batch: readonly WalMessage[], acks: readonly JsMsg[]): Promise<void> {
    const r = this.deps.replica;
    const before = r.position();
    const prepared = batch.map((m) => Replica.prepare(m));
    const verdicts = await this.verdicts(
      prepared.map((p) => (p.prepared.kind === 'final' ? [] : p.prepared.checks)),
    );
    const decided: Decided[] = [];
    let refused: string | null = null;
    for (const [i, m] of batch.entries()) {
      const p = prepared[i];
      if (p === undefined) throw new Error('writer: batch and preparation out of step');
      // Records are only valid from a key the registry holds as a writer at their entry.
      refused = writerProblem(r.deployment.identities, { writer: this.deps.signer.signer });
      if (refused !== null) break;
      decided.push(r.decideNext(m, { ...p, verdicts: verdicts[i] ?? [] }));
    }
    if (refused !== null && decided.length === 0) {
      await this.flush();
      throw new WriterNotRegisteredError(r.lastSeq + 1, refused);
    }
    const after = r.position();
    const signed = await this.sign(decided);
    await this.flush();
    // Acknowledge only what was decided; the rest is the next writer's.
    const decidedAcks = refused === null ? acks : acks.filter((a) => a.seq <= r.lastSeq);
    const done = this.store(signed, decidedAcks, after).then(
      () => null,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    this.inflight = { before, done };
  }

  /** Verdicts per entry: one call to the pool for the whole batch, or this thread. */
  private verdicts(checks: readonly (readonly (SigCheck | null)[])[]): Promise<boolean[][]> {
    return batchVerdicts(this.deps.pool, this.deps.replica.verifier, checks);
  }

  /** Sign each record and build its wire bytes. */
  private async sign(decided: readonly Decided[]): Promise<Signed[]> {
    const bytes = await signRecords(this.deps.pool, this.deps.signer, decided.map((d) => d.text));
    return decided.map((d, i) => ({ d, bytes: bytes[i] ?? new Uint8Array() }));
  }

  /** Wait for the batch in flight; if it was refused, put the replica back before it. */
  private async settleInflight(): Promise<Error | null> {
    const f = this.inflight;
    if (f === null) return null;
    this.inflight = null;
    const err = await f.done;
    if (err !== null) this.deps.replica.restore(f.before);
    return err;
  }

  /** The batch in flight is stored, or its error is thrown. */
  private async flush(): Promise<void> {
    const err = await this.settleInflight();
    if (err !== null) throw err;
  }

  /**
   * On the way out after another error: let the batch in flight settle, never leaving it dangling.
   */
  private async abandon(): Promise<void> {
    const err = await this.settleInflight();
    if (err !== null) {
      this.deps.log('warn', 'batch in flight was not stored', { error: err.message });
    }
  }

  /** Steps 4–6 for a signed batch: publish fenced, judge, ack, snapshot. */
  private async store(
    batch: readonly Signed[],
    acks: readonly JsMsg[],
    after: ReplicaPosition,
  ): Promise<void> {
    const t0 = performance.now();
    // A writer resumed after a pause longer than its lease may have been replaced: it sends
    // nothing more (the fence would refuse a stale first record, but not a record on a tail
    // the new writer has not reached yet).
    const first = batch[0]?.d.msg.seq ?? 0;
    if (!this.deps.leaseHeld()) {
      throw new FencedError(first, 'the writer lease expired before this batch was published');
    }
    const outputs: { s: Signed; acks: Promise<FencedAck>[] }[] = [];
    let snapshotNow = false;
    try {
      for (const s of batch) {
        const { d } = s;
        const seq = d.msg.seq;
        this.crash('before_publish', seq);
        const dr = this.publisher.publish(
          this.deps.subjects.dr(d.content.project),
          s.bytes,
          `dr:${d.content.project}:${d.content.chain_index}`,
          seq - 1,
          {
            'Swoosh-Outcome': d.content.outcome,
            'Swoosh-Transition': subjectToken(d.content.transition),
          },
        );
        // Step 4's proof of position: nothing else of the batch is sent until the first record is
        // stored.
        if (outputs.length === 0) await this.settle(seq, [dr]);
        const between = this.deps.crashAt.get('between_dr_and_transitions');
        if (between !== undefined && seq >= between && d.content.applied.length > 0) {
          await dr;
          this.crash('between_dr_and_transitions', seq);
        }
        const trs = transitionRecords(d.content, this.regionOf, d.appliedBefore + 1).map((tr) =>
          this.publishTransition(tr),
        );
        outputs.push({ s, acks: [dr, ...trs] });
        if (d.step.decision.snapshot === true) snapshotNow = true;
      }
    } catch (err) {
      // Let what was already sent settle, so no rejection goes unhandled, then fail the batch.
      await Promise.allSettled(outputs.flatMap((o) => o.acks));
      throw err;
    }
    const tPublish = performance.now();
    // Every publish of the batch settles before any is judged: a failure judged early would
    // leave the later promises unawaited, and their rejections would crash the process.
    const settled = await Promise.all(outputs.map((o) => Promise.allSettled(o.acks)));
    outputs.forEach((o, i) => this.judge(o.s.d.msg.seq, settled[i] ?? []));
    this.stored = after;
    this.deps.onBatch?.(batch.length, (performance.now() - tPublish) / 1000);
    const storedMs = Date.now();
    for (const o of outputs) this.deps.onDecided(o.s.d, storedMs);
    const last = batch.at(-1)?.d.msg.seq ?? 0;
    this.crash('before_ack', last);
    for (const m of acks) m.ack();
    this.deps.log('info', 'batch stored', {
      first: batch[0]?.d.msg.seq,
      last,
      ms: +(performance.now() - t0).toFixed(2),
    });
    if (snapshotNow || after.lastSeq - this.lastSnapshotSeq >= this.deps.snapshotEvery) {
      await this.snapshot(after);
    }
  }

  private async settle(seq: number, acks: readonly Promise<FencedAck>[]): Promise<void> {
    this.judge(seq, await Promise.allSettled(acks));
  }

  /** A refused or foreign-stored output means another writer holds the log. */
  private judge(seq: number, results: readonly PromiseSettledResult<FencedAck>[]): void {
    for (const res of results) {
      if (res.status === 'rejected') {
        const err: unknown = res.reason;
        if (
          err instanceof PublishRefusedError &&
          err.errCode === JetStreamApiCodes.StreamWrongLastSequence
        ) {
          throw new FencedError(seq, 'wrong last sequence');
        }
        throw new Error(
          `publishing the outputs of WAL seq ${seq} failed: ${(err as Error).message}`,
          { cause: err },
        );
      }
      if (res.value.duplicate) {
        throw new FencedError(
          seq,
          `output already stored by another writer (stream seq ${res.value.seq})`,
        );
      }
    }
  }

  /** Step 6: snapshot a stored position (revision CAS); by default the last one stored. */
  async snapshot(p: ReplicaPosition = this.stored): Promise<void> {
    const core = this.deps.replica.core;
    const meta = snapshotMeta(core, p);
    const hlc = meta.hlc_last;
    try {
      this.crash('during_snapshot', p.lastSeq);
      const w = await this.deps.snapshots.write(meta, worldDocOf(p), this.snapshotRevision);
      this.snapshotRevision = w.revision;
      this.lastSnapshotSeq = p.lastSeq;
      this.deps.onSnapshot({
        seq: p.lastSeq,
        hlc,
        revision: w.revision,
        bytes: w.bytes,
        encoding: w.encoding,
      });
    } catch (err) {
      // CAS conflict or a transient error: the log is the truth; take the next one later.
      this.snapshotRevision = await this.deps.snapshots.headRevision();
      this.lastSnapshotSeq = p.lastSeq;
      this.deps.onSnapshot({ seq: p.lastSeq, error: (err as Error).message });
    }
  }
}
