/**
 * The council member set as a hash: what a quorum certificate names, what each vote signs,
 * what the quorum guard recomputes and what the invariants check. The SDK builds votes with it.
 */

/** The canonical member-set hash: JCS of the sorted, distinct member ids. */
export function memberSetHash(hash: (v: unknown) => string, members: readonly string[]): string {
  return hash([...new Set(members)].sort());
}
