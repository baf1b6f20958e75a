/**
 * Snapshots in the `<P>_SNAPSHOTS` KV bucket, key `head` (ARCHITECTURE §5).
 *
 * The state is every chain's document (the deployment's and each project's, WorldDoc) in one
 * value; per-project keys, written on their own schedule, are the next step (ADR 0002 §5).
 * A snapshot is `{state, state_hash, facts_hash, wal_seq, wal_entry_hash, hlc_last,
 * chart_hash, dr_hash}`. When its JSON fits under the server's max payload it is stored inline
 * in `head`. When it does not, it is split into chunks stored under content-addressed keys
 * `chunk.<sha256 hex>` in the same bucket, and `head` holds a manifest naming them in order:
 * no separate Object Store, unchanged chunks are shared between snapshots, and every chunk is
 * verified against its key on load. After each write, chunks no retained `head` revision
 * names are purged.
 *
 * `head` is written with revision CAS, so two writers never overwrite each other's snapshot.
 */
import type { KV } from '@nats-io/kv';
import { createHash } from 'node:crypto';
import type { Core } from '../../core/index.js';
import { latestHlc, worldHash, type ReplicaPosition, type WorldDoc } from './replica.js';

/** Bytes kept free under max_payload for the KV headers and framing. */
export const SNAPSHOT_PAYLOAD_MARGIN_BYTES = 4096;

/** Metadata stored with every snapshot. */
export interface SnapshotMeta {
  readonly state_hash: string;
  readonly facts_hash: string;
  readonly wal_seq: number;
  readonly wal_entry_hash: string;
  readonly hlc_last: string | null;
  readonly chart_hash: string;
  /** Content hash of the decision record at wal_seq: where the DR chain continues. */
  readonly dr_hash: string;
  /** Applied-transition count at wal_seq (TRANSITIONS stream fence). */
  readonly applied_count: number;
  readonly taken_at_ms: number;
  /**
   * Writers by bucket only (records of different chains are not in WAL order): the DECISIONS
   * seq of the record of entry `wal_seq`.
   */
  readonly dr_seq?: number;
  /**
   * Writers by bucket only: every record of an entry after `wal_seq` is at a DECISIONS seq past
   * this one (a member resumes reading records there).
   */
  readonly dr_from?: number;
}

/** The metadata of a snapshot of position `p` (what every snapshot writer records). */
export function snapshotMeta(core: Core, p: ReplicaPosition): SnapshotMeta {
  return {
    state_hash: worldHash(core, p),
    facts_hash: core.hashes(p.deployment).facts,
    wal_seq: p.lastSeq,
    wal_entry_hash: p.lastWalEntryHash,
    hlc_last: latestHlc(p),
    chart_hash: p.deployment.meta.chart_hash,
    dr_hash: p.lastDrHash,
    applied_count: p.appliedTotal,
    taken_at_ms: Date.now(),
  };
}

/** A loaded snapshot. */
export interface Snapshot extends SnapshotMeta {
  readonly state: WorldDoc;
  readonly revision: number;
  readonly bytes: number;
}

type Head =
  | (SnapshotMeta & { readonly v: 2; readonly encoding: 'inline'; readonly state: WorldDoc })
  | (SnapshotMeta & {
      readonly v: 2;
      readonly encoding: 'chunked';
      readonly chunks: readonly string[];
      readonly bytes: number;
    });

const HEAD = 'head';
const enc = new TextEncoder();
const dec = new TextDecoder();
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/**
 * Revisions of the PUTs kept in `key`'s history, newest first. Bounded by the revision the key
 * had when the read began: the client's history iterator ends only when a delivered entry has
 * nothing pending (or on an idle heartbeat), so a key written continuously — a writer taking a
 * snapshot every batch — could keep it open forever (the chaos suite saw exactly that).
 */
export async function putRevisions(kv: KV, key: string): Promise<number[]> {
  const latest = await kv.get(key);
  if (latest === null) return [];
  const out: number[] = [];
  const it = await kv.history({ key });
  for await (const e of it) {
    if (e.operation === 'PUT' && e.revision <= latest.revision) out.push(e.revision);
    if (e.revision >= latest.revision) break;
  }
  return out.sort((a, b) => b - a);
}

/** The store over an opened bucket. */
export class SnapshotStore {
  constructor(
    private readonly kv: KV,
    private readonly maxPayloadBytes: number,
    private readonly historyKept: number,
  ) {}

  /** Write a snapshot if `head` is still at `expectedRevision` (0: must not exist). */
  async write(
    meta: SnapshotMeta,
    state: WorldDoc,
    expectedRevision: number,
  ): Promise<{ revision: number; bytes: number; encoding: 'inline' | 'chunked' }> {
    // The state is serialized once (it can be megabytes): the inline head is composed around it.
    const stateText = JSON.stringify(state);
    const limit = this.maxPayloadBytes - SNAPSHOT_PAYLOAD_MARGIN_BYTES;
    const metaText = JSON.stringify({ v: 2, encoding: 'inline', ...meta });
    const inline = `${metaText.slice(0, -1)},"state":${stateText}}`;
    let headText = inline;
    let encoding: 'inline' | 'chunked' = 'inline';
    if (Buffer.byteLength(inline, 'utf8') > limit) {
      const bytes = enc.encode(stateText);
      const chunks: string[] = [];
      for (let off = 0; off < bytes.length; off += limit) {
        const part = bytes.subarray(off, Math.min(bytes.length, off + limit));
        const key = sha(part);
        chunks.push(key);
        await this.kv.put(`chunk.${key}`, part);
      }
      headText = JSON.stringify({
        v: 2,
        encoding: 'chunked',
        ...meta,
        chunks,
        bytes: bytes.length,
      });
      encoding = 'chunked';
    }
    const data = enc.encode(headText);
    const revision =
      expectedRevision === 0
        ? await this.kv.create(HEAD, data)
        : await this.kv.update(HEAD, data, expectedRevision);
    if (encoding === 'chunked') await this.collectGarbage();
    return { revision, bytes: stateText.length, encoding };
  }

  /** Latest `head` revision, or 0 when there is none. */
  async headRevision(): Promise<number> {
    const e = await this.kv.get(HEAD);
    return e === null || e.operation !== 'PUT' ? 0 : e.revision;
  }

  /** All retained `head` revisions, newest first. */
  async revisions(): Promise<number[]> {
    return putRevisions(this.kv, HEAD);
  }

  /** Load one revision; throws with a specific message when it cannot be read back. */
  async load(revision: number): Promise<Snapshot> {
    const e = await this.kv.get(HEAD, { revision });
    if (e === null || e.operation !== 'PUT') {
      throw new Error(`snapshot revision ${revision} is not there`);
    }
    const head = JSON.parse(dec.decode(e.value)) as Head;
    if (head.v !== 2) {
      throw new Error(
        `snapshot revision ${revision} is of version ${String(head.v)}, this build reads 2 ` +
        '(every chain\'s document)',
      );
    }
    if (head.encoding === 'inline') return { ...head, revision, bytes: e.value.length };
    const parts: Uint8Array[] = [];
    for (const key of head.chunks) {
      const c = await this.kv.get(`chunk.${key}`);
      if (c === null || c.operation !== 'PUT') {
        throw new Error(`snapshot revision ${revision}: chunk ${key} is missing`);
      }
      if (sha(c.value) !== key) {
        throw new Error(`snapshot revision ${revision}: chunk ${key} is corrupt`);
      }
      parts.push(c.value);
    }
    const text = dec.decode(Buffer.concat(parts));
    const { chunks: _c, bytes: _b, encoding: _e, ...meta } = head;
    return { ...meta, state: JSON.parse(text) as WorldDoc, revision, bytes: head.bytes };
  }

  /** Purge chunks that no retained head revision names. */
  private async collectGarbage(): Promise<void> {
    const live = new Set<string>();
    const revs = (await this.revisions()).slice(0, this.historyKept);
    for (const rev of revs) {
      const e = await this.kv.get(HEAD, { revision: rev });
      if (e === null) continue;
      const head = JSON.parse(dec.decode(e.value)) as Head;
      if (head.encoding === 'chunked') for (const k of head.chunks) live.add(k);
    }
    const keys = await this.kv.keys('chunk.*');
    const dead: string[] = [];
    for await (const k of keys) if (!live.has(k.slice('chunk.'.length))) dead.push(k);
    for (const k of dead) await this.kv.purge(k);
  }
}
