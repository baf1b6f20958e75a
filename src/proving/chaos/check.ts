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
 *  - no record between a takeover and the stopped writer's step-down carries its signature.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { type Genesis, createCore } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { createNodeVerifier } from '../../crypto/verify.js';
import { audit } from '../../server/replication/audit.js';
import { decodeDr } from '../../protocol/decision-record.js';
import type { InstanceStatus } from '../../server/process/instance.js';
import { StreamReader } from '../../protocol/batch-reader.js';
import { Replica } from '../../server/replication/replica.js';
import type { Subjects } from '../../../streams/definitions.js';
import type { Violation } from './types.js';
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

/** DECISIONS seqs after a takeover and before the stopped writer stepped down: none may be its. */
export interface FenceWindow {
  readonly signer: string;
  readonly name: string;
  /** Last record when the new writer was seen (exclusive). */
  readonly fromSeq: number;
  /** Last record when the zombie was seen back as a follower (inclusive). */
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
  const rep = await audit({
    js: c.js, jsm: c.jsm, genesis: c.genesis, walName: c.subjects.walName,
    decisionsName: c.subjects.decisionsName, transitionsName: c.subjects.transitionsName,
    maxProblems: 50,
  });
  tally.count('audit');
  for (const p of rep.problems) {
    tally.fail({ kind: `audit_${p.kind}`, seq: p.seq, detail: p.detail });
  }
  const walLast = (await c.jsm.streams.info(c.subjects.walName)).state.last_seq;
  const drLast = (await c.jsm.streams.info(c.subjects.decisionsName)).state.last_seq;
  const replay = await replayChecked(c, tally, Math.min(walLast, drLast));
  for (const seq of c.told.keys()) {
    if (seq > drLast) {
      tally.fail({
        kind: 'told_missing', seq,
        detail: `acknowledged WAL entry ${seq} has no decision record (last ${drLast})`,
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
    counts: tally.counts, backbeat: replay.witness.summary, automatic: replay.stats.automatic,
  };
}

/** What the second replay leaves behind for the checks after it. */
interface Replayed {
  readonly headAt: ReadonlyMap<number, string>;
  readonly stats: Stats;
  readonly witness: WindowWitness;
}

/** Replay the WAL up to `last` beside the stored records, checking each record on the way. */
async function replayChecked(c: CheckInput, tally: Tally, last: number): Promise<Replayed> {
  const core = createCore(nodeHasher);
  const replica = Replica.fromGenesis(core, nodeHasher, createNodeVerifier(), c.genesis);
  // What replicas serve as `state_hash`: the default project's view (the v1 reads).
  const headAt = new Map<number, string>([[0, core.hashes(replica.state).head]]);
  const sampledSeqs = new Set(c.samples.map((x) => x.wal_seq));
  const policy = c.genesis.config.window_policy;
  const witness = new WindowWitness(core.chart, policy, (k) => tally.count(k));
  const specs = new Map(core.chart.transitions.map((t) => [t.name, t]));
  const checks = new RecordChecks(c, tally, witness, specs);
  const wal = new StreamReader(c.js, c.subjects.walName, 1);
  const drs = new StreamReader(c.js, c.subjects.decisionsName, 1);
  try {
    while (replica.lastSeq < last) {
      const msg = await wal.next();
      replica.decideNext(msg);
      if (sampledSeqs.has(msg.seq)) headAt.set(msg.seq, core.hashes(replica.state).head);
      const raw = await drs.next();
      checks.check(msg, raw.seq, raw.data, decodeDr(raw.data));
    }
  } finally {
    await wal.close();
    await drs.close();
  }
  return { headAt, stats: checks.stats, witness };
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
