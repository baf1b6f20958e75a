/**
 * Per-project snapshots in the `<P>_SNAPSHOTS` KV bucket, key `project.<id>` (ARCHITECTURE §5:
 * "keys per project"), written by the holder of a project's chain when members decide only the
 * chains they hold (docs/adr/0006-deciding-held-chains.md).
 *
 * A snapshot is the project's stored document after one of its records, with what binds it to
 * that record: `{v, project, state, state_hash, wal_seq, wal_entry_hash, hlc_last, chart_hash,
 * chain_index, dr_hash, dr_seq, applied}`. A member that does not decide the project reads it to
 * drop the entries it had queued for the project up to `wal_seq`; it trusts it only once the
 * record at `dr_seq` is a genuine record of that chain and index, signed by a writer, whose
 * content hash is `dr_hash` and whose post-state hash is the document's (`verifyProjectSnapshot`).
 * Everything else is recomputed: the document must hash to `state_hash` and pass the core's
 * load checks (chart, idempotency chain).
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Core, State } from '../../core/index.js';
import type { SignatureVerifier } from '../../crypto/verify.js';
import type { Hasher } from '../../core/index.js';
import {
  contentOf,
  drHash,
  verifyDrSignature,
  writerProblem,
  type DecisionRecord,
} from '../../protocol/decision-record.js';
import type { ChainHead } from './replica.js';
import { SNAPSHOT_PAYLOAD_MARGIN_BYTES, putRevisions } from './snapshots.js';

/** One project's snapshot as stored (JSON). */
export interface ProjectSnapshot {
  readonly v: 1;
  readonly project: string;
  /** The project's stored document after record `chain_index`. */
  readonly state: State;
  readonly state_hash: string;
  readonly wal_seq: number;
  readonly wal_entry_hash: string;
  readonly hlc_last: string | null;
  readonly chart_hash: string;
  readonly chain_index: number;
  /** Content hash of record `chain_index` (where the chain continues). */
  readonly dr_hash: string;
  /** DECISIONS seq of record `chain_index`. */
  readonly dr_seq: number;
  /** Transitions applied in the chain up to it (TRANSITIONS numbering per chain). */
  readonly applied: number;
  readonly taken_at_ms: number;
}

/** The KV key of a project's snapshot. */
export function projectSnapshotKey(project: string): string {
  return `project.${project}`;
}

/** The chain head a snapshot continues from. */
export function headOf(s: ProjectSnapshot): ChainHead {
  return { index: s.chain_index, drHash: s.dr_hash, applied: s.applied };
}

/** What a write came to. */
export type ProjectSnapshotWrite =
  | { readonly ok: true; readonly bytes: number; readonly revision: number }
  | { readonly ok: false; readonly reason: string };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Per-project snapshots over the opened SNAPSHOTS bucket. */
export class ProjectSnapshots {
  constructor(private readonly kv: KV, private readonly maxPayload: number) {}

  /**
   * Store `s`. A snapshot too large for one message is not written (said in the outcome):
   * members then keep the project's entries queued, bounded by their queue limit.
   */
  async write(
    s: ProjectSnapshot,
    genuine: (stored: ProjectSnapshot) => Promise<boolean> = () => Promise.resolve(true),
  ): Promise<ProjectSnapshotWrite> {
    const data = enc.encode(JSON.stringify(s));
    if (data.length > this.maxPayload - SNAPSHOT_PAYLOAD_MARGIN_BYTES) {
      return {
        ok: false,
        reason: `${data.length} bytes is over the server's max payload ` +
          `(${this.maxPayload} less ${SNAPSHOT_PAYLOAD_MARGIN_BYTES})`,
      };
    }
    // Never backwards: a paused ex-holder must not replace a newer snapshot with an older one
    // (members that evicted a project reload it from here, ADR 0007). Compare-and-set on the
    // revision read, so a concurrent newer write wins. A stored value that claims to be newer
    // is believed only if it is genuine (`genuine`: its record verifies); a foreign write
    // cannot block the key that way.
    const key = projectSnapshotKey(s.project);
    const cur = await this.kv.get(key);
    const stored = cur === null || cur.operation !== 'PUT' ? null : parsed(cur.value);
    if (stored !== null && stored.chain_index >= s.chain_index && await genuine(stored)) {
      return stored.chain_index === s.chain_index && stored.state_hash === s.state_hash
        ? { ok: true, bytes: cur?.length ?? 0, revision: cur?.revision ?? 0 }
        : { ok: false, reason: `a snapshot at chain index ${stored.chain_index} is stored` };
    }
    try {
      const revision = cur === null
        ? await this.kv.create(key, data)
        : await this.kv.update(key, data, cur.revision);
      return { ok: true, bytes: data.length, revision };
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err;
      return { ok: false, reason: 'another snapshot was written at the same time' };
    }
  }

  /** The newest snapshot of `project` as stored (unverified), or null; throws on bad JSON. */
  async read(project: string): Promise<ProjectSnapshot | null> {
    const e = await this.kv.get(projectSnapshotKey(project));
    if (e === null || e.operation !== 'PUT') return null;
    return JSON.parse(dec.decode(e.value)) as ProjectSnapshot;
  }

  /**
   * The snapshot of `project` at exactly `index` whose record hashes to `drHash` and that
   * `accept` takes (the caller checks the document against the hash it evicted), searched from
   * the newest revision back through the key's history (what a member reloading an evicted
   * project needs when a newer or foreign write replaced it), or null.
   */
  async atIndex(
    project: string,
    index: number,
    drHash: string,
    accept: (s: ProjectSnapshot) => boolean,
  ): Promise<ProjectSnapshot | null> {
    const key = projectSnapshotKey(project);
    for (const rev of await putRevisions(this.kv, key)) {
      const e = await this.kv.get(key, { revision: rev });
      const s = e === null || e.operation !== 'PUT' ? null : parsed(e.value);
      if (s !== null && s.chain_index === index && s.dr_hash === drHash && accept(s)) return s;
    }
    return null;
  }
}

/** A stored value as a snapshot, or null when it is not one (never throws). */
function parsed(value: Uint8Array): ProjectSnapshot | null {
  try {
    const v = JSON.parse(dec.decode(value)) as unknown;
    return typeof v === 'object' && v !== null && Number.isSafeInteger(
      (v as { chain_index?: unknown }).chain_index,
    ) ? v as ProjectSnapshot : null;
  } catch (err) {
    void err; // not JSON: not a snapshot (a foreign write), treated as absent
    return null;
  }
}

/** A KV compare-and-set lost to another write (JetStream 10071, wrong last sequence). */
function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError
    ? err.code === JetStreamApiCodes.StreamWrongLastSequence
    : err instanceof Error && /wrong last sequence/i.test(err.message);
}

/**
 * Why `s` cannot be used for `project`, or null. `rec` is the stored record at `s.dr_seq`
 * (null when there is none); `identities` the registry its writer is checked against.
 */
export function projectSnapshotProblem(
  core: Core,
  hasher: Hasher,
  verifier: SignatureVerifier,
  identities: State['identities'],
  project: string,
  s: ProjectSnapshot,
  rec: DecisionRecord | null,
): string | null {
  if (typeof s !== 'object' || s === null || s.v !== 1) return 'not a v1 project snapshot';
  if (s.project !== project) return `names project ${String(s.project)}`;
  if (!Number.isSafeInteger(s.chain_index) || s.chain_index < 1 ||
    !Number.isSafeInteger(s.wal_seq) || !Number.isSafeInteger(s.dr_seq) ||
    !Number.isSafeInteger(s.applied) || typeof s.dr_hash !== 'string') {
    return 'positions are not integers';
  }
  if (typeof s.state !== 'object' || s.state === null) return 'no document';
  if (s.chart_hash !== core.chartHash) return `taken with chart ${String(s.chart_hash)}`;
  const loaded = core.verifyLoaded(s.state);
  if (loaded !== null) return loaded;
  const head = core.hashes(s.state).head;
  if (head !== s.state_hash) return `document hashes to ${head}, snapshot claims ${s.state_hash}`;
  if (rec === null) return `no record at DECISIONS seq ${s.dr_seq}`;
  if (rec.project !== project || rec.chain_index !== s.chain_index || rec.wal_seq !== s.wal_seq) {
    return `the record at DECISIONS seq ${s.dr_seq} is not ${project} index ${s.chain_index}`;
  }
  let verifies = false;
  try {
    verifies = verifyDrSignature(rec, verifier);
  } catch (err) {
    void err; // a malformed writer or signature field: reported as not verifying
  }
  if (!verifies) return `the record at DECISIONS seq ${s.dr_seq} does not verify`;
  const notWriter = writerProblem(identities, rec);
  if (notWriter !== null) return notWriter;
  if (drHash(hasher, contentOf(rec)) !== s.dr_hash) return 'dr_hash is not the record\'s';
  if (rec.state_post_hash !== s.state_hash) return 'the record\'s post-state is another';
  return null;
}
