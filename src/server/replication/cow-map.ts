/**
 * A string-keyed map whose snapshot costs O(CHUNKS), not O(size): the entries live in CHUNKS
 * sub-maps chosen by a hash of the key, a snapshot shares every sub-map, and the first write to
 * a shared sub-map copies just that one (about size/CHUNKS entries). The replica takes a
 * position (a snapshot of every project's document) twice per batch; with a plain Map that was
 * a full copy of 10,000 entries (~3 ms) each time.
 */

/** Sub-maps per map: a snapshot copies this many references. */
export const COW_CHUNKS = 256;

/** FNV-1a over UTF-16 code units: cheap and stable (only spreads keys; never persisted). */
function chunkOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % COW_CHUNKS;
}

/** A copy-on-write map of string keys. */
export class CowMap<V> implements ReadonlyMap<string, V> {
  private chunks: Map<string, V>[];
  /** True where the sub-map may be shared with a snapshot (copy before writing). */
  private shared: boolean[];
  private count: number;

  constructor(entries: Iterable<readonly [string, V]> = []) {
    this.chunks = Array.from({ length: COW_CHUNKS }, () => new Map<string, V>());
    this.shared = new Array<boolean>(COW_CHUNKS).fill(false);
    this.count = 0;
    for (const [k, v] of entries) this.set(k, v);
  }

  /** A map equal to this one now, unaffected by later writes to either. */
  snapshot(): CowMap<V> {
    const s = Object.create(CowMap.prototype) as CowMap<V>;
    s.chunks = this.chunks.slice();
    s.shared = new Array<boolean>(COW_CHUNKS).fill(true);
    s.count = this.count;
    this.shared.fill(true);
    return s;
  }

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.chunks[chunkOf(key)]?.get(key);
  }

  has(key: string): boolean {
    return this.chunks[chunkOf(key)]?.has(key) ?? false;
  }

  set(key: string, value: V): this {
    const i = chunkOf(key);
    let c = this.chunks[i] as Map<string, V>;
    if (this.shared[i] === true) {
      c = new Map(c);
      this.chunks[i] = c;
      this.shared[i] = false;
    }
    if (!c.has(key)) this.count += 1;
    c.set(key, value);
    return this;
  }

  delete(key: string): boolean {
    const i = chunkOf(key);
    let c = this.chunks[i] as Map<string, V>;
    if (!c.has(key)) return false;
    if (this.shared[i] === true) {
      c = new Map(c);
      this.chunks[i] = c;
      this.shared[i] = false;
    }
    c.delete(key);
    this.count -= 1;
    return true;
  }

  *entries(): MapIterator<[string, V]> {
    for (const c of this.chunks) yield* c.entries();
  }

  *keys(): MapIterator<string> {
    for (const c of this.chunks) yield* c.keys();
  }

  *values(): MapIterator<V> {
    for (const c of this.chunks) yield* c.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}
