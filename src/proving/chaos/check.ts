/**
 * The chaos checks, from what a downstream service could read (WAL, DECISIONS, TRANSITIONS,
 * each instance's status) plus what the producer was told:
 *  - the audit (src/server/replication/audit.ts): a fresh replay of the whole WAL from genesis, one
 *    record per entry, byte-identical content, chain and signatures, TRANSITIONS count;
 *  - every replica's state hash, sampled during the run at whatever seq it stood at, equals
 *    the offline replay's hash at that seq, and at the end all equal the audit's;
 *  - HLC strictly increasing over accepted proposals;
 *  - every accepted record has guard outcomes, a justification and a UCXL backlink to its seq;
 *  - window-guarded transitions (REVIEW/REVERB and the other windowed classes) accepted only
 *    with the window guard passed, and only inside a permitted BACKBEAT window as re-derived
 *    from the log itself (windows.ts: the recorded beat-frame facts read from the WAL, the WAL
 *    timestamps, the chart's window classes and the genesis window policy); every rejection by
 *    the window guard is one the log's frames justify, with the same code; beat indices of
 *    recorded frames increase; readiness-guarded transitions (into EXECUTION) accepted only
 *    with readiness passed;
 *  - every entry the producer was acknowledged has its record, with the outcome the
 *    producer's own fold computed, and every record a client read mid-run is still there,
 *    byte for byte, after all the crashes;
 *  - the producer's fold ends on the audit's final state hash;
 *  - no record between a takeover and the stopped writer's step-down carries its signature
 *    (with writers by bucket, per chain: see RecordChecks.checkChainFence).
 *
 * Records are matched to WAL entries by the `wal_seq` they name (RecordsByWal), so the checks
 * hold in either writers mode: with one writer (`lease`) each record is also at the DECISIONS seq
 * equal to its WAL seq, and that is checked too; with writers by bucket records of different
 * chains are stored out of WAL order, and only their chains order them.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { type Genesis, createCore } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { createNodeVerifier } from '../../crypto/verify.js';
import { audit } from '../../server/replication/audit.js';
import type { InstanceStatus } from '../../server/process/instance.js';
import { StreamReader } from '../../protocol/batch-reader.js';
import { RecordsByWal } from '../../server/replication/records-by-wal.js';
import { Replica } from '../../server/replication/replica.js';
import type { Subjects } from '../../../streams/definitions.js';
import type { Violation, WritersMode } from './types.js';
import { WindowWitness, type BackbeatSummary } from './windows.js';
import { RecordChecks, Tally, type Stats } from './record-checks.js';

/** What the producer computed for an entry it was acknowledged. */
export interface Told {
  readonly outcome: string;
  readonly transition: string | null;
  readonly code: string | null;
}

/** One replica status sample. */
export interface Sample {
  readonly t_ms: number;
  readonly name: string;
  readonly wal_seq: number;
  readonly state_hash: string;
}

/**
 * DECISIONS seqs while a stopped writer may still have had a publish in flight. With one writer:
 * after the takeover and before the stopped writer stepped down, none may be its. With writers by
 * bucket: from the SIGSTOP to the member's first lease tick after SIGCONT, on each chain none of
 * its records may follow another member's (RecordChecks.checkChainFence).
 */
export interface FenceWindow {
  readonly signer: string;
  readonly name: string;
  /**
   * DECISIONS last seq (exclusive) when the new writer was seen; with writers by bucket, right
   * after the SIGSTOP.
   */
  readonly fromSeq: number;
  /**
   * DECISIONS last seq (inclusive) when the zombie was seen back as a follower; with writers by
   * bucket, when it was seen past its first lease tick after SIGCONT (every lease it had lost).
   */
  readonly toSeq: number;
}

/** Inputs of the checks. */
export interface CheckInput {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly genesis: Genesis;
  readonly subjects: Subjects;
  readonly told: ReadonlyMap<number, Told>;
  readonly observed: ReadonlyMap<number, Uint8Array>;
  readonly samples: readonly Sample[];
  readonly finalStatuses: ReadonlyMap<string, InstanceStatus>;
  readonly producerHead: string;
  readonly fenceWindows: readonly FenceWindow[];
  /** The deployment's writers mode (default `lease`). */
  readonly writers?: WritersMode;
}

/** What the checks found. */
export interface CheckResult {
  readonly violations: Violation[];
  readonly walEntries: number;
  readonly applied: number;
  readonly finalHash: string;
  /** Records per chain (a project id or `_deployment`), from the audit. */
  readonly chains: Readonly<Record<string, number>>;
  readonly outcomes: Record<string, number>;
  readonly rejections: Record<string, number>;
  readonly facts: Record<string, number>;
  /** Records by the signer that wrote them. */
  readonly writers: Record<string, number>;
  /** How many times each check was evaluated. */
  readonly counts: Record<string, number>;
  /** BACKBEAT as the log shows it: frames, tempo changes, missed beats, window rejections. */
  readonly backbeat: BackbeatSummary;
  /**
   * Transitions the reducer fired by itself (licence grace/expiry/restore, quarantine,
   * release), by name.
   */
  readonly automatic: Record<string, number>;
}

/** Run every check: the audit, a second replay record by record, then the end states. */
export async function runChecks(c: CheckInput): Promise<CheckResult> {
  const tally = new Tally();
  const aligned = (c.writers ?? 'lease') === 'lease';
  const rep = await audit({
    js: c.js, jsm: c.jsm, genesis: c.genesis, walName: c.subjects.walName,
    decisionsName: c.subjects.decisionsName, transitionsName: c.subjects.transitionsName,
    maxProblems: 50, aligned,
  });
  tally.count('audit');
  for (const p of rep.problems) {
    tally.fail({ kind: `audit_${p.kind}`, seq: p.seq, detail: p.detail });
  }
  const walLast = (await c.jsm.streams.info(c.subjects.walName)).state.last_seq;
  const drLast = (await c.jsm.streams.info(c.subjects.decisionsName)).state.last_seq;
  const replay = await replayChecked(c, tally, aligned, walLast, drLast);
  for (const seq of c.told.keys()) {
    // One writer: record n is at DECISIONS seq n, so an entry past the last seq has none. By
    // bucket: an entry has none when no stored record names it.
    const missing = aligned ? seq > drLast : replay.missing.has(seq);
    if (missing) {
      tally.fail({
        kind: 'told_missing', seq,
        detail: aligned
          ? `acknowledged WAL entry ${seq} has no decision record (last ${drLast})`
          : `acknowledged WAL entry ${seq} has no decision record (none names it)`,
      });
    }
  }
  checkSamples(c, tally, replay.headAt);
  checkEnds(c, tally, rep.final_state_hash, walLast);
  return {
    violations: tally.close(), walEntries: walLast, applied: rep.applied_count,
    finalHash: rep.final_state_hash,
    chains: rep.chains,
    outcomes: replay.stats.outcomes, rejections: replay.stats.rejections, facts: replay.stats.facts,
    writers: replay.stats.writers,
    counts: tally.counts, backbeat: replay.witness.summary, automatic: replay.stats.automatic,
  };
}

/** What the second replay leaves behind for the checks after it. */
interface Replayed {
  readonly headAt: ReadonlyMap<number, string>;
  readonly stats: Stats;
  readonly witness: WindowWitness;
  /** WAL entries no stored record names. */
  readonly missing: ReadonlySet<number>;
}

/**
 * Replay the WAL up to `walLast` beside the stored records (up to DECISIONS seq `drLast`), each
 * entry's record found by the `wal_seq` it names, checking each record on the way. `aligned`
 * (one writer): the record must also be at the DECISIONS seq equal to its WAL seq. An entry
 * without a record is only remembered (the audit reports it, and told_missing if the producer
 * was acknowledged it); a stray message in DECISIONS is the audit's to report.
 */
async function replayChecked(
  c: CheckInput, tally: Tally, aligned: boolean, walLast: number, drLast: number,
): Promise<Replayed> {
  const core = createCore(nodeHasher);
  const replica = Replica.fromGenesis(core, nodeHasher, createNodeVerifier(), c.genesis);
  // What replicas serve as `state_hash`: the default project's view (the v1 reads).
  const headAt = new Map<number, string>([[0, core.hashes(replica.state).head]]);
  const sampledSeqs = new Set(c.samples.map((x) => x.wal_seq));
  const policy = c.genesis.config.window_policy;
  const witness = new WindowWitness(core.chart, policy, (k) => tally.count(k));
  const specs = new Map(core.chart.transitions.map((t) => [t.name, t]));
  const checks = new RecordChecks(c, tally, witness, specs);
  const missing = new Set<number>();
  const wal = new StreamReader(c.js, c.subjects.walName, 1);
  const drs = new RecordsByWal(c.js, c.subjects.decisionsName, drLast, walLast, () => undefined);
  try {
    while (replica.lastSeq < walLast) {
      const msg = await wal.next();
      replica.decideNext(msg);
      if (sampledSeqs.has(msg.seq)) headAt.set(msg.seq, core.hashes(replica.state).head);
      const found = await drs.take(msg.seq);
      if (found === null) {
        missing.add(msg.seq);
        continue;
      }
      if (aligned) {
        tally.count('record_at_wal_seq');
        if (found.seq !== msg.seq) {
          tally.fail({
            kind: 'record_seq_mismatch', seq: msg.seq,
            detail: `the record of WAL entry ${msg.seq} is at DECISIONS seq ${found.seq}`,
          });
        }
      }
      checks.check(msg, found.seq, found.data, found.rec);
    }
  } finally {
    await wal.close();
    await drs.close();
  }
  return { headAt, stats: checks.stats, witness, missing };
}

/** Every replica, at every seq it was seen at, agreed with the offline replay. */
function checkSamples(c: CheckInput, tally: Tally, headAt: ReadonlyMap<number, string>): void {
  for (const s of c.samples) {
    const h = headAt.get(s.wal_seq);
    if (h === undefined) continue;
    tally.count('replica_sample');
    if (h !== s.state_hash) {
      tally.fail({
        kind: 'replica_hash_mismatch', seq: s.wal_seq,
        detail: `${s.name} reported ${s.state_hash}, replay ${h}`,
      });
    }
  }
}

/** Every instance and the producer's own fold end where the audit ends. */
function checkEnds(c: CheckInput, tally: Tally, finalHash: string, walLast: number): void {
  for (const [name, s] of c.finalStatuses) {
    tally.count('final_status');
    if (s.state_hash !== finalHash || s.wal_seq !== walLast) {
      tally.fail({
        kind: 'final_mismatch', seq: s.wal_seq,
        detail: `${name} ends at ${s.wal_seq} ${s.state_hash}; audit ${walLast} ${finalHash}`,
      });
    }
  }
  tally.count('producer_fold');
  if (c.producerHead !== finalHash) {
    tally.fail({
      kind: 'producer_fold_mismatch', seq: walLast,
      detail: `producer ${c.producerHead}, audit ${finalHash}`,
    });
  }
}
