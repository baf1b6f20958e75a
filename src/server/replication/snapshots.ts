/**
 * Snapshots in the `<P>_SNAPSHOTS` KV bucket, key `head` (ARCHITECTURE §5).
 *
 * The state is every chain's document (the deployment's and each project's, WorldDoc), all at
 * one WAL position. A snapshot is `{state, state_hash, facts_hash, wal_seq, wal_entry_hash,
 * hlc_last, chart_hash, dr_hash}`. When its JSON fits under the server's max payload it is
 * stored inline in `head`. When it does not, it is stored **per document** (`encoding:
 * documents`): each document's JSON is split into chunks under content-addressed keys
 * `chunk.<sha256 hex>` in the same bucket, and an *index* `{deployment: [keys], projects: {id:
 * [keys]}, chains, applied_total}`, itself chunked, is named by `head`. A document that did not
 * change since the last snapshot this process wrote has the same keys and is not written again,
 * so a snapshot of 10,000 projects of which a few changed writes those few and the index. Every
 * chunk is verified against its key on load. After each write, chunks no retained `head`
 * revision names are purged. Heads of the older `chunked` encoding (the whole state's JSON cut
 * into chunks) are still read.
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
  /**
   * Taken by a member deciding held chains (ADR 0006): `wal_seq` is the deployment's position;
   * each project's document is at its own (`covered` in its chain head). Only such members
   * start from it.
   */
  readonly held?: true;
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

/** What one snapshot attempt came to, as writers report it. */
export type SnapshotOutcome =
  | { seq: number; hlc: string | null; revision: number; bytes: number; encoding: string }
  | { seq: number; error: string };

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
    })
  | (SnapshotMeta & {
      readonly v: 2;
      readonly encoding: 'documents';
      /** Chunks of the index's JSON. */
      readonly index: readonly string[];
      readonly bytes: number;
    });

/** The `documents` encoding's index: each document as its chunk keys. */
interface DocIndex {
  readonly deployment: readonly string[];
  readonly projects: { readonly [project: string]: readonly string[] };
  readonly chains: WorldDoc['chains'];
  readonly applied_total: number;
}

/** Chunk reads in flight at once while loading a `documents` snapshot. */
const LOAD_PARALLEL = 64;

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
  /**
   * Chunk keys this store wrote or read and verified (content-addressed: never change), trusted
   * to be there while no one else writes heads (another writer's garbage collection may purge
   * them): forgotten when a write finds a head this store did not write.
   */
  private readonly known = new Set<string>();
  private lastWritten = -1;

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
  ): Promise<{ revision: number; bytes: number; encoding: 'inline' | 'documents' }> {
    const limit = this.maxPayloadBytes - SNAPSHOT_PAYLOAD_MARGIN_BYTES;
    if (expectedRevision !== this.lastWritten) this.known.clear();
    const metaText = JSON.stringify({ v: 2, encoding: 'inline', ...meta });
    // Small states go inline. Measured by the documents' sizes first, so a large state is
    // never serialized whole only to be cut up again.
    const docTexts = new Map<string, string>();
    let total = 0;
    for (const [id, doc] of Object.entries(state.projects)) {
      const t = JSON.stringify(doc);
      docTexts.set(id, t);
      total += t.length;
    }
    const deploymentText = JSON.stringify(state.deployment);
    total += deploymentText.length;
    if (total + metaText.length + 1024 + 200 * docTexts.size < limit) {
      const stateText = JSON.stringify(state);
      const inline = `${metaText.slice(0, -1)},"state":${stateText}}`;
      if (Buffer.byteLength(inline, 'utf8') <= limit) {
        const revision = await this.putHead(enc.encode(inline), expectedRevision);
        return { revision, bytes: stateText.length, encoding: 'inline' };
      }
    }
    const projects: Record<string, string[]> = {};
    for (const [id, t] of docTexts) projects[id] = await this.putChunks(t, limit);
    const index: DocIndex = {
      deployment: await this.putChunks(deploymentText, limit),
      projects,
      chains: state.chains,
      applied_total: state.applied_total,
    };
    const indexKeys = await this.putChunks(JSON.stringify(index), limit);
    const head = JSON.stringify({
      v: 2, ...meta, encoding: 'documents', index: indexKeys, bytes: total,
    });
    const revision = await this.putHead(enc.encode(head), expectedRevision);
    await this.collectGarbage();
    return { revision, bytes: total, encoding: 'documents' };
  }

  private async putHead(data: Uint8Array, expectedRevision: number): Promise<number> {
    this.lastWritten = expectedRevision === 0
      ? await this.kv.create(HEAD, data)
      : await this.kv.update(HEAD, data, expectedRevision);
    return this.lastWritten;
  }

  /** Store `text` as content-addressed chunks (skipping those known to be there); their keys. */
  private async putChunks(text: string, limit: number): Promise<string[]> {
    const bytes = enc.encode(text);
    const keys: string[] = [];
    for (let off = 0; off < bytes.length || off === 0; off += limit) {
      const part = bytes.subarray(off, Math.min(bytes.length, off + limit));
      const key = sha(part);
      keys.push(key);
      if (!this.known.has(key)) {
        await this.kv.put(`chunk.${key}`, part);
        this.known.add(key);
      }
      if (bytes.length === 0) break;
    }
    return keys;
  }

  /** Read and verify chunks into the text they make up. */
  private async readChunks(revision: number, keys: readonly string[]): Promise<string> {
    const parts: Uint8Array[] = [];
    for (const key of keys) {
      const c = await this.kv.get(`chunk.${key}`);
      if (c === null || c.operation !== 'PUT') {
        throw new Error(`snapshot revision ${revision}: chunk ${key} is missing`);
      }
      if (sha(c.value) !== key) {
        throw new Error(`snapshot revision ${revision}: chunk ${key} is corrupt`);
      }
      this.known.add(key);
      parts.push(c.value);
    }
    return dec.decode(Buffer.concat(parts));
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
    if (head.encoding === 'chunked') {
      const text = await this.readChunks(revision, head.chunks);
      const { chunks: _c, bytes: _b, encoding: _e, ...meta } = head;
      return { ...meta, state: JSON.parse(text) as WorldDoc, revision, bytes: head.bytes };
    }
    const index = JSON.parse(await this.readChunks(revision, head.index)) as DocIndex;
    const ids = Object.keys(index.projects);
    type Doc = WorldDoc['deployment'];
    const docOf = async (keys: readonly string[]): Promise<Doc> =>
      JSON.parse(await this.readChunks(revision, keys)) as Doc;
    const docs: (readonly [string, Doc])[] = [];
    for (let i = 0; i < ids.length; i += LOAD_PARALLEL) {
      docs.push(...await Promise.all(ids.slice(i, i + LOAD_PARALLEL).map(
        async (id) => [id, await docOf(index.projects[id] ?? [])] as const,
      )));
    }
    const state: WorldDoc = {
      v: 2,
      deployment: await docOf(index.deployment),
      projects: Object.fromEntries(docs),
      chains: index.chains,
      applied_total: index.applied_total,
    };
    const { index: _i, bytes: _b, encoding: _e, ...meta } = head;
    return { ...meta, state, revision, bytes: head.bytes };
  }

  /** Every chunk key a head names (for the documents encoding, through its index). */
  private async chunksOf(head: Head, revision: number): Promise<string[]> {
    if (head.encoding === 'inline') return [];
    if (head.encoding === 'chunked') return [...head.chunks];
    const index = JSON.parse(await this.readChunks(revision, head.index)) as DocIndex;
    return [
      ...head.index, ...index.deployment, ...Object.values(index.projects).flat(),
    ];
  }

  /** Purge chunks that no retained head revision names. */
  private async collectGarbage(): Promise<void> {
    const live = new Set<string>();
    const revs = (await this.revisions()).slice(0, this.historyKept);
    for (const rev of revs) {
      const e = await this.kv.get(HEAD, { revision: rev });
      if (e === null) continue;
      const head = JSON.parse(dec.decode(e.value)) as Head;
      try {
        for (const k of await this.chunksOf(head, rev)) live.add(k);
      } catch (err) {
        void err; // a head whose chunks are gone already names nothing to keep
      }
    }
    const keys = await this.kv.keys('chunk.*');
    const dead: string[] = [];
    for await (const k of keys) if (!live.has(k.slice('chunk.'.length))) dead.push(k);
    for (const k of dead) {
      await this.kv.purge(k);
      this.known.delete(k.slice('chunk.'.length));
    }
  }
}
