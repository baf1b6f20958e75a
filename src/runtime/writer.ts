/**
 * The writer loop — the imperative shell around the core. Numbered steps, per batch:
 *
 *  1. take a micro-batch from the WAL's durable pull consumer (bounded count and wait);
 *  2. drop what is already decided (a redelivery after a failover) and fill any gap with a
 *     direct get, so entries are decided strictly in WAL order;
 *  3. for each entry: decode the envelope, verify signatures, decide + evolve (core.step),
 *     build and sign the decision record;
 *  4. publish every record to DECISIONS with Nats-Expected-Last-Sequence = WAL seq − 1 and
 *     Nats-Msg-Id = dr:<seq> (the fence: DR seq always equals WAL seq, and a second writer's
 *     publish is refused), and each applied transition to TRANSITIONS fenced the same way by
 *     the applied count. The batch's first record is awaited alone: it proves the log ends
 *     exactly where this replica does. Only then is the rest pipelined, acks awaited together
 *     (pipelined without that proof, a stale ex-writer's later records could land on a tail
 *     the new writer has not reached yet, each one individually passing the fence);
 *  5. only then ack the WAL messages (nothing is acked before its outputs are stored);
 *  6. snapshot every N decisions and on entering REVERB.
 * When the consumer delivers nothing, the writer also decides whatever the WAL holds past its
 * replica: entries delivered to an ex-writer's pull request (a paused or dead process) stay
 * with it until ack_wait, and nothing later may arrive to reveal the gap.
 * A refused publish (wrong last sequence, or a duplicate written by someone else) means
 * another writer holds the log: FencedError, and the instance steps down to follower.
 */
import { writeSync } from 'node:fs';
import { JetStreamApiError, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg, type PubAck } from '@nats-io/jetstream';
import type { NodeSigner } from '../crypto/node-sign.js';
import { encodeDr, signDr, subjectToken, transitionRecords, type DecisionRecord, type TransitionRecord } from './dr.js';
import { MessagePump, StreamReader } from './reader.js';
import { Replica, fromJsMsg, fromStoredMsg, type Decided, type WalMessage } from './replica.js';
import type { SnapshotStore } from './snapshots.js';
import { jcs } from '../core/json.js';

/** JetStream's "wrong last sequence" API error: the writer fence (STYLE: match by code). */
export const JS_WRONG_LAST_SEQUENCE = 10071;

/** Another writer holds the log. */
export class FencedError extends Error {
  readonly code = 'fenced';
  constructor(readonly seq: number, detail: string) {
    super(`fenced at WAL seq ${seq}: ${detail}; another writer holds the log`);
    this.name = 'FencedError';
  }
}

/**
 * Test-only crash points: SIGKILL of this process at the first WAL seq at or past a target
 * (between_dr_and_transitions: the first such entry that applied a transition).
 */
export type CrashPoint = 'before_publish' | 'between_dr_and_transitions' | 'before_ack' | 'during_snapshot';

/** Subjects the writer publishes to. */
export interface WriterSubjects {
  dr(outcome: string, transition: string): string;
  transitions(region: string, transition: string): string;
}

/** What the writer needs. */
export interface WriterDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly replica: Replica;
  readonly signer: NodeSigner;
  readonly subjects: WriterSubjects;
  readonly walName: string;
  readonly snapshots: SnapshotStore;
  readonly snapshotEvery: number;
  readonly batchMax: number;
  readonly crashAt: ReadonlyMap<CrashPoint, number>;
  readonly onDecided: (d: Decided, record: DecisionRecord, storedMs: number) => void;
  /** One stored batch: its size and how long its publishes took until every ack. */
  readonly onBatch?: (size: number, publishSeconds: number) => void;
  readonly onSnapshot: (r: { seq: number; revision: number; bytes: number; encoding: string } | { seq: number; error: string }) => void;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** The writer over a recovered replica. */
export class Writer {
  private snapshotRevision: number;
  private lastSnapshotSeq: number;

  constructor(private readonly deps: WriterDeps, snapshotRevision: number, snapshotSeq: number) {
    this.snapshotRevision = snapshotRevision;
    this.lastSnapshotSeq = snapshotSeq;
  }

  /**
   * Fires at the first WAL seq at or past the target (batch boundaries are not predictable).
   * The notice goes straight to stderr, synchronously: the logger writes asynchronously, and
   * SIGKILL follows at once, so a logged line could be lost with the process.
   */
  private crash(point: CrashPoint, seq: number): void {
    const at = this.deps.crashAt.get(point);
    if (at !== undefined && seq >= at) {
      const msg = 'crash point reached (test fault injection)';
      writeSync(2, `${JSON.stringify({ level: 'warn', time: Date.now(), pid: process.pid, point, seq, msg })}\n`);
      process.kill(process.pid, 'SIGKILL');
    }
  }

  private regionOf = (t: string): string =>
    this.deps.replica.core.chart.transitions.find((x) => x.name === t)?.region ?? 'unknown';

  /** Publish TRANSITIONS records a crash kept from being stored. */
  async publishTransitions(records: readonly TransitionRecord[]): Promise<void> {
    await Promise.all(records.map((tr) => this.publishTransition(tr)));
  }

  private publishTransition(tr: TransitionRecord): Promise<PubAck> {
    return this.deps.js.publish(this.deps.subjects.transitions(tr.region, subjectToken(tr.transition)), new TextEncoder().encode(jcs(tr)), {
      msgID: `tr:${tr.applied_index}`,
      expect: { lastSequence: tr.applied_index - 1 },
    });
  }

  /** Decide and store entries from lastSeq+1 up to `toSeq`, read in order (catch-up). */
  async catchUp(toSeq: number): Promise<void> {
    if (toSeq <= this.deps.replica.lastSeq) return;
    const reader = new StreamReader(this.deps.js, this.deps.walName, this.deps.replica.lastSeq + 1);
    try {
      while (this.deps.replica.lastSeq < toSeq) {
        const batch = await reader.read(Math.min(this.deps.batchMax, toSeq - this.deps.replica.lastSeq), 5000);
        if (batch.length === 0) throw new Error(`catch-up stalled at ${this.deps.replica.lastSeq} before ${toSeq}`);
        await this.decideAndStore(batch);
      }
    } finally {
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
        // Idle: the WAL, not the consumer, says what is left to decide (see the header).
        const walLast = (await this.deps.jsm.streams.info(this.deps.walName)).state.last_seq;
        if (walLast > this.deps.replica.lastSeq && keepGoing()) await this.catchUp(walLast);
      }
    } finally {
      await pump.close();
    }
  }

  /** Steps 2–5 for one micro-batch from the durable consumer. */
  private async processBatch(msgs: readonly JsMsg[]): Promise<void> {
    const r = this.deps.replica;
    const fresh = msgs.map(fromJsMsg).filter((m) => m.seq > r.lastSeq).sort((a, b) => a.seq - b.seq);
    const ordered: WalMessage[] = [];
    let expected = r.lastSeq + 1;
    for (const m of fresh) {
      if (m.seq < expected) continue; // the same message twice in one batch
      while (expected < m.seq) {
        const missing = await this.deps.jsm.streams.getMessage(this.deps.walName, { seq: expected });
        if (missing === null) throw new Error(`WAL entry ${expected} is missing`);
        ordered.push(fromStoredMsg(missing));
        expected += 1;
      }
      ordered.push(m);
      expected += 1;
    }
    if (ordered.length > 0) await this.decideAndStore(ordered);
    const last = ordered.at(-1)?.seq ?? 0;
    this.crash('before_ack', last);
    for (const m of msgs) m.ack();
  }

  /** Steps 3–4 and 6 for entries in WAL order. */
  private async decideAndStore(batch: readonly WalMessage[]): Promise<void> {
    const t0 = performance.now();
    const r = this.deps.replica;
    const outputs: { d: Decided; rec: DecisionRecord; acks: Promise<PubAck>[] }[] = [];
    let reverb = false;
    try {
      for (const msg of batch) {
        this.crash('before_publish', msg.seq);
        const d = r.decideNext(msg);
        const rec = signDr(d.content, this.deps.signer);
        const dr = this.deps.js.publish(this.deps.subjects.dr(rec.outcome, subjectToken(rec.transition)), encodeDr(rec), {
          msgID: `dr:${msg.seq}`,
          expect: { lastSequence: msg.seq - 1 },
        });
        // Step 4's proof of position: nothing else of the batch is sent until the first record is stored.
        if (outputs.length === 0) await this.settle(msg.seq, [dr]);
        const between = this.deps.crashAt.get('between_dr_and_transitions');
        if (between !== undefined && msg.seq >= between && d.content.applied.length > 0) {
          await dr;
          this.crash('between_dr_and_transitions', msg.seq);
        }
        const trs = transitionRecords(d.content, this.regionOf, d.appliedBefore + 1).map((tr) => this.publishTransition(tr));
        outputs.push({ d, rec, acks: [dr, ...trs] });
        if (d.step.decision.applied.includes('Execution_ApprovalsThreshold')) reverb = true;
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
    outputs.forEach((o, i) => this.judge(o.d.msg.seq, settled[i] ?? []));
    this.deps.onBatch?.(batch.length, (performance.now() - tPublish) / 1000);
    const storedMs = Date.now();
    for (const o of outputs) this.deps.onDecided(o.d, o.rec, storedMs);
    this.deps.log('info', 'batch stored', { first: batch[0]?.seq, last: batch.at(-1)?.seq, ms: +(performance.now() - t0).toFixed(2) });
    if (reverb || r.lastSeq - this.lastSnapshotSeq >= this.deps.snapshotEvery) await this.snapshot();
  }

  private async settle(seq: number, acks: readonly Promise<PubAck>[]): Promise<void> {
    this.judge(seq, await Promise.allSettled(acks));
  }

  /** A refused or foreign-stored output means another writer holds the log. */
  private judge(seq: number, results: readonly PromiseSettledResult<PubAck>[]): void {
    for (const res of results) {
      if (res.status === 'rejected') {
        const err: unknown = res.reason;
        if (err instanceof JetStreamApiError && err.code === JS_WRONG_LAST_SEQUENCE) throw new FencedError(seq, 'wrong last sequence');
        throw new Error(`publishing the outputs of WAL seq ${seq} failed: ${(err as Error).message}`, { cause: err });
      }
      if (res.value.duplicate) throw new FencedError(seq, `output already stored by another writer (stream seq ${res.value.seq})`);
    }
  }

  /** Step 6: snapshot the committed state (revision CAS). */
  async snapshot(): Promise<void> {
    const r = this.deps.replica;
    const hs = r.core.hashes(r.state);
    const meta = {
      state_hash: hs.head, facts_hash: hs.facts, wal_seq: r.lastSeq, wal_entry_hash: r.lastWalEntryHash,
      hlc_last: r.state.clock.hlc_last, chart_hash: r.state.meta.chart_hash, dr_hash: r.lastDrHash,
      applied_count: r.state.clock.applied_count, taken_at_ms: Date.now(),
    };
    try {
      this.crash('during_snapshot', r.lastSeq);
      const w = await this.deps.snapshots.write(meta, r.state, this.snapshotRevision);
      this.snapshotRevision = w.revision;
      this.lastSnapshotSeq = r.lastSeq;
      this.deps.onSnapshot({ seq: r.lastSeq, revision: w.revision, bytes: w.bytes, encoding: w.encoding });
    } catch (err) {
      // CAS conflict or a transient error: the log is the truth; take the next one later.
      this.snapshotRevision = await this.deps.snapshots.headRevision();
      this.lastSnapshotSeq = r.lastSeq;
      this.deps.onSnapshot({ seq: r.lastSeq, error: (err as Error).message });
    }
  }
}
