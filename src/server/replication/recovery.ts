/**
 * Recovery (ARCHITECTURE §5; docs/runtime.md walks through it):
 *
 *  1. Refuse a WAL shorter than DECISIONS: records exist for entries the log no longer has.
 *  2. Take the newest snapshot that verifies (its state hashes to what it claims, its idem
 *     chain checks, its chart is this build's, and the record at its WAL seq has the same
 *     post-state hash and content hash). Corrupt or unverifiable ones are skipped for older
 *     revisions, then genesis. A snapshot that verifies but whose `wal_entry_hash` differs from
 *     the WAL entry now at that sequence means the WAL lost its tail and reused sequence
 *     numbers: refused, never papered over.
 *  3. Replay the WAL after the snapshot; every entry that already has a record is recomputed
 *     and compared byte for byte (content: everything but writer and signature), and the
 *     stored signature is checked. Any difference stops with ReplayMismatchError.
 * The result is a replica positioned at the last recorded entry, plus any TRANSITIONS records
 * that a crash kept from being stored (the writer publishes them before anything else).
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import {
  DEPLOYMENT_CHAIN, type Core, type CoreConfig, type Genesis, type Hasher,
} from '../../core/index.js';
import type { SignatureVerifier } from '../../crypto/verify.js';
import {
  DR_FORMAT_VERSION,
  contentOf,
  decodeDr,
  drHash,
  type DecisionRecord,
  transitionRecords,
  verifyDrSignature,
  writerProblem,
  type TransitionRecord,
} from '../../protocol/decision-record.js';
import { walEntryHash } from '../../protocol/envelope.js';
import { StreamReader } from '../../protocol/batch-reader.js';
import {
  Replica,
  verifyWorld,
  worldHash,
  worldStateOf,
  type ChainHead,
  type ColdProject,
  type HeldChainHead,
  type WorldState,
} from './replica.js';
import { fromStoredMsg, type WalMessage } from '../../protocol/wal-message.js';
import { SwooshError } from '../../protocol/errors.js';
import type { SnapshotStore } from './snapshots.js';

/** Everything recovery needs. */
export interface RecoveryDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly core: Core;
  readonly hasher: Hasher;
  readonly verifier: SignatureVerifier;
  readonly genesis: Genesis;
  readonly snapshots: SnapshotStore;
  readonly walName: string;
  readonly decisionsName: string;
  readonly transitionsName: string;
  readonly log: (
    level: 'info' | 'warn' | 'error',
    msg: string,
    fields?: Record<string, unknown>,
  ) => void;
  /**
   * A replica this process already holds, checked entry by entry against the stored records
   * (a follower's). Recovery continues from it instead of loading a snapshot and replaying
   * when it still matches storage: its last record is the stored one at its sequence (same
   * content hash), its last WAL entry is still the one at that sequence, and every TRANSITIONS
   * record up to its applied count is stored. Otherwise recovery starts over from snapshots.
   */
  readonly resume?: { readonly replica: Replica; readonly snapshotSeq: number };
}

/** What recovery hands back. */
export interface Recovered {
  readonly replica: Replica;
  readonly snapshotSeq: number;
  readonly snapshotRevision: number;
  readonly replayed: number;
  readonly pendingTransitions: readonly TransitionRecord[];
  readonly transitionsStored: number;
  readonly walLastSeq: number;
  readonly millis: number;
}

async function lastSeq(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.last_seq;
}

async function walAt(deps: RecoveryDeps, seq: number): Promise<WalMessage | null> {
  const m = await deps.jsm.streams.getMessage(deps.walName, { seq });
  return m === null ? null : fromStoredMsg(m);
}

/** Try snapshot revisions newest first; returns the replica to start from. */
async function startingPoint(
  deps: RecoveryDeps,
  drLast: number,
  buckets = false,
  held = false,
): Promise<{
  replica: Replica; revision: number; drFrom: number; snapshotSeq: number;
  tails: ReadonlyMap<string, { index: number; seq: number }>;
}> {
  const { core, hasher } = deps;
  for (const revision of await deps.snapshots.revisions()) {
    try {
      const snap = await deps.snapshots.load(revision);
      const { world, covered, tails, cold, fresh } = heldParts(worldStateOf(snap.state));
      const problem = snap.state.v !== 2 ? 'not a v2 snapshot'
        : verifyWorld(core, world) ?? missingDocument(core, world, cold, fresh, snap.state.configs);
      const why =
        problem ??
        (worldHash(core, world) !== snap.state_hash
          ? `documents hash to ${worldHash(core, world)}, snapshot claims ${snap.state_hash}`
          : core.hashes(world.deployment).facts !== snap.facts_hash
            ? 'facts hash differs'
            : snap.wal_seq > drLast
              ? `snapshot at ${snap.wal_seq} is past the last record ${drLast}`
              : buckets !== (snap.dr_seq !== undefined)
                ? `snapshot was taken with ${buckets ? 'one writer' : 'writers by bucket'}`
                : buckets && [...world.chains.values()].some((h) => h.applied === undefined)
                  ? 'snapshot was taken before TRANSITIONS records were numbered per chain'
                  : snap.held === true && !held
                    ? 'snapshot was taken by members deciding held chains (SWOOSH_DECIDE=held)'
                    : null);
      if (why !== null) {
        deps.log('warn', 'snapshot rejected; trying an older one', { revision, reason: why });
        continue;
      }
      const wal = await walAt(deps, snap.wal_seq);
      if (wal === null || walEntryHash(wal.subject, wal.data) !== snap.wal_entry_hash) {
        throw new SwooshError(
          'wal_sequence_reused',
          `snapshot ${revision} was taken after WAL entry ${snap.wal_seq}, but the entry now at ` +
          `that sequence is a different one: ` +
            'the WAL lost its tail and reused sequence numbers. Refusing to start; see ' +
            'docs/runtime.md "WAL tail lost".',
          false,
        );
      }
      // With one writer the record of entry n is at DECISIONS seq n; by bucket, the snapshot
      // names where it is.
      const dr = await deps.jsm.streams.getMessage(deps.decisionsName, {
        seq: snap.dr_seq ?? snap.wal_seq,
      });
      const rec = dr === null ? null : decodeDr(dr.data);
      // A held snapshot's position is the deployment's: its record is the deployment chain's
      // last one at or before that entry.
      const atEntry = snap.held === true
        ? rec !== null && rec.project === DEPLOYMENT_CHAIN && rec.wal_seq <= snap.wal_seq
        : rec !== null && rec.wal_seq === snap.wal_seq;
      if (
        rec === null || !atEntry ||
        drHash(hasher, contentOf(rec)) !== snap.dr_hash ||
        recordMismatch(core, world, rec, snap.dr_hash) !== null
      ) {
        deps.log('warn', 'snapshot does not match its decision record; trying an older one', {
          revision,
        });
        continue;
      }
      const replica = new Replica(core, hasher, deps.verifier, deps.genesis.instance_id, {
        ...world,
        lastSeq: snap.wal_seq,
        lastDrHash: snap.dr_hash,
        lastWalEntryHash: snap.wal_entry_hash,
        lastLogMs: wal.logMs,
      });
      for (const [p, seq] of covered) replica.coverUpTo(p, seq);
      for (const [p, c] of cold) replica.markCold(p, c);
      for (const [k, c] of Object.entries(snap.state.configs ?? {})) replica.addConfig(k, c);
      return { replica, revision, drFrom: snap.dr_from ?? 0, snapshotSeq: snap.wal_seq, tails };
    } catch (err) {
      if (err instanceof SwooshError) throw err;
      deps.log('warn', 'snapshot unreadable; trying an older one', {
        revision,
        err: (err as Error).message,
      });
    }
  }
  const replica = Replica.fromGenesis(core, hasher, deps.verifier, deps.genesis);
  return { replica, revision: 0, drFrom: 0, snapshotSeq: 0, tails: new Map() };
}

/**
 * A held snapshot's chain heads carry each project's own position (`covered`) and its last
 * record's DECISIONS seq: split them out, leaving plain heads.
 */
function heldParts(w: WorldState): {
  world: WorldState;
  covered: Map<string, number>;
  tails: Map<string, { index: number; seq: number }>;
  /** Projects out of memory when it was taken (ADR 0007): cold ones and fresh ones. */
  cold: Map<string, ColdProject>;
  fresh: Set<string>;
} {
  const covered = new Map<string, number>();
  const tails = new Map<string, { index: number; seq: number }>();
  const chains = new Map<string, ChainHead>();
  const cold = new Map<string, ColdProject>();
  const fresh = new Set<string>();
  for (const [c, h] of w.chains) {
    const x = h as Partial<HeldChainHead> & ChainHead;
    if (Number.isSafeInteger(x.covered)) covered.set(c, x.covered as number);
    if (typeof x.cold_hash === 'string') {
      const hlc = typeof x.hlc_last === 'string' ? x.hlc_last : null;
      cold.set(c, { postHash: x.cold_hash, hlc });
    }
    if (x.fresh === true) fresh.add(c);
    if (Number.isSafeInteger(x.dr_seq) && (x.dr_seq as number) > 0) {
      tails.set(c, { index: x.index, seq: x.dr_seq as number });
    }
    chains.set(c, x.applied === undefined
      ? { index: x.index, drHash: x.drHash }
      : { index: x.index, drHash: x.drHash, applied: x.applied });
  }
  return { world: { ...w, chains }, covered, tails, cold, fresh };
}

/**
 * A registered project a snapshot leaves no way to get the document of, or null: every project
 * has its document, or is cold past its first record, or fresh with its configuration given.
 */
function missingDocument(
  core: Core,
  w: WorldState,
  cold: ReadonlyMap<string, ColdProject>,
  fresh: ReadonlySet<string>,
  configs: { readonly [hash: string]: CoreConfig } | undefined,
): string | null {
  for (const [id, entry] of Object.entries(w.deployment.projects)) {
    if (w.projects.has(id)) continue;
    const index = w.chains.get(id)?.index ?? 0;
    if (cold.has(id) && index > 0) continue;
    const c = configs !== undefined && Object.hasOwn(configs, entry.config_hash)
      ? configs[entry.config_hash] : undefined;
    if (fresh.has(id) && index === 0 && c !== undefined && core.hash(c) === entry.config_hash) {
      continue;
    }
    return `project ${id} has no document, and none can be loaded or rebuilt`;
  }
  return null;
}

/** Where a member of a deployment with writers by bucket starts (chain-member.ts). */
export interface MemberStart {
  readonly replica: Replica;
  /** Every record of an entry after the replica's position is at a DECISIONS seq past this. */
  readonly drFrom: number;
  readonly snapshotSeq: number;
  readonly snapshotRevision: number;
  readonly millis: number;
  /** Per project, its last record's index and DECISIONS seq (held snapshots name them). */
  readonly tails: ReadonlyMap<string, { index: number; seq: number }>;
}

/**
 * Writers by bucket: the newest snapshot that verifies (as `recover` checks them, with the
 * record of its entry found at the DECISIONS seq it names), else genesis. No replay here: the
 * member replays the WAL after it against the stored records, as it does at the tail.
 */
export async function memberStart(deps: RecoveryDeps, held = false): Promise<MemberStart> {
  const t0 = performance.now();
  const walLast = await lastSeq(deps.jsm, deps.walName);
  const drLast = await lastSeq(deps.jsm, deps.decisionsName);
  if (drLast > 0) await checkFormat(deps);
  const start = await startingPoint(deps, walLast, true, held);
  const millis = performance.now() - t0;
  deps.log('info', 'member start', {
    snapshot_revision: start.revision, snapshot_seq: start.snapshotSeq, dr_from: start.drFrom,
    wal_last: walLast, millis: Math.round(millis),
  });
  return {
    replica: start.replica, drFrom: start.drFrom, snapshotSeq: start.snapshotSeq,
    snapshotRevision: start.revision, millis, tails: start.tails,
  };
}

/**
 * The replica to continue from, if it still matches storage (see RecoveryDeps.resume); else null.
 */
async function resumable(
  deps: RecoveryDeps,
  replica: Replica,
  drLast: number,
  trStored: number,
): Promise<{ replica: Replica; revision: number } | null> {
  const why = await (async (): Promise<string | null> => {
    if (replica.lastSeq > drLast) {
      return `replica at ${replica.lastSeq} is past the last record ${drLast}`;
    }
    if (replica.appliedTotal > trStored) {
      return "TRANSITIONS records are missing before the replica's position";
    }
    if (replica.lastSeq === 0) return null;
    const dr = await deps.jsm.streams.getMessage(deps.decisionsName, { seq: replica.lastSeq });
    if (dr === null || drHash(deps.hasher, contentOf(decodeDr(dr.data))) !== replica.lastDrHash) {
      return 'its last record is not the stored one';
    }
    const wal = await walAt(deps, replica.lastSeq);
    if (wal === null || walEntryHash(wal.subject, wal.data) !== replica.lastWalEntryHash) {
      return 'its last WAL entry is not the one at that sequence';
    }
    return null;
  })();
  if (why !== null) {
    deps.log('info', 'not resuming from the replica held; recovering from snapshots', {
      wal_seq: replica.lastSeq,
      reason: why,
    });
    return null;
  }
  return { replica, revision: await deps.snapshots.headRevision() };
}

/**
 * Refuse a deployment whose records are of another format version, before replaying anything:
 * a v1 record cannot be recomputed equal (its texts and signature verdicts depended on the
 * runtime), and a mismatch found halfway through the log would say less than this.
 */
async function checkFormat(deps: RecoveryDeps): Promise<void> {
  const first = await deps.jsm.streams.getMessage(deps.decisionsName, { seq: 1 });
  if (first === null) return;
  const v = (decodeDr(first.data) as { v?: unknown }).v;
  if (v === DR_FORMAT_VERSION) return;
  throw new SwooshError(
    'record_format_mismatch',
    `DECISIONS holds decision records of format v${String(v)}; this SWOOSH writes and replays ` +
    `v${DR_FORMAT_VERSION}. ` +
      'Records of an older format cannot be recomputed equal (v1 depended on the Node.js ' +
      'runtime; v2 had one chain for one project), so recovery refuses rather than accept a ' +
      'mismatch. Keep the old deployment read-only and move to a new prefix: see ' +
      `docs/upgrading.md "From record format v${String(v)}".`,
    false,
  );
}

/** Recover a replica from snapshots, the WAL and the stored decision records. */
export async function recover(deps: RecoveryDeps): Promise<Recovered> {
  const t0 = performance.now();
  // DECISIONS first: a record never exists before its WAL entry, so reading the WAL second
  // can only make it look longer, never shorter. (The other order let a record written between
  // the two reads look like a lost WAL tail.)
  const drLast = await lastSeq(deps.jsm, deps.decisionsName);
  const walLast = await lastSeq(deps.jsm, deps.walName);
  const trStored = await lastSeq(deps.jsm, deps.transitionsName);
  if (drLast > walLast) {
    throw new SwooshError(
      'wal_tail_lost',
      `DECISIONS holds records up to ${drLast} but the WAL ends at ${walLast}: ` +
        'the WAL lost its tail. ' +
        'Refusing to start; see docs/runtime.md "WAL tail lost".',
      false,
    );
  }
  if (drLast > 0) await checkFormat(deps);
  const resumed =
    deps.resume === undefined ? null : await resumable(deps, deps.resume.replica, drLast, trStored);
  const { replica, revision } = resumed ?? await startingPoint(deps, drLast);
  const from = replica.lastSeq;
  const pending: TransitionRecord[] = [];
  if (drLast > from) {
    const wal = new StreamReader(deps.js, deps.walName, from + 1);
    const drs = new StreamReader(deps.js, deps.decisionsName, from + 1);
    try {
      while (replica.lastSeq < drLast) {
        const want = Math.min(512, drLast - replica.lastSeq);
        const recs = await drs.read(want, 10_000);
        if (recs.length === 0) {
          throw new Error(`DECISIONS stopped at ${replica.lastSeq} before ${drLast}`);
        }
        for (const r of recs) {
          const msg = await wal.next();
          if (msg.seq !== r.seq) throw new Error(`WAL gave ${msg.seq} for record ${r.seq}`);
          const stored = decodeDr(r.data);
          const decided = replica.decideNext(msg);
          Replica.compare(decided, stored);
          if (!verifyDrSignature(stored, deps.verifier)) {
            throw new SwooshError(
              'dr_signature_invalid',
              `decision record ${r.seq} has a signature that does not verify for ${stored.writer}`,
              false,
            );
          }
          const notWriter = writerProblem(decided.step.before.identities, stored);
          if (notWriter !== null) {
            const msg = `decision record ${r.seq}: ${notWriter}`;
            throw new SwooshError('unknown_writer', msg, false);
          }
          for (const tr of transitionRecords(
            decided.content,
            deps.core.regionOf,
            decided.appliedBefore + 1,
          )) {
            if (tr.applied_index > trStored) pending.push(tr);
          }
        }
      }
    } finally {
      await wal.close();
      await drs.close();
    }
  }
  const millis = performance.now() - t0;
  const snapshotSeq = resumed === null ? from : deps.resume?.snapshotSeq ?? 0;
  deps.log('info', 'recovered', {
    resumed: resumed !== null,
    snapshot_revision: revision,
    snapshot_seq: snapshotSeq,
    from,
    replayed: drLast - from,
    wal_last: walLast,
    state_hash: worldHash(deps.core, replica.position()),
    pending_transitions: pending.length,
    millis: Math.round(millis),
  });
  return {
    replica, snapshotSeq, snapshotRevision: revision, replayed: drLast - from,
    pendingTransitions: pending, transitionsStored: trStored, walLastSeq: walLast, millis,
  };
}

/**
 * Why a snapshot's documents disagree with the signed record at its WAL seq, or null: that
 * record's chain document must hash to its `state_post_hash` and its facts to its
 * `facts_post_hash`, and the snapshot's head of that chain must be that record. A snapshot's
 * own `state_hash` only certifies itself; this ties it to what the writer signed.
 */
export function recordMismatch(
  core: Core,
  world: WorldState,
  rec: DecisionRecord,
  recHash: string,
): string | null {
  const doc = rec.project === DEPLOYMENT_CHAIN ? world.deployment : world.projects.get(rec.project);
  if (doc === undefined) return `no document for chain ${rec.project}`;
  const view = rec.project === DEPLOYMENT_CHAIN
    ? doc
    : { ...doc, identities: world.deployment.identities, facts: world.deployment.facts };
  const hs = core.hashes(view);
  if (hs.head !== rec.state_post_hash) return `chain ${rec.project} hashes to ${hs.head}`;
  if (hs.facts !== rec.facts_post_hash) return 'facts differ from the record';
  if (hs.identities !== rec.identities_post_hash) return 'identities differ from the record';
  const head = world.chains.get(rec.project);
  if (head === undefined || head.index !== rec.chain_index || head.drHash !== recHash) {
    return `chain ${rec.project} head is not the record at the snapshot's seq`;
  }
  // (That every registered project has a document, or a way to get one, `missingDocument`
  // checks.)
  return null;
}
