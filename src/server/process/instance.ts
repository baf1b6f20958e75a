/**
 * One SWOOSH process: connect, apply the stream definitions, recover, then run as the writer
 * while it holds the lease and as a follower otherwise. Losing the lease or being fenced
 * sends it back to follower; winning the lease makes it recover (to pick up any TRANSITIONS
 * records a crashed writer did not store) and write. Status is served on the NATS admin
 * subject `<prefix>.admin.<name>.status` (the HTTP API builds on the same `status()`).
 */
import { availableParallelism } from 'node:os';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import {
  type Core,
  type CoreOptions,
  type Genesis,
  DEFAULT_PROJECT,
  DEPLOYMENT_CHAIN,
  InvariantViolation,
  type State,
  createCore,
  licenceGraceEndOf,
} from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { createNodeSigner, type NodeSigner } from '../../crypto/node-sign.js';
import { createNodeVerifier } from '../../crypto/verify.js';
import { streamDefinitions, subjectsFor, type Subjects } from '../../../streams/definitions.js';
import { decisionLogFields, type Logger } from '../observability/log.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { Follower } from '../replication/follower.js';
import { WriterLease } from '../replication/lease.js';
import {
  memberStart,
  recover,
  type MemberStart,
  type Recovered,
} from '../replication/recovery.js';
import {
  ReplayMismatchError,
  type Decided,
  type Replica,
} from '../replication/replica.js';
import { writerProblem } from '../../protocol/decision-record.js';
import { natsConnectOptions, type NatsAuth } from '../../protocol/nats-auth.js';
import { SwooshError } from '../../protocol/errors.js';
import { SnapshotStore, type SnapshotOutcome } from '../replication/snapshots.js';
import { bucketOf } from '../replication/buckets.js';
import { applyStreams, assertNoDrift } from './apply-streams.js';
import {
  DEPLOYMENT_BUCKETS_DEFAULT,
  DEPLOYMENT_LICENCE_KEY,
  claimDeployment,
  type LicenceGateRecord,
  type WritersMode,
} from './deployment.js';
import { ChainMember, type ResidencyEvent } from '../replication/chain-member.js';
import { ProjectSnapshots } from '../replication/project-snapshots.js';
import { BucketLeases, streamKeyLister } from '../replication/bucket-leases.js';
import type { KV } from '@nats-io/kv';
import {
  FencedError,
  Writer,
  WriterNotRegisteredError,
  type CrashPoint,
} from '../replication/writer.js';
import { CryptoPool } from '../replication/crypto-pool.js';
import type { Tracing } from '../observability/tracing.js';

/** Configuration of one process. */
export interface InstanceConfig {
  readonly natsUrl: string;
  /** Credentials and TLS for NATS (src/protocol/nats-auth.ts); default anonymous, plain. */
  readonly natsAuth?: NatsAuth;
  readonly prefix: string;
  /** This process's name (lease holder id, admin subject). */
  readonly name: string;
  readonly genesis: Genesis;
  /**
   * The core's guards (default: the chart's registry). A replica whose guards differ decides
   * differently and raises the divergence alarm; tests use this to build such a replica, since
   * a different genesis or chart is refused at start (genesis_mismatch).
   */
  readonly core?: CoreOptions;
  /** 32-byte Ed25519 seed of the key that signs decision records. */
  readonly signerSeed: Uint8Array;
  readonly replicas?: 1 | 3;
  readonly snapshotEvery?: number;
  readonly batchMax?: number;
  /**
   * Worker threads verifying signatures ahead of the reducer and signing decision records
   * (0: both on the writer's thread). Default: one per core beyond the first, at least one.
   */
  readonly cryptoThreads?: number;
  readonly leaseTtlMs?: number;
  readonly leaseRenewMs?: number;
  /**
   * `buckets` (default for a new deployment): writers by bucket lease (chain-member.ts).
   * `lease`: one writer for every chain. Recorded in `<P>_DEPLOYMENT` when the deployment is
   * created; unset, an instance follows the deployment.
   */
  readonly writers?: WritersMode;
  /**
   * Writers by bucket: `held` decides only the chains this process holds (and the deployment
   * chain), queueing every other project's entries until it takes that project's bucket
   * (docs/adr/0006-deciding-held-chains.md); `all` decides every chain (every member a full
   * follower). Default: INSTANCE_DEFAULTS.decide.
   */
  readonly decide?: DecideMode;
  /** Deciding held chains only: records of a chain between two of its snapshots. */
  readonly projectSnapshotEvery?: number;
  /**
   * Deciding held chains only: project documents kept in memory at most (least recently used
   * evicted; docs/adr/0007-resident-projects.md). Default: INSTANCE_DEFAULTS.residentProjects.
   */
  readonly residentProjects?: number;
  readonly crashAt?: ReadonlyMap<CrashPoint, number>;
  /** One span per decision when tracing is on (off by default). */
  readonly tracing?: Tracing;
  readonly log: Logger;
}

/** What `status()` reports. */
export interface InstanceStatus {
  readonly name: string;
  readonly role: 'starting' | 'writer' | 'follower' | 'stopped';
  readonly wal_seq: number;
  readonly state_hash: string;
  readonly facts_hash: string;
  readonly hlc_last: string | null;
  readonly region_hashes: Readonly<Record<string, string>>;
  readonly wal_lag: number;
  readonly diverged: string | null;
  /**
   * Why the process serves but cannot do its job, or null: today, when the last
   * FACTS_REFUSED_WINDOW facts were all refused for their signer (the feeders' keys are not in
   * this deployment's registry: every gate then fails on missing facts).
   */
  readonly degraded: string | null;
  readonly last_snapshot_hlc: string | null;
  readonly last_snapshot_seq: number;
  readonly term: number;
  /**
   * Writers by bucket: the buckets whose leases this process holds (the deployment chain's is
   * bucket B, one past the last project bucket); absent with one writer.
   */
  readonly buckets_held?: readonly number[];
  /**
   * Writers by bucket: every entry up to this WAL seq has its record stored (snapshots are
   * taken at or below it), and how many records decided here wait to be stored.
   */
  readonly stored_seq?: number;
  readonly backlog?: number;
  /**
   * Writers by bucket: records this member has held until their entry was decided (read ahead
   * of a Writer_Rotate it had not folded), since it started.
   */
  readonly records_held?: number;
  /** Writers by bucket: which chains this member decides, and bytes queued for the others. */
  readonly deciding?: DecideMode;
  readonly queued_bytes?: number;
  /**
   * Deciding held chains only, since this process started: projects taken up (and the queued
   * entries that decided), and per-project snapshots adopted to drop queued entries.
   */
  readonly held_counts?: {
    readonly taken_up: number;
    readonly entries_taken_up: number;
    readonly snapshots_adopted: number;
    /** Project documents evicted from memory, loaded again, or not loadable (ADR 0007). */
    readonly evicted: number;
    readonly loaded: number;
    readonly load_failed: number;
  };
  /** Deciding held chains only: project documents in memory now (bounded), and out of it. */
  readonly resident_projects?: number;
  readonly cold_projects?: number;
}

/** Facts in a row refused for their signer before /health says degraded. */
export const FACTS_REFUSED_WINDOW = 20;
const SIGNER_REFUSALS: readonly string[] = [
  'unknown_signer', 'unauthorized_role', 'bad_signature', 'identity_expired',
];

/** Defaults, each with why. */
/** Which chains a member of a bucket deployment decides (InstanceConfig.decide). */
export type DecideMode = 'all' | 'held';

/** SWOOSH_DECIDE / --decide: `all` or `held`, else invalid_config naming `field`. */
export function parseDecideMode(raw: string, field: string): DecideMode {
  if (raw === 'all' || raw === 'held') return raw;
  throw new SwooshError('invalid_config',
    `${field}: expected all or held, got ${JSON.stringify(raw)}`);
}

export const INSTANCE_DEFAULTS = {
  /**
   * Writers by bucket: which chains a member decides. `held` spreads verification and deciding
   * over the members (docs/adr/0006-deciding-held-chains.md); `all` makes every member a full
   * follower of every chain.
   */
  decide: 'held' as DecideMode,
  /** Deciding held chains only: records of a chain between two of its snapshots. */
  projectSnapshotEvery: 256,
  /** Deciding held chains only: queued WAL bytes (all projects) before the longest is decided. */
  queueBytesMax: 256 * 1024 * 1024,
  /** Deciding held chains only: project documents kept in memory at most. */
  residentProjects: 1000,
  /** One snapshot per thousand decisions bounds replay on restart to about a second here. */
  snapshotEvery: 1000,
  /**
   * Entries decided per micro-batch at most: bounds the work lost to a crash and a batch's latency.
   */
  batchMax: 256,
  /** Crypto worker threads: every core but the one the writer's thread runs on (at least one). */
  cryptoThreads: (): number => Math.max(1, availableParallelism() - 1),
  /** A writer that has not renewed for this long is presumed dead. */
  leaseTtlMs: 5000,
  /** Renew well inside the TTL so one slow renewal does not lose the lease. */
  leaseRenewMs: 1000,
} as const;

/** How long start() keeps retrying retryable stream-apply failures (e.g. a leader election). */
export const STREAM_APPLY_RETRY_MS = 20_000;

/** Most crypto worker threads a process may ask for. */
export const CRYPTO_THREADS_MAX = 64;

/**
 * A crypto thread count from text (env or flag): an integer 0..64, else invalid_config naming
 * `field`.
 */
export function parseCryptoThreads(raw: string, field: string): number {
  const n = /^[0-9]{1,2}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > CRYPTO_THREADS_MAX) {
    throw new SwooshError(
      'invalid_config',
      `${field}: expected an integer 0..${CRYPTO_THREADS_MAX} (0: verify and sign on the ` +
      `writer's thread), got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

/** How often WAL lag is measured from the stream (both roles). */
export const LAG_POLL_MS = 1000;

/**
 * Writers by bucket: decided records waiting to be stored, all chains, past which a member
 * decides nothing more (a chain whose holder died gets a new one within a lease TTL).
 */
export const MEMBER_BACKLOG_MAX = 20_000;

/** Writers by bucket: the `<P>_LEASES` key of the deployment chain's lease (bucket B). */
export const DEPLOYMENT_LEASE_KEY = 'deployment';

/** Pause after a transient writer failure before recovering and trying again. */
export const TRANSIENT_BACKOFF_MS = 500;

/**
 * Errors that must stop the process loudly rather than be retried: a determinism bug or a
 * lost write (replay mismatch), a broken invariant, and operating errors an operator must fix.
 */
export function isFatal(err: unknown): boolean {
  return err instanceof ReplayMismatchError || err instanceof InvariantViolation ||
    (err instanceof SwooshError && !err.retryable);
}

/** A running process. */
export class Instance {
  readonly metrics: Metrics;
  private nc!: NatsConnection;
  private js!: JetStreamClient;
  private jsm!: JetStreamManager;
  private core: Core;
  private signer: NodeSigner;
  private subjects: Subjects;
  /** Buckets of projects (`<P>_DEPLOYMENT`); the default until the config is read. */
  private bucketCount = DEPLOYMENT_BUCKETS_DEFAULT;
  private replica: Replica | null = null;
  private lease!: WriterLease;
  private snapshots!: SnapshotStore;
  private role: InstanceStatus['role'] = 'starting';
  private stopping = false;
  private loop: Promise<void> | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private lagTimer: NodeJS.Timeout | null = null;
  private deploymentKv: KV | null = null;
  private admin: Subscription | null = null;
  private walLast = 0;
  private diverged: string | null = null;
  /** Facts refused for their signer since the last recorded one, and the last such code. */
  private factsRefused = 0;
  private lastFactRefusal = '';
  private lastSnapshot = { seq: 0, hlc: null as string | null };
  private term = 0;
  private pool: CryptoPool | null = null;
  private mode: WritersMode = 'lease';
  private leasesKv: KV | null = null;
  private snapshotsKv: KV | null = null;
  private heldBuckets: readonly number[] = [];
  /** The buckets of `heldBuckets` as a set, and a counter that moves whenever it changes. */
  private ownedSet = new Set<number>();
  private ownedEpoch = 0;
  private readonly bucketCache = new Map<string, number>();
  /** Writers by bucket: where the next member starts (read at start, or after a failure). */
  private memberFrom: MemberStart | null = null;
  private member: ChainMember | null = null;

  constructor(private readonly cfg: InstanceConfig) {
    this.core = createCore(nodeHasher, cfg.core);
    this.signer = createNodeSigner(cfg.signerSeed);
    this.subjects = subjectsFor(cfg.prefix);
    this.metrics = createMetrics();
  }

  private get log(): Logger {
    return this.cfg.log;
  }

  /** Connect, apply streams, recover, and start the role loop. */
  async start(): Promise<void> {
    this.nc = await connect({
      ...natsConnectOptions([this.cfg.natsUrl], this.cfg.natsAuth),
      name: `swoosh:${this.cfg.name}`,
      noAsyncTraces: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    this.js = jetstream(this.nc, { timeout: 10_000 });
    this.jsm = await jetstreamManager(this.nc);
    const defs = streamDefinitions({
      prefix: this.cfg.prefix,
      replicas: this.cfg.replicas ?? 1,
      leaseTtlMs: this.cfg.leaseTtlMs ?? INSTANCE_DEFAULTS.leaseTtlMs,
    });
    assertNoDrift(await this.applyWithRetry(defs));
    const kvm = new Kvm(this.js);
    const born = this.core.genesis(this.cfg.genesis).meta;
    this.deploymentKv = await kvm.open(this.subjects.deploymentBucket);
    const deployed = await claimDeployment(this.deploymentKv, {
      bucket: this.subjects.deploymentBucket,
      genesisHash: born.genesis_hash, chartHash: born.chart_hash, prefix: this.cfg.prefix,
      ...(this.cfg.writers === undefined ? {} : { writers: this.cfg.writers }),
    });
    this.mode = deployed.writers ?? 'lease';
    this.bucketCount = deployed.buckets;
    const snapKv = await kvm.open(this.subjects.snapshotsBucket);
    this.snapshotsKv = snapKv;
    this.snapshots = new SnapshotStore(snapKv, this.nc.info?.max_payload ?? 1_048_576, 16);
    this.leasesKv = await kvm.open(this.subjects.leasesBucket);
    this.lease = new WriterLease(
      this.leasesKv,
      this.cfg.name,
      this.cfg.leaseTtlMs ?? INSTANCE_DEFAULTS.leaseTtlMs,
    );
    this.admin = this.nc.subscribe(`${this.cfg.prefix}.admin.${this.cfg.name}.status`, {
      callback: (err, msg) => {
        if (err === null) msg.respond(JSON.stringify(this.status()));
      },
    });
    const threads = this.cfg.cryptoThreads ?? INSTANCE_DEFAULTS.cryptoThreads();
    parseCryptoThreads(String(threads), 'cryptoThreads');
    if (threads > 0) {
      this.pool = await CryptoPool.create({ threads, signerSeed: this.cfg.signerSeed });
    }
    if (this.mode === 'buckets') {
      // The member replays the WAL after its snapshot against the stored records.
      this.memberFrom = await this.startMember();
      this.replica = this.memberFrom.replica;
    } else {
      const rec = await this.recover();
      this.replica = rec.replica;
    }
    this.lagTimer = setInterval(() => {
      void this.pollLag();
    }, LAG_POLL_MS);
    this.loop = this.roleLoop().catch((err: unknown) => {
      this.log.fatal({ err }, 'role loop failed; stopping');
      this.role = 'stopped';
    });
  }

  /**
   * Apply the streams, retrying retryable failures (a cluster electing leaders after a node
   * restart answers with timeouts for a few seconds) for up to STREAM_APPLY_RETRY_MS.
   */
  private async applyWithRetry(
    defs: ReturnType<typeof streamDefinitions>,
  ): Promise<Awaited<ReturnType<typeof applyStreams>>> {
    const until = performance.now() + STREAM_APPLY_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await applyStreams(this.nc, defs, { mode: 'apply' });
      } catch (err) {
        if (!(err instanceof SwooshError) || !err.retryable || performance.now() > until) throw err;
        this.log.warn({ err, attempt }, 'applying the streams failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 250 * attempt)));
      }
    }
  }

  private recoveryDeps(): Parameters<typeof memberStart>[0] {
    return {
      js: this.js,
      jsm: this.jsm,
      core: this.core,
      hasher: nodeHasher,
      verifier: createNodeVerifier(),
      genesis: this.cfg.genesis,
      snapshots: this.snapshots,
      walName: this.subjects.walName,
      decisionsName: this.subjects.decisionsName,
      transitionsName: this.subjects.transitionsName,
      log: (level, msg, fields) => this.log[level](fields ?? {}, msg),
    };
  }

  private async recover(resume?: { replica: Replica; snapshotSeq: number }): Promise<Recovered> {
    const rec = await recover({
      ...this.recoveryDeps(),
      ...(resume === undefined ? {} : { resume }),
    });
    this.metrics.setRecoveryTime(rec.millis / 1000);
    this.walLast = rec.walLastSeq;
    this.lastSnapshot = { seq: rec.snapshotSeq, hlc: rec.replica.state.clock.hlc_last };
    return rec;
  }

  /** Writers by bucket: the newest verified snapshot (or genesis) to replay from. */
  private async startMember(): Promise<MemberStart> {
    const start = await memberStart(this.recoveryDeps(), this.decideMode === 'held');
    this.metrics.setRecoveryTime(start.millis / 1000);
    this.lastSnapshot = { seq: start.snapshotSeq, hlc: start.replica.state.clock.hlc_last };
    return start;
  }

  /** Writer while holding the lease, follower otherwise; transient failures back off and retry. */
  private async roleLoop(): Promise<void> {
    if (this.mode === 'buckets') {
      await this.memberLoop();
      return;
    }
    while (!this.stopping) {
      try {
        if (this.diverged === null && this.keyProblem() === null &&
          (await this.lease.tryAcquire())) {
          await this.actAsWriter();
        }
        else await this.actAsFollower(this.cfg.leaseRenewMs ?? INSTANCE_DEFAULTS.leaseRenewMs);
      } catch (err) {
        if (isFatal(err)) throw err;
        // A NATS outage or timeout: nothing unstored is kept; recover from storage and retry.
        this.log.warn({ err, role: this.role }, 'transient failure; recovering and retrying');
        await new Promise((r) => setTimeout(r, TRANSIENT_BACKOFF_MS));
        await this.recover().then(
          (rec) => {
            this.replica = rec.replica;
          },
          (e: unknown) => {
            if (isFatal(e)) throw e;
            this.log.warn({ err: e }, 'recovery failed; will retry');
          },
        );
      }
    }
  }

  /**
   * Writers by bucket: one ChainMember from genesis; after a transient failure, a new one from
   * genesis (what was decided but not stored is only in the member that failed).
   */
  private async memberLoop(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.actAsMember();
        return;
      } catch (err) {
        if (isFatal(err)) throw err;
        this.log.warn({ err }, 'member: transient failure; replaying and retrying');
        await new Promise((r) => setTimeout(r, TRANSIENT_BACKOFF_MS));
        // What was decided but not stored is only in the member that failed: start afresh.
        this.memberFrom = null;
        this.memberFrom = await this.startMember().catch((e: unknown) => {
          if (isFatal(e)) throw e;
          this.log.warn({ err: e }, 'member: start failed; will retry');
          return null;
        });
      }
    }
  }

  private async actAsMember(): Promise<void> {
    const from = this.memberFrom ?? await this.startMember();
    this.memberFrom = null;
    const replica = from.replica;
    this.replica = replica;
    const kv = this.leasesKv;
    if (kv === null) throw new Error('member without a leases bucket');
    const B = this.bucketCount;
    const ttlMs = this.cfg.leaseTtlMs ?? INSTANCE_DEFAULTS.leaseTtlMs;
    const renewMs = this.cfg.leaseRenewMs ?? INSTANCE_DEFAULTS.leaseRenewMs;
    const leases = new BucketLeases(kv, {
      member: this.cfg.name,
      buckets: B + 1,
      ttlMs,
      listKeys: streamKeyLister(this.jsm, this.subjects.leasesBucket),
      keyOf: (n) => (n === B ? DEPLOYMENT_LEASE_KEY : `bucket.${n}`),
      log: (level, msg, fields) => this.log[level](fields ?? {}, msg),
    });
    const member = new ChainMember({
      nc: this.nc,
      js: this.js,
      jsm: this.jsm,
      replica,
      signer: this.signer,
      pool: this.pool,
      subjects: {
        dr: (c) => this.subjects.dr(c),
        transitions: (p, r, t) => this.subjects.transitions(p, r, t),
      },
      walName: this.subjects.walName,
      decisionsName: this.subjects.decisionsName,
      transitionsName: this.subjects.transitionsName,
      holds: (chain) => leases.held(this.bucketOfChain(chain)),
      batchMax: this.cfg.batchMax ?? INSTANCE_DEFAULTS.batchMax,
      backlogMax: MEMBER_BACKLOG_MAX,
      onStored: (d, byMe) => this.onDecided(d, byMe ? Date.now() - d.msg.logMs : null),
      onDivergence: (err) => this.onDivergence(err),
      onStray: (kind, detail) => {
        this.metrics.recordStrayRecord(kind);
        this.log.warn({ kind, detail }, 'a message on a record subject was set aside');
      },
      snapshots: {
        store: this.snapshots,
        every: this.cfg.snapshotEvery ?? INSTANCE_DEFAULTS.snapshotEvery,
        revision: from.snapshotRevision,
        onWritten: (w: SnapshotOutcome) => this.onSnapshotWritten(w),
      },
      ...(this.decideMode === 'held'
        ? {
            held: {
              owns: (chain: string) => this.ownedSet.has(this.bucketOfChain(chain)),
              ownEpoch: () => this.ownedEpoch,
              projectSnapshots: new ProjectSnapshots(this.snapshotsKv as KV,
                this.nc.info?.max_payload ?? 1_048_576),
              snapshotEvery: this.cfg.projectSnapshotEvery ??
                INSTANCE_DEFAULTS.projectSnapshotEvery,
              queueBytesMax: INSTANCE_DEFAULTS.queueBytesMax,
              onProjectSnapshot: (_p: string, outcome: 'written' | 'adopted' | 'failed') =>
                this.metrics.recordProjectSnapshot(outcome),
              residentMax: this.cfg.residentProjects ?? INSTANCE_DEFAULTS.residentProjects,
              onResidency: (event: ResidencyEvent) => {
                this.metrics.recordResidency(event);
                this.metrics.setResidentProjects(replica.residentCount);
              },
            },
          }
        : {}),
      log: (level, msg, fields) =>
        this.log[level === 'info' ? 'debug' : level](fields ?? {}, msg),
      ...(this.cfg.crashAt === undefined ? {} : { crashAt: this.cfg.crashAt }),
    }, from.drFrom, from.tails);
    this.member = member;
    // Join (take buckets) only once caught up with the WAL as it was at start: a member still
    // replaying would hold buckets it cannot publish yet.
    const walAtStart = (await this.jsm.streams.info(this.subjects.walName)).state.last_seq;
    let joined = false;
    let ticking: Promise<void> = Promise.resolve();
    const tick = async (): Promise<void> => {
      // (A member whose backlog is full joins anyway: its waiting records drain only once some
      // member holds their chains, and every member may be in the same state after a restart.)
      if (!joined && replica.lastSeq < walAtStart && member.backlog < MEMBER_BACKLOG_MAX) return;
      if (!joined) {
        joined = true;
        this.log.info({ wal_seq: replica.lastSeq }, 'member: caught up; joining');
      }
      if (this.keyProblem() !== null) {
        // Not a writer here: hold nothing, so the members whose keys are take every chain.
        if (this.heldBuckets.length > 0) {
          this.log.error({ code: 'writer_not_registered', detail: this.keyProblem() },
            'member: this key is not a writer in the registry; releasing every bucket');
          await leases.releaseAll();
          this.setHeld([]);
        }
        return;
      }
      const t = await leases.tick();
      this.setHeld(t.held);
      const held = t.held.length > 0;
      const role = held ? 'writer' : 'follower';
      if (this.role !== role) {
        this.role = role;
        this.metrics.setRole(role);
      }
      if (t.acquired.length + t.released.length + t.lost.length > 0) {
        this.term += 1;
        this.log.info({
          acquired: t.acquired, released: t.released, lost: t.lost, held: t.held.length,
          members: t.members?.length ?? null,
        }, 'member: buckets changed');
      }
    };
    this.role = 'follower';
    this.metrics.setRole('follower');
    const timer = setInterval(() => {
      ticking = ticking.then(tick).catch((err: unknown) => {
        this.log.warn({ err }, 'member: lease tick failed');
      });
    }, renewMs);
    try {
      await member.run(() => !this.stopping);
    } finally {
      clearInterval(timer);
      await ticking;
      this.setHeld([]);
      await leases.releaseAll();
    }
    if (member.diverged !== null && !this.stopping) {
      // A diverged member serves the last state it agreed with and never writes.
      while (!this.stopping) await new Promise((r) => setTimeout(r, 250));
    }
  }

  private async actAsWriter(): Promise<void> {
    this.term += 1;
    this.renewTimer = setInterval(() => {
      void this.lease.renew();
    }, this.cfg.leaseRenewMs ?? INSTANCE_DEFAULTS.leaseRenewMs);
    try {
      // The follower's replica was checked record by record; continue from it when it still
      // matches storage rather than loading a snapshot and replaying again.
      const held = this.replica;
      const rec = await this.recover(
        held !== null && this.diverged === null
          ? { replica: held, snapshotSeq: this.lastSnapshot.seq }
          : undefined,
      );
      this.replica = rec.replica;
      this.role = 'writer';
      this.metrics.setRole('writer');
      this.log.info({ term: this.term, wal_seq: rec.replica.lastSeq }, 'writer: holding the lease');
      const writer = this.newWriter(rec);
      try {
        await writer.publishTransitions(rec.pendingTransitions);
        await writer.catchUp(rec.walLastSeq);
        const consumer = await this.js.consumers.get(
          this.subjects.walName,
          this.subjects.writerDurable,
        );
        await writer.run(consumer, () => !this.stopping && this.lease.held);
      } finally {
        writer.close();
      }
      if (!this.lease.held) this.log.warn({ term: this.term }, 'writer: lease lost; stepping down');
    } catch (err) {
      if (err instanceof WriterNotRegisteredError) {
        this.log.error(
          { code: err.code, wal_seq: err.seq, term: this.term, detail: err.message },
          'writer: this key is not a writer in the registry; stepping down (add it with ' +
          'Writer_Rotate, or start this process with a registered key)',
        );
      } else {
        if (!(err instanceof FencedError)) throw err;
        this.metrics.recordFenceRejection();
        this.log.warn({ err, term: this.term }, 'writer: fenced by another writer; stepping down');
      }
    } finally {
      if (this.renewTimer !== null) clearInterval(this.renewTimer);
      this.renewTimer = null;
      await this.lease.release();
      if (!this.stopping) {
        // Whatever was decided in memory but not stored is discarded: follow from storage.
        this.replica = (await this.recover()).replica;
      }
    }
  }

  private newWriter(rec: Recovered): Writer {
    return new Writer(
      {
        nc: this.nc,
        js: this.js,
        jsm: this.jsm,
        replica: rec.replica,
        signer: this.signer,
        pool: this.pool,
        leaseHeld: () => this.lease.held,
        subjects: {
          dr: (c) => this.subjects.dr(c),
          transitions: (p, r, t) => this.subjects.transitions(p, r, t),
        },
        walName: this.subjects.walName,
        snapshots: this.snapshots,
        snapshotEvery: this.cfg.snapshotEvery ?? INSTANCE_DEFAULTS.snapshotEvery,
        batchMax: this.cfg.batchMax ?? INSTANCE_DEFAULTS.batchMax,
        crashAt: this.cfg.crashAt ?? new Map(),
        onDecided: (d, storedMs) => this.onDecided(d, storedMs - d.msg.logMs),
        onBatch: (size, publishSeconds) => {
          this.metrics.observeBatch(size);
          this.metrics.observePublishLatency(publishSeconds);
        },
        onSnapshot: (s) => this.onSnapshotWritten(s),
        log: (level, msg, fields) =>
          this.log[level === 'info' ? 'debug' : level](fields ?? {}, msg),
      },
      rec.snapshotRevision,
      rec.snapshotSeq,
    );
  }

  private onSnapshotWritten(s: SnapshotOutcome): void {
    if ('error' in s) {
      this.metrics.recordSnapshot(
        s.error.includes('wrong last sequence') ? 'cas_conflict' : 'error',
      );
      this.log.warn({ wal_seq: s.seq, error: s.error }, 'snapshot not written');
    } else {
      this.metrics.recordSnapshot('ok');
      this.metrics.setSnapshot(Date.now(), s.bytes);
      this.lastSnapshot = { seq: s.seq, hlc: s.hlc };
      this.log.info(s, 'snapshot written');
    }
  }

  /**
   * A chain's bucket (the deployment chain's is bucket B, one past the last project bucket),
   * remembered: it is asked for on every decision (metrics, and leases by bucket).
   */
  /** Which chains this member decides (writers by bucket only). */
  private get decideMode(): DecideMode {
    return this.cfg.decide ?? INSTANCE_DEFAULTS.decide;
  }

  /** The buckets this process holds after a lease round. */
  private setHeld(held: readonly number[]): void {
    const same = held.length === this.ownedSet.size && held.every((b) => this.ownedSet.has(b));
    this.heldBuckets = held;
    if (same) return;
    this.ownedSet = new Set(held);
    this.ownedEpoch += 1;
  }

  private bucketOfChain(chain: string): number {
    if (chain === DEPLOYMENT_CHAIN) return this.bucketCount;
    let b = this.bucketCache.get(chain);
    if (b === undefined) {
      b = bucketOf(chain, this.bucketCount);
      this.bucketCache.set(chain, b);
    }
    return b;
  }

  /**
   * Why this process's key may not sign records at the replica's position (the registry pins
   * other writers), or null. Checked before taking the writer lease or any bucket.
   */
  private keyProblem(): string | null {
    const r = this.replica;
    if (r === null) return null;
    return writerProblem(r.deployment.identities, { writer: this.signer.signer });
  }

  /** A recomputed record differs from the stored one: alarm, and stop applying. */
  private onDivergence(err: ReplayMismatchError): void {
    this.diverged = err.message;
    this.metrics.recordDivergence();
    this.log.error(
      { err, wal_seq: err.seq },
      'DIVERGENCE: recomputed decision differs from the stored record',
    );
  }

  private onDecided(d: Decided, latencyMs: number | null): void {
    const drId = d.content.dr_id;
    const dec = d.step.decision;
    const chain = d.content.project;
    this.metrics.recordChainDecision(
      chain === DEPLOYMENT_CHAIN ? 'deployment' : String(this.bucketOfChain(chain)),
    );
    if (d.step.created.length > 0 || d.msg.seq === 1) {
      this.metrics.setProjects(Object.keys(d.step.deployment.projects).length);
    }
    if (dec.channel === 'fact') {
      if (dec.outcome === 'fact') this.factsRefused = 0;
      else if (dec.code !== null && SIGNER_REFUSALS.includes(dec.code)) {
        this.factsRefused += 1;
        this.lastFactRefusal = `${dec.code}: ${dec.message ?? ''}`;
      }
    }
    this.metrics.recordDecision(dec, latencyMs === null ? null : Math.max(0, latencyMs) / 1000);
    this.cfg.tracing?.spanForDecision(dec, {
      wal_seq: d.msg.seq,
      dr_id: drId,
      state_pre_hash: d.step.pre.head,
      state_post_hash: d.step.post.head,
      latency_ms: latencyMs,
    });
    this.log.info(
      decisionLogFields(
        dec,
        {
          state_pre_hash: d.step.pre.head,
          state_post_hash: d.step.post.head,
          facts_post_hash: d.step.post.facts,
        },
        { dr_id: drId },
      ),
      'decision',
    );
  }

  private async actAsFollower(forMs: number): Promise<void> {
    const replica = this.replica;
    if (replica === null) throw new Error('follower without a replica');
    if (this.role !== 'follower') {
      this.role = 'follower';
      this.metrics.setRole('follower');
      this.log.info({ wal_seq: replica.lastSeq }, 'follower: tailing the log');
    }
    if (this.diverged !== null) {
      // A diverged replica stops applying and never writes; an operator triages (docs/runtime.md).
      await new Promise((r) => setTimeout(r, forMs));
      return;
    }
    const until = Date.now() + forMs;
    const f = new Follower({
      js: this.js,
      replica,
      walName: this.subjects.walName,
      decisionsName: this.subjects.decisionsName,
      batchMax: this.cfg.batchMax ?? INSTANCE_DEFAULTS.batchMax,
      onChecked: (d) => this.onDecided(d, null),
      onDivergence: (err) => this.onDivergence(err),
    });
    await f.run(() => !this.stopping && Date.now() < until);
    this.walLast = (await this.jsm.streams.info(this.subjects.walName)).state.last_seq;
    this.metrics.setWalLag(this.walLast, replica.lastSeq);
  }

  /** WAL last sequence vs what this replica has decided (both roles). */
  private async pollLag(): Promise<void> {
    try {
      this.walLast = (await this.jsm.streams.info(this.subjects.walName)).state.last_seq;
      this.metrics.setWalLag(this.walLast, this.replica?.lastSeq ?? 0);
    } catch (err) {
      this.log.debug({ err }, 'lag poll failed (NATS unreachable?)');
    }
    await this.publishLicenceGate();
  }

  /**
   * Publish the licence gate (DEPLOYMENT_LICENCE_KEY) for feeders, so they stop once a revoked
   * licence's grace is over. Only an instance caught up with the WAL writes (a lagging one, or
   * one restarted from an old snapshot, would publish a status the log has moved past), and it
   * writes only when the key differs from what it decided, so a stray or stale value is
   * corrected within a poll. Every caught-up instance folds the same facts: they agree.
   */
  private async publishLicenceGate(): Promise<void> {
    const d = this.currentDeployment();
    const kv = this.deploymentKv;
    const at = this.replica?.lastSeq ?? 0;
    if (d === null || kv === null || at < this.walLast) return;
    const rec: LicenceGateRecord = {
      status: d.facts.license.status,
      since_ms: d.facts.license.since_ms,
      grace_until_ms: licenceGraceEndOf(d),
    };
    const text = JSON.stringify(rec);
    try {
      const have = await kv.get(DEPLOYMENT_LICENCE_KEY);
      if (have?.operation === 'PUT' && have.string() === text) return;
      await kv.put(DEPLOYMENT_LICENCE_KEY, text);
    } catch (err) {
      this.log.warn({ err }, 'publishing the licence gate failed; trying again');
    }
  }

  /**
   * Where this process stands: the replica's position. While it writes, that may be up to one
   * batch ahead of the records stored (see writer.ts, pipelining); it is still the state of a
   * WAL prefix, which any writer decides identically, and it is never behind a record a client
   * was answered with (an HTTP 202 can arrive before the writer has the PubAck).
   */
  private served(): Replica | null {
    return this.replica;
  }

  /**
   * A project's state as this process serves it (immutable; safe to read while the loop runs),
   * caught up to the deployment's facts; null when the project does not exist. The v1 reads
   * use the default project.
   */
  currentState(project: string = DEFAULT_PROJECT): State | null {
    return this.replica?.view(project) ?? null;
  }

  /**
   * `currentState` for any project, also one whose document this member evicted from memory
   * (loaded from its snapshot for this read only; ADR 0007). Throws `SwooshError`
   * `project_unavailable` when no copy of it can be loaded.
   */
  async stateOf(project: string): Promise<State | null> {
    const r = this.replica;
    if (r === null) return null;
    if (r.coversAhead(project)) {
      // Started from a held snapshot whose document of this project is ahead of the replay:
      // its document is newer than the WAL seq this member would answer with.
      throw new SwooshError('project_unavailable', `project ${project}: this member is still ` +
        `replaying the WAL up to the position its document holds (at ${r.lastSeq}); retry in a ` +
        'moment', true);
    }
    if (r.coldOf(project) === undefined || this.member === null) return r.view(project);
    return this.member.readCold(project);
  }

  /** The deployment's document (identities, facts, registry), or null before recovery. */
  currentDeployment(): State | null {
    return this.replica?.deployment ?? null;
  }

  /** Buckets of projects this deployment was created with (`<P>_DEPLOYMENT`). */
  buckets(): number {
    return this.bucketCount;
  }

  /** Registered project ids, sorted. */
  projectIds(): string[] {
    return this.replica?.projectIds() ?? [];
  }

  /**
   * Name of the process holding the writer lease now, if any; with writers by bucket, the
   * holder of the deployment chain's lease.
   */
  async leaseHolder(): Promise<string | null> {
    if (this.mode !== 'buckets' || this.leasesKv === null) return this.lease.holderNow();
    const e = await this.leasesKv.get(DEPLOYMENT_LEASE_KEY);
    if (e === null || e.operation !== 'PUT') return null;
    const v = JSON.parse(new TextDecoder().decode(e.value)) as { holder?: unknown };
    return typeof v.holder === 'string' ? v.holder : null;
  }

  /** The reducer this process runs. */
  get reducer(): Core {
    return this.core;
  }

  /** NATS handles and names, for the HTTP gateway and tooling in the same process. */
  get nats(): {
    nc: NatsConnection;
    js: JetStreamClient;
    jsm: JetStreamManager;
    subjects: Subjects;
    prefix: string;
  } {
    return {
      nc: this.nc,
      js: this.js,
      jsm: this.jsm,
      subjects: this.subjects,
      prefix: this.cfg.prefix,
    };
  }

  /** What this process knows now. */
  status(): InstanceStatus {
    const r = this.served();
    // A member that started from a held snapshot has the default project's document at a later
    // position than its own until its replay gets there (ADR 0006 §7): no state to report at
    // `wal_seq` until then.
    const hs = r === null || r.coversAhead(DEFAULT_PROJECT) ? null : this.core.hashes(r.state);
    return {
      name: this.cfg.name,
      role: this.role,
      wal_seq: r?.lastSeq ?? 0,
      state_hash: hs?.head ?? '',
      facts_hash: hs?.facts ?? '',
      hlc_last: r?.state.clock.hlc_last ?? null,
      region_hashes: hs?.sections ?? {},
      wal_lag: Math.max(0, this.walLast - (r?.lastSeq ?? 0)),
      diverged: this.diverged,
      degraded: this.keyProblem() !== null
        ? `writer_not_registered: ${this.keyProblem() ?? ''}; this process does not write`
        : this.factsRefused >= FACTS_REFUSED_WINDOW
        ? `the last ${this.factsRefused} facts were refused for their signer (last: ` +
          `${this.lastFactRefusal.slice(0, 300)}); the feeders' keys are not in this ` +
          "deployment's identities: check the genesis or grant them the feeder role"
        : null,
      last_snapshot_hlc: this.lastSnapshot.hlc,
      last_snapshot_seq: this.lastSnapshot.seq,
      term: this.term,
      ...(this.mode === 'buckets'
        ? {
            buckets_held: this.heldBuckets,
            stored_seq: this.member?.storedUpTo ?? 0,
            backlog: this.member?.backlog ?? 0,
            records_held: this.member?.heldTotal ?? 0,
            deciding: this.decideMode,
            queued_bytes: this.member?.queuedBytes ?? 0,
            ...(this.decideMode === 'held' && this.member !== null
              ? {
                  held_counts: { ...this.member.heldCounts },
                  resident_projects: this.replica?.residentCount ?? 0,
                  cold_projects: this.replica?.coldCount ?? 0,
                }
              : {}),
          }
        : {}),
    };
  }

  /** Stop: finish the current batch, release the lease, drain the connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.lagTimer !== null) clearInterval(this.lagTimer);
    await this.loop;
    await this.cfg.tracing?.shutdown();
    this.role = 'stopped';
    this.admin?.unsubscribe();
    await this.pool?.close();
    this.pool = null;
    await this.nc.drain();
  }
}
