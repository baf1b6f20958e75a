/**
 * Idempotency memory: the idem keys of accepted (and quarantined) proposals, remembered for
 * `idem_retention_ms` of HLC time and at most `idem_max` of them.
 *
 * Accepted HLCs strictly increase, so insertion order is HLC order and every eviction removes
 * the oldest entries: the memory is a FIFO. It is committed to by a hash chain:
 *
 *   head = H(…H(H(base | e1) | e2)… | en)        H(x) = "sha256-" + hex(SHA-256(utf8(x)))
 *   e_i  = JCS(entry)                              "|" is a literal vertical bar
 *
 * Adding an entry costs one hash (head' = H(head | e)); evicting e1 costs one hash too
 * (base' = H(base | e1), head unchanged). The (base, entries, head) triple is checkable from
 * content alone: recompute the chain from `base` over `entries` and compare with `head`.
 *
 * Entries are stored in chunks of at most IDEM_CHUNK_MAX so that an append copies one small
 * chunk, not the whole memory. A key → entry index is kept beside the section (not in it) and
 * handed from each section to its successor; a section whose index was handed on rebuilds its
 * own on demand, so branching from an old state is correct, only slower.
 */
import { hashText, type Hasher, type Sha256 } from '../encoding/hash.js';
import { jcs } from '../encoding/json.js';

/** Entries per chunk: an append copies at most this many references. */
export const IDEM_CHUNK_MAX = 256;

/** One remembered proposal. */
export interface IdemEntry {
  readonly idem_key: string;
  readonly wal_seq: number;
  readonly outcome: 'accepted' | 'quarantined';
  /** Physical part of the proposal's HLC, for retention. */
  readonly hlc_ms: number;
  /**
   * What the key was used for: `<transition>:<inputs_hash>`. A later proposal with the same
   * key and the same body is a `duplicate`; with another body it is `idem_conflict` (a key
   * names one request, never "whatever came first").
   */
  readonly body_key: string;
}

/** The `body_key` of a proposal: its transition and the hash of its inputs. */
export function idemBodyKey(transition: string, inputsHash: string): string {
  return `${transition}:${inputsHash}`;
}

/** The idempotency memory section of the state. */
export interface IdemSection {
  readonly base: string;
  readonly head: string;
  readonly count: number;
  readonly chunks: readonly (readonly IdemEntry[])[];
}

/** Chain start for a fresh instance. */
export function emptyIdem(hasher: Hasher, genesisHash: string): IdemSection {
  const base = hashText(hasher, `swoosh/idem/v1|${genesisHash}`);
  return { base, head: base, count: 0, chunks: [] };
}

/** Chain step. */
export function chainStep(hasher: Hasher, prev: string, entry: IdemEntry): Sha256 {
  return hashText(hasher, `${prev}|${jcs(entry)}`);
}

const indexes = new WeakMap<IdemSection, Map<string, IdemEntry>>();

function indexOf(section: IdemSection): Map<string, IdemEntry> {
  let idx = indexes.get(section);
  if (idx === undefined) {
    idx = new Map();
    for (const chunk of section.chunks) for (const e of chunk) idx.set(e.idem_key, e);
    indexes.set(section, idx);
  }
  return idx;
}

/** The remembered entry for `key`, if any. */
export function idemLookup(section: IdemSection, key: string): IdemEntry | undefined {
  return indexOf(section).get(key);
}

/** Limits applied on each append. */
export interface IdemLimits {
  readonly retentionMs: number;
  readonly max: number;
}

/**
 * Append `entry`, then evict entries older than `entry.hlc_ms - retentionMs` and any beyond
 * `max`, oldest first. Returns a new section; `section` is not changed.
 */
export function idemAppend(
  hasher: Hasher,
  section: IdemSection,
  entry: IdemEntry,
  limits: IdemLimits,
): IdemSection {
  const idx = indexOf(section);
  indexes.delete(section); // hand the index on; `section` rebuilds its own if asked again
  const chunks = section.chunks.slice();
  const last = chunks[chunks.length - 1];
  if (last === undefined || last.length >= IDEM_CHUNK_MAX) chunks.push([entry]);
  else chunks[chunks.length - 1] = [...last, entry];
  idx.set(entry.idem_key, entry);
  const head = chainStep(hasher, section.head, entry);
  let base = section.base;
  let count = section.count + 1;
  const cutoffMs = entry.hlc_ms - limits.retentionMs;
  let drop = 0;
  let first = chunks[0];
  while (first !== undefined) {
    const oldest = first[drop];
    if (oldest === undefined) {
      chunks.shift();
      first = chunks[0];
      drop = 0;
      continue;
    }
    if (oldest.hlc_ms >= cutoffMs && count <= limits.max) break;
    base = chainStep(hasher, base, oldest);
    if (idx.get(oldest.idem_key) === oldest) idx.delete(oldest.idem_key);
    count -= 1;
    drop += 1;
  }
  if (drop > 0 && first !== undefined) chunks[0] = first.slice(drop);
  const next: IdemSection = { base, head, count, chunks };
  indexes.set(next, idx);
  return next;
}

/** Recompute the chain from `base` over the entries; true when it reaches `head`. */
export function idemVerify(hasher: Hasher, section: IdemSection): boolean {
  let h = section.base;
  let n = 0;
  for (const chunk of section.chunks) {
    for (const e of chunk) {
      h = chainStep(hasher, h, e);
      n += 1;
    }
  }
  return h === section.head && n === section.count;
}
