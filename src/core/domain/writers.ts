/**
 * The keys that may sign decision records: identities holding the `writer` role (contract §2,
 * "`writers` are part of the same registry"). A registry in which no identity holds it is
 * *unpinned*: records of any self-named key are accepted, as before writers were pinned.
 */
import type { Identities } from '../model/state.js';

/** The role that lets a key sign decision records. */
export const WRITER_ROLE = 'writer';

/** The writer keys of a registry, sorted (empty: unpinned). */
export function writerKeys(ids: Identities): readonly string[] {
  const out: string[] = [];
  for (const k of Object.keys(ids)) {
    if (ids[k]?.roles.includes(WRITER_ROLE) === true) out.push(k);
  }
  return out.sort();
}

const pinnedCache = new WeakMap<Identities, ReadonlySet<string>>();

/**
 * True when `writer` may sign a record decided on this registry: it holds the writer role, or
 * no identity does (an unpinned deployment).
 */
export function writerAllowed(ids: Identities, writer: string): boolean {
  let set = pinnedCache.get(ids);
  if (set === undefined) {
    set = new Set(writerKeys(ids));
    pinnedCache.set(ids, set);
  }
  return set.size === 0 || set.has(writer);
}

/** The registry after a Writer_Rotate (the guard checked it): roles sorted, empty ones gone. */
export function rotateWriters(
  ids: Identities,
  add: readonly string[],
  remove: readonly string[],
): Identities {
  type Entry = Identities[string];
  const out: Record<string, Entry> = {};
  const keys = new Set([...Object.keys(ids), ...add]);
  for (const k of [...keys].sort()) {
    const had = ids[k];
    let roles = had?.roles ?? [];
    if (add.includes(k) && !roles.includes(WRITER_ROLE)) roles = [...roles, WRITER_ROLE].sort();
    if (remove.includes(k)) roles = roles.filter((r) => r !== WRITER_ROLE);
    if (roles.length === 0) continue;
    out[k] = had?.projects === undefined ? { roles } : { roles, projects: had.projects };
  }
  return out;
}
