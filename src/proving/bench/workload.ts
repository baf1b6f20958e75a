/**
 * Fast, valid workloads for the long benchmark runs (recovery WAL, memory, state size).
 *
 * The state commits to log time (boot and council record when they were entered), so a stream
 * generated offline goes stale at its first accepted transition. The execution loop does not:
 * its section records no log time, and Execution_SubmitApproval is monotone (a set union, no
 * state-hash check). So a run here is
 *
 *   1. the walk to EXECUTION.REVIEW, closed loop (the tests' planner; each entry planned
 *      against what the log stored, its real sequence and timestamp): ~30–60 entries;
 *   2. then, generated while publishing and signed with node:crypto (~50 µs an entry):
 *      council members approving the work under review, each with a fresh idem key and an HLC
 *      of now, so every one is verified, decided, accepted (evolve, TRANSITIONS record) and
 *      remembered by the idempotency memory, which therefore fills to `idem_max` and evicts;
 *      plus a review beat frame every `beatEvery` entries that keeps the window open.
 *
 * Nothing is held beyond the pipeline: entries are produced one at a time.
 */
import type { JetStreamClient, JetStreamManager, PubAck } from '@nats-io/jetstream';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  type Hlc,
  type WalEntry,
  compareHlc,
  createCore,
  formatHlc,
  jcs,
  parseHlc,
} from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { DOMAIN } from '../../crypto/domains.js';
import { signerFromPublicKey } from '../../crypto/keys.js';
import { createNodeSigner, type NodeSigner } from '../../crypto/node-sign.js';
import { encodeEnvelope, msgIdOf } from '../../protocol/envelope.js';
import { rfc3339Ms } from '../../protocol/wal-message.js';
import { publishEntries } from '../sim/publish.js';
import { NO_FAULTS, streamSteps } from '../sim/stream.js';
import { CAST, World, castGenesis } from '../sim/world.js';

/** One entry ready to publish. */
export interface Outgoing {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly msgId: string;
}

/** Entries the closed-loop walk may take before giving up (it normally needs 30–60). */
export const WALK_MAX_ENTRIES = 2000;

/** Review beat frames are re-sent this often (entries), each with a deadline this far ahead. */
export const BEAT_EVERY = 500;
export const BEAT_DEADLINE_MS = 600_000;

/** JCS length of one `"hmmm:pubkey:<64 hex>":{"roles":["voter"]}` registry entry. */
const PER_IDENTITY_BYTES = 105;
/** JCS length of the cast's state at genesis, roughly. */
const CAST_STATE_BYTES = 6_000;

/**
 * `count` distinct, valid Ed25519 public keys as signers, fast: k·G, (k+1)·G, … by point
 * addition (~35 µs each, against ~300 µs for a key pair from a seed). Canonical encodings of
 * prime-order points, so they pass the genesis file's key check; nobody holds their secrets
 * (they are registry filler nobody signs with).
 */
export function bulkSigners(count: number): string[] {
  const G = ed25519.Point.BASE;
  let p = G.multiply(0x5eed_b0b5_1234_5678_9abc_def0n);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    p = p.add(G);
    out.push(signerFromPublicKey(p.toBytes()));
  }
  return out;
}

/**
 * The cast's genesis with an identity registry that makes the state about `bytes` long
 * (voters nobody uses: realistic, and untouched by most transitions). `bytes` ≤ ~10.5 MB
 * (the registry's limit is 100,000 identities).
 */
export function genesisOfSize(
  bytes: number,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  const g = castGenesis(over);
  const ids = { ...(g['identities'] as Record<string, unknown>) };
  const extra = Math.max(0, Math.floor((bytes - CAST_STATE_BYTES) / PER_IDENTITY_BYTES));
  for (const signer of bulkSigners(extra)) ids[signer] = { roles: ['voter'] };
  return { ...g, identities: ids };
}

/** Where the walk left the machine: the world (its state is the log's) and the entry count. */
export interface Walked {
  readonly world: World;
  readonly entries: number;
}

/**
 * Step 1: publish the planner's happy path closed loop until EXECUTION.REVIEW (work under
 * review, approvals may be submitted). The world afterwards holds exactly the state every
 * replica of that log computes.
 */
export async function walkToReview(
  js: JetStreamClient,
  jsm: JetStreamManager,
  prefix: string,
  walName: string,
  genesis: Record<string, unknown>,
  seed = 20251019,
): Promise<Walked> {
  const w = new World(genesis, undefined, { baseMs: Date.now() });
  const steps = streamSteps(w, seed, WALK_MAX_ENTRIES, NO_FAULTS);
  let n = 0;
  let next = steps.next(null);
  while (next.done !== true) {
    if (w.state.control.top === 'EXECUTION' && w.state.execution.state === 'REVIEW') {
      return { world: w, entries: n };
    }
    const e: WalEntry = next.value;
    const [ack] = await publishEntries(js, prefix, w, [e]);
    if (ack === undefined || ack.duplicate) {
      next = steps.next(null);
      continue;
    }
    const stored = await jsm.streams.getMessage(walName, { seq: ack.seq });
    if (stored === null) throw new Error(`bench: WAL entry ${ack.seq} vanished`);
    const got = { ...e, seq: ack.seq as WalEntry['seq'], log_ms: rfc3339Ms(stored.timestamp) };
    w.seq = ack.seq;
    w.logMs = got.log_ms;
    n += 1;
    next = steps.next(got);
  }
  throw new Error(
    `bench: the walk did not reach EXECUTION.REVIEW in ${WALK_MAX_ENTRIES} entries (top ` +
    `${w.state.control.top}, execution ${w.state.execution.state})`,
  );
}

/** Counts of what an approval stream produced. */
export interface StreamCounts {
  proposals: number;
  facts: number;
}

/**
 * Step 2: `count` entries after the walk — approvals of the work under review by the elected
 * members, in turn, each with a unique idem key and an HLC of now (strictly increasing), and a
 * review beat frame first and every `beatEvery` entries. Signed with node:crypto.
 */
export function* approvalStream(
  walked: Walked,
  count: number,
  o: { prefix: string; counts?: StreamCounts; beatEvery?: number },
): Generator<Outgoing, void, void> {
  const counts = o.counts ?? { proposals: 0, facts: 0 };
  const beatEvery = o.beatEvery ?? BEAT_EVERY;
  const prefix = o.prefix;
  const s = walked.world.state;
  const work = s.execution.work_hash;
  const window = s.facts.backbeat.window_id;
  const cluster = s.facts.backbeat.cluster_id ?? 'c1';
  if (work === null || window === null) {
    throw new Error('bench: the walk left no work under review or no open window');
  }
  const members = [CAST.c1, CAST.c2, CAST.c3].filter((a) => s.council.members.includes(a.signer));
  if (members.length === 0) throw new Error('bench: no elected council member in the cast');
  const signers = new Map<string, NodeSigner>(
    members.map((a) => [a.signer, createNodeSigner(a.secretKey)]),
  );
  const feeder = createNodeSigner(CAST.feeder.secretKey);
  const core = createCore(nodeHasher);
  const inputs = { work_hash: work };
  const inputsHash = core.hash(inputs);
  const stateHash = core.hashes(s).sections.execution;
  // Start after every HLC the state holds (the last accepted proposal's, the last beat's).
  let hlc: Hlc = { ms: 0, logical: 0 };
  for (const text of [s.clock.hlc_last, s.facts.backbeat.hlc]) {
    const p = text === null ? null : parseHlc(text);
    if (p?.ok === true && compareHlc(p.hlc, hlc) > 0) hlc = p.hlc;
  }
  let beat = s.facts.backbeat.beat_index;
  const run = Date.now().toString(36);
  const enc = new TextEncoder();
  const tick = (): string => {
    const now = Date.now();
    hlc = now > hlc.ms ? { ms: now, logical: 0 } : { ms: hlc.ms, logical: hlc.logical + 1 };
    return formatHlc(hlc);
  };
  const out = (
    subject: string,
    domain: string,
    signer: NodeSigner,
    body: Record<string, unknown>,
  ): Outgoing => {
    const text = jcs(body);
    const bytes = enc.encode(text);
    const sig = signer.signBytes(enc.encode(`${domain}\n${text}`));
    return { subject, data: encodeEnvelope(bytes, sig), msgId: msgIdOf(bytes) };
  };
  for (let i = 0; i < count; i++) {
    if (i % beatEvery === 0) {
      beat += 1;
      const at = tick();
      counts.facts += 1;
      yield out(`${prefix}.facts.backbeat`, DOMAIN.fact, feeder, {
        kind: 'backbeat',
        signer: CAST.feeder.signer,
        hlc: at,
        payload: {
          type: 'backbeat.beatframe.v1',
          cluster_id: cluster,
          beat_index: beat,
          downbeat: false,
          phase: 'review',
          hlc: at,
          deadline_at: new Date(Date.now() + BEAT_DEADLINE_MS).toISOString(),
          tempo_bpm: 120,
          window_id: window,
        },
      });
      continue;
    }
    const by = members[i % members.length] ?? CAST.c1;
    const signer = signers.get(by.signer) ?? feeder;
    counts.proposals += 1;
    yield out(`${prefix}.proposals.Execution_SubmitApproval`, DOMAIN.proposal, signer, {
      current_state_hash: stateHash,
      transition: 'Execution_SubmitApproval',
      inputs,
      inputs_hash: inputsHash,
      signer: by.signer,
      idem_key: `bench:${run}:approve:${i}`,
      hlc: tick(),
      window_id: window,
      evidence: [],
    });
  }
}

/** Decisions stored without progress for this long mean the writer is stuck: fail the run. */
export const STALL_MS = 120_000;

/**
 * Wait until `decided()` reaches `target`. Calls `alive()` on every poll (it throws when the
 * writer is gone), logs progress every `logEveryMs`, and throws when nothing moved for STALL_MS.
 */
export async function waitDecided(
  target: number,
  o: {
    decided: () => Promise<number>;
    alive?: () => void;
    log?: (done: number) => void;
    logEveryMs?: number;
    pollMs?: number;
  },
): Promise<void> {
  let last = -1;
  let movedAt = performance.now();
  let loggedAt = performance.now();
  for (;;) {
    o.alive?.();
    const d = await o.decided();
    if (d >= target) return;
    const now = performance.now();
    if (d !== last) {
      last = d;
      movedAt = now;
    } else if (now - movedAt > STALL_MS) {
      throw new Error(
        `bench: no decision stored for ${STALL_MS / 1000} s (stuck at ${d} of ${target})`,
      );
    }
    if (o.log !== undefined && now - loggedAt > (o.logEveryMs ?? 15_000)) {
      o.log(d);
      loggedAt = now;
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 20));
  }
}

/** Options of a pipelined publish. */
export interface PublishOptions {
  /** Publishes in flight at most. */
  readonly pipeline?: number;
  /**
   * Flow control: when the number published minus `decided()` exceeds this, wait until it is
   * down to half of it (keeps the producer from running minutes ahead of the writer).
   */
  readonly maxAhead?: number;
  readonly decided?: () => Promise<number>;
  /** Called about every `progressEvery` entries. */
  readonly onProgress?: (published: number) => void;
  readonly progressEvery?: number;
}

/** Publish `entries` in order, pipelined; returns how many were published. */
export async function publishStream(
  js: JetStreamClient,
  entries: Iterable<Outgoing>,
  o: PublishOptions = {},
): Promise<number> {
  const pipeline = o.pipeline ?? 128;
  const every = o.progressEvery ?? 10_000;
  let inflight: Promise<PubAck>[] = [];
  let n = 0;
  let decided = 0;
  for (const e of entries) {
    inflight.push(js.publish(e.subject, e.data, { msgID: e.msgId }));
    n += 1;
    if (inflight.length >= pipeline) {
      await Promise.all(inflight);
      inflight = [];
    }
    if (n % every === 0) o.onProgress?.(n);
    if (o.maxAhead !== undefined && o.decided !== undefined && n - decided > o.maxAhead) {
      // Then wait until the writer has caught up to half the window (not one entry at a time).
      await Promise.all(inflight);
      inflight = [];
      decided = await o.decided();
      while (n - decided > o.maxAhead / 2) {
        await new Promise((r) => setTimeout(r, 100));
        decided = await o.decided();
      }
    }
  }
  await Promise.all(inflight);
  return n;
}
