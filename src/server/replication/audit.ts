/**
 * Audit: everything a downstream service could check, from the streams alone. Walk the WAL
 * from genesis with a fresh reducer, and for every entry check that its decision record
 * exists at the same sequence, that its content is byte-identical to the recomputation
 * (hence every state_post_hash), that the chain links, and that the writer's signature
 * verifies; then check that TRANSITIONS holds exactly one record per applied transition.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { type Genesis, createCore, jcs } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { createNodeVerifier } from '../../crypto/verify.js';
import {
  chainStart,
  contentOf,
  decodeDr,
  verifyDrSignature,
} from '../../protocol/decision-record.js';
import { StreamReader } from '../../protocol/batch-reader.js';
import { Replica, ReplayMismatchError } from './replica.js';

/** One problem found. */
export interface AuditProblem {
  readonly seq: number;
  readonly kind:
    | 'missing_record'
    | 'content_mismatch'
    | 'chain_break'
    | 'bad_signature'
    | 'seq_mismatch'
    | 'transitions_count';
  readonly detail: string;
}

/** The audit's answer. */
export interface AuditReport {
  readonly ok: boolean;
  readonly wal_entries: number;
  readonly decision_records: number;
  readonly transition_records: number;
  readonly applied_count: number;
  readonly final_state_hash: string;
  readonly final_facts_hash: string;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly problems: readonly AuditProblem[];
  readonly millis: number;
}

/** What to audit. */
export interface AuditTarget {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly genesis: Genesis;
  readonly walName: string;
  readonly decisionsName: string;
  readonly transitionsName: string;
  /** Called every 1,000 entries and at the end. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Stop after this many problems (default 20). */
  readonly maxProblems?: number;
}

/** Audit a deployment's streams. */
export async function audit(t: AuditTarget): Promise<AuditReport> {
  const t0 = performance.now();
  const core = createCore(nodeHasher);
  const verifier = createNodeVerifier();
  const state = core.genesis(t.genesis);
  const replica = new Replica(core, nodeHasher, verifier, state.meta.instance_id, {
    state,
    lastSeq: 0,
    lastDrHash: chainStart(nodeHasher, state.meta.genesis_hash),
    lastWalEntryHash: '',
  });
  const walLast = (await t.jsm.streams.info(t.walName)).state.last_seq;
  const drLast = (await t.jsm.streams.info(t.decisionsName)).state.last_seq;
  const trLast = (await t.jsm.streams.info(t.transitionsName)).state.last_seq;
  const problems: AuditProblem[] = [];
  const outcomes: Record<string, number> = {};
  const max = t.maxProblems ?? 20;
  const wal = new StreamReader(t.js, t.walName, 1);
  const drs = new StreamReader(t.js, t.decisionsName, 1);
  try {
    while (replica.lastSeq < walLast && problems.length < max) {
      const msg = await wal.next();
      const d = replica.decideNext(msg);
      outcomes[d.content.outcome] = (outcomes[d.content.outcome] ?? 0) + 1;
      if (msg.seq > drLast) {
        problems.push({
          seq: msg.seq,
          kind: 'missing_record',
          detail: `no decision record for WAL entry ${msg.seq}`,
        });
        continue;
      }
      const raw = await drs.next();
      if (raw.seq !== msg.seq) {
        problems.push({
          seq: msg.seq,
          kind: 'seq_mismatch',
          detail: `record stream gave ${raw.seq}`,
        });
        break;
      }
      const rec = decodeDr(raw.data);
      if (rec.prev_dr_hash !== d.content.prev_dr_hash) {
        problems.push({
          seq: msg.seq,
          kind: 'chain_break',
          detail: `prev_dr_hash ${rec.prev_dr_hash}, expected ${d.content.prev_dr_hash}`,
        });
      }
      if (jcs(contentOf(rec)) !== d.contentText) {
        const e = (() => {
          try {
            Replica.compare(d, rec);
            return null;
          } catch (err) {
            return err instanceof ReplayMismatchError ? err : null;
          }
        })();
        problems.push({
          seq: msg.seq,
          kind: 'content_mismatch',
          detail: e?.message ?? 'content differs',
        });
      }
      if (!verifyDrSignature(rec, verifier)) {
        problems.push({
          seq: msg.seq,
          kind: 'bad_signature',
          detail: `signature of ${rec.writer} does not verify`,
        });
      }
      if (msg.seq % 1000 === 0) t.onProgress?.(msg.seq, walLast);
    }
  } finally {
    await wal.close();
    await drs.close();
  }
  const applied = replica.state.clock.applied_count;
  if (problems.length === 0 && trLast !== applied) {
    problems.push({
      seq: walLast,
      kind: 'transitions_count',
      detail: `TRANSITIONS holds ${trLast} records, ${applied} transitions were applied`,
    });
  }
  t.onProgress?.(replica.lastSeq, walLast);
  const hs = core.hashes(replica.state);
  return {
    ok: problems.length === 0,
    wal_entries: walLast,
    decision_records: drLast,
    transition_records: trLast,
    applied_count: applied,
    final_state_hash: hs.head,
    final_facts_hash: hs.facts,
    outcomes,
    problems,
    millis: Math.round(performance.now() - t0),
  };
}
