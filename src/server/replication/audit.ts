/**
 * Audit: everything a downstream service could check, from the streams alone. Walk the WAL
 * from genesis with a fresh reducer, and for every entry check that its decision record
 * exists at the same sequence, that its content is byte-identical to the recomputation
 * (hence every state_post_hash), that the chain links, and that the writer's signature
 * verifies; then check that TRANSITIONS holds exactly one record per applied transition.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { DEPLOYMENT_CHAIN, type Genesis, type State, createCore, jcs } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { createNodeVerifier } from '../../crypto/verify.js';
import {
  contentOf,
  verifyDrSignature,
  writerProblem,
} from '../../protocol/decision-record.js';
import { StreamReader } from '../../protocol/batch-reader.js';
import { RecordsByWal } from './records-by-wal.js';
import { Replica, ReplayMismatchError, worldHash } from './replica.js';

/** How long the audit waits for the records of the WAL's newest entries to be stored. */
const AUDIT_SETTLE_MS = 5_000;

/** One problem found. */
export interface AuditProblem {
  readonly seq: number;
  readonly kind:
    | 'missing_record'
    | 'content_mismatch'
    | 'chain_break'
    | 'bad_signature'
    | 'unknown_writer'
    | 'seq_mismatch'
    | 'stray_record'
    | 'transitions_count';
  readonly detail: string;
  /** The chain of the record at fault (absent for a count over the whole log). */
  readonly chain?: string;
}

/** The audit's answer. */
export interface AuditReport {
  readonly ok: boolean;
  readonly wal_entries: number;
  readonly decision_records: number;
  readonly transition_records: number;
  readonly applied_count: number;
  /** HEAD of the default project's view (of the deployment's document when it has none). */
  readonly final_state_hash: string;
  readonly final_facts_hash: string;
  /** One hash over every chain's document (what snapshots claim). */
  readonly final_world_hash: string;
  /** Records per chain (project id or `_deployment`). */
  readonly chains: Readonly<Record<string, number>>;
  /** HEAD of every project's view at the end (what `GET /projects/{p}/state` serves). */
  readonly project_hashes: Readonly<Record<string, string>>;
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
  /**
   * Report only this chain's problems (a project id or `_deployment`) and the deployment
   * chain's, which every project depends on. Every entry is still replayed: a project's
   * decisions depend on the deployment's facts.
   */
  readonly chain?: string;
  /**
   * One writer for every chain (writers `lease`): each record is also at the DECISIONS sequence
   * equal to its WAL seq, and that is checked. Otherwise (writers by bucket, the default of a
   * new deployment, and when not given) records are matched to entries by their `wal_seq`.
   */
  readonly aligned?: boolean;
}

/** Audit a deployment's streams. */
export async function audit(t: AuditTarget): Promise<AuditReport> {
  const t0 = performance.now();
  const core = createCore(nodeHasher);
  const verifier = createNodeVerifier();
  const replica = Replica.fromGenesis(core, nodeHasher, verifier, t.genesis);
  const chains: Record<string, number> = {};
  const walLast = (await t.jsm.streams.info(t.walName)).state.last_seq;
  // A live deployment: the newest entries may still be being decided. Give their records a
  // moment (AUDIT_SETTLE_MS) before any is called missing.
  const settleUntil = Date.now() + AUDIT_SETTLE_MS;
  while ((await t.jsm.streams.info(t.decisionsName)).state.messages < walLast &&
    Date.now() < settleUntil) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const drLast = (await t.jsm.streams.info(t.decisionsName)).state.last_seq;
  const trLast = (await t.jsm.streams.info(t.transitionsName)).state.last_seq;
  const problems: AuditProblem[] = [];
  const outcomes: Record<string, number> = {};
  const max = t.maxProblems ?? 20;
  const wal = new StreamReader(t.js, t.walName, 1);
  // Unaligned unless told: matching by wal_seq checks both modes; alignment only one writer's.
  const aligned = t.aligned ?? false;
  const drs = new RecordsByWal(t.js, t.decisionsName, drLast, walLast, (seq, detail) => {
    problems.push({ seq, kind: 'stray_record', detail });
  });
  try {
    while (replica.lastSeq < walLast && problems.length < max) {
      const msg = await wal.next();
      const d = replica.decideNext(msg);
      const report = (p: AuditProblem): void => {
        const chain = d.content.project;
        if (t.chain === undefined || chain === t.chain || chain === DEPLOYMENT_CHAIN) {
          problems.push({ ...p, chain });
        }
      };
      outcomes[d.content.outcome] = (outcomes[d.content.outcome] ?? 0) + 1;
      chains[d.content.project] = (chains[d.content.project] ?? 0) + 1;
      const found = await drs.take(msg.seq);
      if (found === null) {
        report({
          seq: msg.seq,
          kind: 'missing_record',
          detail: `no decision record for WAL entry ${msg.seq}`,
        });
        continue;
      }
      if (aligned && found.seq !== msg.seq) {
        report({
          seq: msg.seq,
          kind: 'seq_mismatch',
          detail: `the record of WAL entry ${msg.seq} is at DECISIONS seq ${found.seq}`,
        });
        break;
      }
      const rec = found.rec;
      if (rec.prev_dr_hash !== d.content.prev_dr_hash) {
        report({
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
        report({
          seq: msg.seq,
          kind: 'content_mismatch',
          detail: e?.message ?? 'content differs',
        });
      }
      if (!verifyDrSignature(rec, verifier)) {
        report({
          seq: msg.seq,
          kind: 'bad_signature',
          detail: `signature of ${rec.writer} does not verify`,
        });
      }
      const notWriter = writerProblem(d.step.before.identities, rec);
      if (notWriter !== null) report({ seq: msg.seq, kind: 'unknown_writer', detail: notWriter });
      if (msg.seq % 1000 === 0) t.onProgress?.(msg.seq, walLast);
    }
  } finally {
    await wal.close();
    await drs.close();
  }
  const applied = replica.appliedTotal;
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
    final_world_hash: worldHash(core, replica.position()),
    chains: Object.fromEntries(Object.entries(chains).sort(([a], [b]) => (a < b ? -1 : 1))),
    project_hashes: Object.fromEntries(replica.projectIds().map((p) =>
      [p, core.hashes(replica.view(p) as State).head])),
    outcomes,
    problems,
    millis: Math.round(performance.now() - t0),
  };
}
