/**
 * Buckets of projects and who should hold them (docs/adr/0002-many-projects.md, §4).
 *
 * A project lives in bucket `first 4 bytes of sha256(utf8(project)), big-endian, mod B`; the
 * bucket count B is fixed once per deployment. `bucketFromDigest` is the same rule over the 32
 * digest bytes alone, so the deterministic core (which may not import node:*) computes the
 * same bucket from its injected hasher.
 *
 * Each live member aims at `ceil(B / members)` buckets chosen by rendezvous hashing (HRW):
 * bucket b ranks member m by the first 8 bytes of sha256(`${b}|${m}`). The assignment is the
 * canonical HRW-with-capacity one: buckets are taken in order 0..B-1 and each goes to the
 * highest-ranked member that still has room. Every member that sees the same member set
 * computes the same assignment, with no coordination; a join or a leave moves few buckets
 * (measured in test/unit/runtime/buckets.test.ts).
 *
 * Everything here is pure and deterministic; the leases that act on it are in
 * bucket-leases.ts.
 */
import { createHash } from 'node:crypto';

/** Bytes of a sha256 digest. */
const DIGEST_BYTES = 32;
/** The largest bucket count: the bucket is read from 4 digest bytes, so 2^32 is the limit. */
export const BUCKETS_MAX = 0x1_0000_0000;

/** Throws unless `buckets` is a usable bucket count. */
export function assertBucketCount(buckets: number): void {
  if (!Number.isSafeInteger(buckets) || buckets < 1 || buckets > BUCKETS_MAX) {
    throw new RangeError(`bucket count must be an integer in 1..2^32, got ${String(buckets)}`);
  }
}

function sha256(text: string): Uint8Array {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The bucket of a project given sha256(utf8(project)): the digest's first 4 bytes read as a
 * big-endian unsigned 32-bit integer, mod `buckets`. Pure, for callers that bring their own
 * hasher.
 */
export function bucketFromDigest(digest: Uint8Array, buckets: number): number {
  assertBucketCount(buckets);
  if (digest.length !== DIGEST_BYTES) {
    throw new RangeError(`a sha256 digest has ${DIGEST_BYTES} bytes, got ${digest.length}`);
  }
  const view = new DataView(digest.buffer, digest.byteOffset, digest.byteLength);
  return view.getUint32(0, false) % buckets;
}

/** The bucket of `project` among `buckets`. */
export function bucketOf(project: string, buckets: number): number {
  return bucketFromDigest(sha256(project), buckets);
}

/** How much member `member` is wanted by bucket `bucket`: higher ranks win. */
export function rankOf(bucket: number, member: string): bigint {
  const d = sha256(`${bucket}|${member}`);
  return new DataView(d.buffer, d.byteOffset, d.byteLength).getBigUint64(0, false);
}

/** The most buckets one member may hold: `ceil(buckets / members)`. */
export function fairShare(buckets: number, members: number): number {
  assertBucketCount(buckets);
  if (!Number.isSafeInteger(members) || members < 1) {
    throw new RangeError(`member count must be a positive integer, got ${String(members)}`);
  }
  return Math.ceil(buckets / members);
}

/**
 * The owner of every bucket 0..B-1 under HRW with capacity `fairShare`. The member list is a
 * set: its order and repetitions do not matter (equal ranks, vanishingly rare with 64 bits,
 * go to the member whose name sorts first).
 */
export function assignBuckets(members: readonly string[], buckets: number): string[] {
  const set = [...new Set(members)].sort();
  if (set.length === 0) throw new RangeError('cannot assign buckets to no members');
  const cap = fairShare(buckets, set.length);
  const load = new Map<string, number>(set.map((m) => [m, 0]));
  const owners: string[] = [];
  for (let b = 0; b < buckets; b++) {
    const ranked = set
      .map((m) => ({ m, r: rankOf(b, m) }))
      .sort((x, y) => (x.r === y.r ? (x.m < y.m ? -1 : 1) : x.r > y.r ? -1 : 1));
    // cap × members ≥ B, so some member always has room.
    const pick = ranked.find((x) => (load.get(x.m) ?? 0) < cap);
    if (pick === undefined) throw new Error(`no member has room for bucket ${b} (unreachable)`);
    load.set(pick.m, (load.get(pick.m) ?? 0) + 1);
    owners.push(pick.m);
  }
  return owners;
}

/**
 * The buckets `me` should hold among `members` (ascending). Empty when `me` is not a member:
 * a process that cannot see its own heartbeat aims at nothing.
 */
export function desiredBuckets(me: string, members: readonly string[], buckets: number): number[] {
  assertBucketCount(buckets);
  if (!members.includes(me)) return [];
  const out: number[] = [];
  assignBuckets(members, buckets).forEach((owner, b) => {
    if (owner === me) out.push(b);
  });
  return out;
}
