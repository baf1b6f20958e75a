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
import { type Genesis, type Hlc, compareHlc, createCore, parseHlc } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { createNodeVerifier } from '../../crypto/verify.js';
import { audit } from '../../server/replication/audit.js';
import { chainStart, decodeDr } from '../../protocol/decision-record.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import type { InstanceStatus } from '../../server/process/instance.js';
import { StreamReader } from '../../protocol/batch-reader.js';
import { Replica } from '../../server/replication/replica.js';
import type { Subjects } from '../../../streams/definitions.js';
import type { Violation } from './types.js';
import { WindowWitness, type BackbeatSummary } from './windows.js';

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
  readonly outcomes: Record<string, number>;
  readonly rejections: Record<string, number>;
  readonly facts: Record<string, number>;
  /** How many times each check was evaluated. */
  readonly counts: Record<string, number>;
  /** BACKBEAT as the log shows it: frames, tempo changes, missed beats, window rejections. */
  readonly backbeat: BackbeatSummary;
  /** Transitions the reducer fired by itself (licence grace/expiry/restore, quarantine, release), by name. */
  readonly automatic: Record<string, number>;
}

const MAX_PER_KIND = 20;

/** Run every check. */
export async function runChecks(c: CheckInput): Promise<CheckResult> {
  const violations: Violation[] = [];
  const perKind = new Map<string, number>();
  const counts: Record<string, number> = {};
  const count = (k: string): void => {
    counts[k] = (counts[k] ?? 0) + 1;
  };
  const fail = (v: Violation): void => {
    const n = (perKind.get(v.kind) ?? 0) + 1;
    perKind.set(v.kind, n);
    if (n <= MAX_PER_KIND) violations.push(v);
  };

  const rep = await audit({
    js: c.js, jsm: c.jsm, genesis: c.genesis, walName: c.subjects.walName, decisionsName: c.subjects.decisionsName,
    transitionsName: c.subjects.transitionsName, maxProblems: 50,
  });
  count('audit');
  for (const p of rep.problems) fail({ kind: `audit_${p.kind}`, seq: p.seq, detail: p.detail });

  // Second pass: the replay's hash at every seq, and per-record checks on the stored records.
  const core = createCore(nodeHasher);
  const state = core.genesis(c.genesis);
  const replica = new Replica(core, nodeHasher, createNodeVerifier(), state.meta.instance_id, {
    state, lastSeq: 0, lastDrHash: chainStart(nodeHasher, state.meta.genesis_hash), lastWalEntryHash: '',
  });
  const headAt = new Map<number, string>([[0, core.hashes(state).head]]);
  const sampledSeqs = new Set(c.samples.map((x) => x.wal_seq));
  const walLast = (await c.jsm.streams.info(c.subjects.walName)).state.last_seq;
  const drLast = (await c.jsm.streams.info(c.subjects.decisionsName)).state.last_seq;
  const outcomes: Record<string, number> = {};
  const rejections: Record<string, number> = {};
  const facts: Record<string, number> = {};
  const specOf = new Map(core.chart.transitions.map((t) => [t.name, t]));
  const wal = new StreamReader(c.js, c.subjects.walName, 1);
  const drs = new StreamReader(c.js, c.subjects.decisionsName, 1);
  let lastHlc: Hlc | null = null;
  const enc = (b: Uint8Array): string => Buffer.from(b).toString('base64');
  const witness = new WindowWitness(core.chart, c.genesis.config.window_policy, count);
  const automatic: Record<string, number> = {};
  const bodyOf = (data: Uint8Array): unknown => {
    const d = decodeEnvelope(data);
    if (!d.ok) return null;
    try {
      return JSON.parse(new TextDecoder().decode(d.body)) as unknown;
    } catch (err) {
      // Not JSON: the witness reports the frame as unreadable.
      void err;
      return null;
    }
  };
  try {
    while (replica.lastSeq < Math.min(walLast, drLast)) {
      const msg = await wal.next();
      const d = replica.decideNext(msg);
      if (sampledSeqs.has(msg.seq)) headAt.set(msg.seq, core.hashes(d.step.state).head);
      const raw = await drs.next();
      const rec = decodeDr(raw.data);
      outcomes[rec.outcome] = (outcomes[rec.outcome] ?? 0) + 1;
      if (rec.outcome === 'rejected') rejections[rec.code ?? '?'] = (rejections[rec.code ?? '?'] ?? 0) + 1;
      if (rec.outcome === 'fact' && rec.transition !== null) facts[rec.transition] = (facts[rec.transition] ?? 0) + 1;

      const seen = c.observed.get(raw.seq);
      if (seen !== undefined) {
        count('observed_record_kept');
        if (enc(seen) !== enc(raw.data)) fail({ kind: 'observed_record_changed', seq: raw.seq, detail: 'a record a client read mid-run differs now' });
      }
      const t = c.told.get(msg.seq);
      if (t !== undefined) {
        count('told_outcome');
        if (t.outcome !== rec.outcome || t.transition !== rec.transition) {
          fail({ kind: 'told_mismatch', seq: msg.seq, detail: `producer computed ${t.outcome} ${String(t.transition)}, record says ${rec.outcome} ${String(rec.transition)}` });
        }
      }
      const isBeat = rec.outcome === 'fact' && rec.transition === 'backbeat';
      for (const v of witness.observe(msg.seq, rec, isBeat ? bodyOf(msg.data) : null, msg.logMs)) fail(v);
      if (rec.outcome === 'accepted') witness.applied(rec.applied);
      if (rec.outcome === 'fact' || rec.outcome === 'quarantined') {
        for (const a of rec.applied) automatic[a] = (automatic[a] ?? 0) + 1;
      }
      for (const f of c.fenceWindows) {
        if (msg.seq <= f.fromSeq || msg.seq > f.toSeq) continue;
        count('zombie_fence');
        if (rec.writer === f.signer) fail({ kind: 'zombie_record', seq: msg.seq, detail: `${f.name}, stopped past its lease, wrote record ${msg.seq} after the takeover` });
      }
      if (rec.outcome !== 'accepted' || rec.channel !== 'proposal') continue;
      count('accepted_record');
      if (rec.guard_outcomes.length === 0) fail({ kind: 'no_guard_outcomes', seq: msg.seq, detail: String(rec.transition) });
      if (rec.justification === '') fail({ kind: 'no_justification', seq: msg.seq, detail: String(rec.transition) });
      if (!rec.ucxl.startsWith('ucxl://') || !rec.ucxl.endsWith(`@wal/${msg.seq}`)) fail({ kind: 'bad_ucxl_backlink', seq: msg.seq, detail: rec.ucxl });
      const p = rec.hlc === null ? null : parseHlc(rec.hlc);
      if (p === null || !p.ok) fail({ kind: 'bad_hlc', seq: msg.seq, detail: String(rec.hlc) });
      else {
        count('hlc_monotonic');
        if (lastHlc !== null && compareHlc(lastHlc, p.hlc) >= 0) fail({ kind: 'hlc_not_increasing', seq: msg.seq, detail: String(rec.hlc) });
        lastHlc = p.hlc;
      }
      const spec = rec.transition === null ? undefined : specOf.get(rec.transition);
      for (const guard of ['window', 'readiness'] as const) {
        if (spec?.guards.includes(guard) !== true) continue;
        count(`${guard}_guard`);
        const g = rec.guard_outcomes.find((x) => x.guard === guard);
        if (g?.ok !== true) fail({ kind: `${guard}_guard_not_passed`, seq: msg.seq, detail: `${String(rec.transition)} accepted without ${guard} passing` });
      }
    }
  } finally {
    await wal.close();
    await drs.close();
  }
  for (const seq of c.told.keys()) {
    if (seq > drLast) fail({ kind: 'told_missing', seq, detail: `acknowledged WAL entry ${seq} has no decision record (last ${drLast})` });
  }

  // Every replica, at every seq it was seen at, agreed with the offline replay.
  for (const s of c.samples) {
    const h = headAt.get(s.wal_seq);
    if (h === undefined) continue;
    count('replica_sample');
    if (h !== s.state_hash) fail({ kind: 'replica_hash_mismatch', seq: s.wal_seq, detail: `${s.name} reported ${s.state_hash}, replay ${h}` });
  }
  for (const [name, s] of c.finalStatuses) {
    count('final_status');
    if (s.state_hash !== rep.final_state_hash || s.wal_seq !== walLast) {
      fail({ kind: 'final_mismatch', seq: s.wal_seq, detail: `${name} ends at ${s.wal_seq} ${s.state_hash}; audit ${walLast} ${rep.final_state_hash}` });
    }
  }
  count('producer_fold');
  if (c.producerHead !== rep.final_state_hash) fail({ kind: 'producer_fold_mismatch', seq: walLast, detail: `producer ${c.producerHead}, audit ${rep.final_state_hash}` });
  for (const [k, n] of perKind) if (n > MAX_PER_KIND) violations.push({ kind: k, seq: null, detail: `${n - MAX_PER_KIND} more not listed` });
  return {
    violations, walEntries: walLast, applied: rep.applied_count, finalHash: rep.final_state_hash, outcomes, rejections, facts, counts,
    backbeat: witness.summary, automatic,
  };
}
