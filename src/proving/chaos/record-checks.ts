/**
 * The per-record chaos checks (check.ts runs them record by record during its second replay):
 * what a client read mid-run is still there, what the producer was told matches, BACKBEAT as
 * the log shows it, the fence, and the shape of every accepted record. Violations are capped
 * per kind so a systematic failure does not drown the report.
 */
import { type Hlc, type TransitionSpec, compareHlc, parseHlc } from '../../core/index.js';
import type { DecisionRecord } from '../../protocol/decision-record.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import type { WalMessage } from '../../protocol/wal-message.js';
import type { CheckInput } from './check.js';
import type { Violation } from './types.js';
import type { WindowWitness } from './windows.js';

/** Violations listed per kind at most; the rest are summed up in one line. */
const MAX_PER_KIND = 20;

/** Counts of checks evaluated and the violations found, capped per kind. */
export class Tally {
  /** How many times each check was evaluated. */
  readonly counts: Record<string, number> = {};
  private readonly violations: Violation[] = [];
  private readonly perKind = new Map<string, number>();

  count(k: string): void {
    this.counts[k] = (this.counts[k] ?? 0) + 1;
  }

  fail(v: Violation): void {
    const n = (this.perKind.get(v.kind) ?? 0) + 1;
    this.perKind.set(v.kind, n);
    if (n <= MAX_PER_KIND) this.violations.push(v);
  }

  /** The violations, with one line per kind that went over the cap. */
  close(): Violation[] {
    for (const [k, n] of this.perKind) {
      if (n <= MAX_PER_KIND) continue;
      this.violations.push({ kind: k, seq: null, detail: `${n - MAX_PER_KIND} more not listed` });
    }
    return this.violations;
  }
}

/** Outcome, rejection, fact and automatic-transition counts over the records. */
export interface Stats {
  readonly outcomes: Record<string, number>;
  readonly rejections: Record<string, number>;
  readonly facts: Record<string, number>;
  readonly automatic: Record<string, number>;
  /** Records by the signer that wrote them. */
  readonly writers: Record<string, number>;
}

const inc = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

const enc = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** The JSON body of an envelope, or null (the witness reports the frame as unreadable). */
function bodyOf(data: Uint8Array): unknown {
  const d = decodeEnvelope(data);
  if (!d.ok) return null;
  try {
    return JSON.parse(new TextDecoder().decode(d.body)) as unknown;
  } catch (err) {
    // Not JSON: the witness reports the frame as unreadable.
    void err;
    return null;
  }
}

/** The per-record checks, in the order they have always run. */
export class RecordChecks {
  readonly stats: Stats = { outcomes: {}, rejections: {}, facts: {}, automatic: {}, writers: {} };
  /** The last accepted HLC of each chain (HLC order is per chain, contract v2 §3). */
  private readonly lastHlc = new Map<string, Hlc>();
  /**
   * Writers by bucket: per fence window (by index), the chains on which a member other than the
   * stopped one stored a record inside the window.
   */
  private readonly takenOver = new Map<number, Set<string>>();
  private readonly byBucket: boolean;

  constructor(
    private readonly c: CheckInput,
    private readonly tally: Tally,
    private readonly witness: WindowWitness,
    private readonly specOf: ReadonlyMap<string, TransitionSpec>,
  ) {
    this.byBucket = c.writers === 'buckets';
  }

  /** Check one WAL entry's stored record (`drSeq`, `drData` as read from DECISIONS). */
  check(msg: WalMessage, drSeq: number, drData: Uint8Array, rec: DecisionRecord): void {
    this.countOutcome(rec);
    this.checkClientViews(msg.seq, drSeq, drData, rec);
    const isBeat = rec.outcome === 'fact' && rec.transition === 'backbeat';
    const body = isBeat ? bodyOf(msg.data) : null;
    for (const v of this.witness.observe(msg.seq, rec, body, msg.logMs)) this.tally.fail(v);
    if (rec.outcome === 'accepted') this.witness.applied(rec.applied, rec.project);
    if (rec.outcome === 'fact' || rec.outcome === 'quarantined') {
      for (const a of rec.applied) inc(this.stats.automatic, a);
    }
    if (this.byBucket) this.checkChainFence(drSeq, rec);
    else this.checkFence(msg.seq, rec);
    if (rec.outcome === 'accepted' && rec.channel === 'proposal') this.checkAccepted(msg.seq, rec);
  }

  private countOutcome(rec: DecisionRecord): void {
    inc(this.stats.outcomes, rec.outcome);
    inc(this.stats.writers, rec.writer);
    if (rec.outcome === 'rejected') inc(this.stats.rejections, rec.code ?? '?');
    if (rec.outcome === 'fact' && rec.transition !== null) inc(this.stats.facts, rec.transition);
  }

  /** A record a client read mid-run is unchanged; the producer's fold agrees with the record. */
  private checkClientViews(
    seq: number,
    drSeq: number,
    drData: Uint8Array,
    rec: DecisionRecord,
  ): void {
    const seen = this.c.observed.get(drSeq);
    if (seen !== undefined) {
      this.tally.count('observed_record_kept');
      if (enc(seen) !== enc(drData)) {
        this.tally.fail({
          kind: 'observed_record_changed', seq: drSeq,
          detail: 'a record a client read mid-run differs now',
        });
      }
    }
    const t = this.c.told.get(seq);
    if (t !== undefined) {
      this.tally.count('told_outcome');
      if (t.outcome !== rec.outcome || t.transition !== rec.transition) {
        this.tally.fail({
          kind: 'told_mismatch', seq,
          detail: `producer computed ${t.outcome} ${String(t.transition)}, `
            + `record says ${rec.outcome} ${String(rec.transition)}`,
        });
      }
    }
  }

  /** No record inside a fence window carries the stopped writer's signature. */
  private checkFence(seq: number, rec: DecisionRecord): void {
    for (const f of this.c.fenceWindows) {
      if (seq <= f.fromSeq || seq > f.toSeq) continue;
      this.tally.count('zombie_fence');
      if (rec.writer === f.signer) {
        this.tally.fail({
          kind: 'zombie_record', seq,
          detail: `${f.name}, stopped past its lease, wrote record ${seq} after the takeover`,
        });
      }
    }
  }

  /**
   * Writers by bucket, the fence per chain. A paused ex-holder may still have a record in flight
   * when it resumes; each record is fenced on the stream sequence of its chain's last record
   * (chain-member.ts). So, on one chain: before any other member has stored a record there, the
   * paused member's in-flight record may land (it is the same content the new holder computes:
   * records are a pure function of the WAL); once another member has stored a record on that
   * chain, no record of the paused member may follow it. Inside a fence window (DECISIONS seqs
   * `fromSeq` exclusive, taken right after the SIGSTOP, to `toSeq` inclusive, taken when the
   * member was seen past its first lease tick after SIGCONT and before it can hold a lease
   * again), a record of the stopped signer that comes after (higher chain index) a record of
   * another writer on the same chain, both stored inside the window, is a zombie record.
   *
   * The window is in DECISIONS seqs, the order records were stored in, not in WAL seqs: a
   * zombie's in-flight record names an entry the member decided before the pause, below any WAL
   * position read at the takeover. Records arrive here in WAL order, which on one chain is its
   * index order and its DECISIONS order (each record fenced on the one before).
   */
  private checkChainFence(drSeq: number, rec: DecisionRecord): void {
    this.c.fenceWindows.forEach((f, i) => {
      if (drSeq <= f.fromSeq || drSeq > f.toSeq) return;
      this.tally.count('zombie_fence');
      let taken = this.takenOver.get(i);
      if (taken === undefined) {
        taken = new Set();
        this.takenOver.set(i, taken);
      }
      if (rec.writer !== f.signer) {
        taken.add(rec.project);
        return;
      }
      if (taken.has(rec.project)) {
        this.tally.fail({
          kind: 'zombie_record', seq: rec.wal_seq,
          detail: `${f.name}, stopped past its leases, stored ${rec.project} record ` +
            `${rec.chain_index} (DECISIONS seq ${drSeq}) after another member's record on that ` +
            'chain',
        });
      }
    });
  }

  /** An accepted proposal's record: outcomes, justification, backlink, HLC order, guards. */
  private checkAccepted(seq: number, rec: DecisionRecord): void {
    const fail = (kind: string, detail: string): void => this.tally.fail({ kind, seq, detail });
    this.tally.count('accepted_record');
    if (rec.guard_outcomes.length === 0) fail('no_guard_outcomes', String(rec.transition));
    if (rec.justification === '') fail('no_justification', String(rec.transition));
    const backlinked = rec.ucxl.startsWith('ucxl://') && rec.ucxl.endsWith(`@wal/${seq}`);
    if (!backlinked) fail('bad_ucxl_backlink', rec.ucxl);
    const p = rec.hlc === null ? null : parseHlc(rec.hlc);
    if (p === null || !p.ok) fail('bad_hlc', String(rec.hlc));
    else {
      this.tally.count('hlc_monotonic');
      const last = this.lastHlc.get(rec.project);
      const regressed = last !== undefined && compareHlc(last, p.hlc) >= 0;
      if (regressed) fail('hlc_not_increasing', String(rec.hlc));
      this.lastHlc.set(rec.project, p.hlc);
    }
    const spec = rec.transition === null ? undefined : this.specOf.get(rec.transition);
    for (const guard of ['window', 'readiness'] as const) {
      if (spec?.guards.includes(guard) !== true) continue;
      this.tally.count(`${guard}_guard`);
      const g = rec.guard_outcomes.find((x) => x.guard === guard);
      const why = `${String(rec.transition)} accepted without ${guard} passing`;
      if (g?.ok !== true) fail(`${guard}_guard_not_passed`, why);
    }
  }
}
