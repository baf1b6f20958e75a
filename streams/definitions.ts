/**
 * The JetStream layout of ARCHITECTURE §5 as data: every stream, KV bucket and consumer with
 * every option written out in the server's snake_case wire shape. src/server/process/apply-streams.ts
 * creates what is missing and reports drift; it never edits a live stream. Why each option
 * has its value is in streams/README.md.
 */
import type { ConsumerConfig, StreamConfig } from '@nats-io/jetstream';
import type { KvOptions } from '@nats-io/kv';

/** The subject prefix of a default installation. */
export const PREFIX_DEFAULT = 'swoosh';

/** The default duplicate window: how long JetStream remembers a `Nats-Msg-Id`. */
export const DUPLICATE_WINDOW_MS_DEFAULT = 120_000;
/** The default time the writer has to ack a WAL entry before it is redelivered. */
export const ACK_WAIT_MS_DEFAULT = 30_000;
/** The default cap on WAL entries delivered to the writer and not yet acked. */
export const MAX_ACK_PENDING_DEFAULT = 1_024;
/** The default writer-lease lifetime (the KV bucket's max_age). */
export const LEASE_TTL_MS_DEFAULT = 5_000;
/** The default number of snapshot revisions kept (recovery falls back through them). */
export const SNAPSHOT_HISTORY_DEFAULT = 16;

/** Recovery falls back through older snapshots; fewer than 8 leaves too little to fall to. */
export const SNAPSHOT_HISTORY_MIN = 8;
/** The server refuses KV history above 64. */
export const SNAPSHOT_HISTORY_MAX = 64;
/**
 * Largest message a stream accepts: the server's default `max_payload` (1 MiB). A bigger
 * message cannot even be published, so a larger stream limit would only hide the real one.
 */
export const MSG_SIZE_BYTES_MAX = 1_048_576;
/** Pending pull requests the server keeps for the writer consumer (its default, made explicit). */
export const MAX_WAITING = 512;

const nanosPerMs = 1_000_000;
const nanos = (ms: number): number => ms * nanosPerMs;

/**
 * The server version from which each newer stream field exists. Fields not listed exist in
 * 2.9 (the minimum server). applyStreams leaves out, and does not compare, the fields a server
 * does not know: older servers either reject them or silently drop them, and the client
 * library refuses some of them outright.
 */
export const STREAM_FIELD_SINCE: Readonly<Partial<Record<keyof StreamConfig, string>>> = {
  first_seq: '2.10.0',
  compression: '2.10.0',
  metadata: '2.10.0',
  subject_transform: '2.10.0',
  consumer_limits: '2.10.0',
  allow_msg_ttl: '2.11.0',
  subject_delete_marker_ttl: '2.11.0',
  allow_msg_counter: '2.12.0',
  allow_atomic: '2.12.0',
  allow_msg_schedules: '2.12.0',
  persist_mode: '2.12.0',
};

/** As STREAM_FIELD_SINCE, for consumer fields. */
export const CONSUMER_FIELD_SINCE: Readonly<Partial<Record<keyof ConsumerConfig, string>>> = {
  filter_subjects: '2.10.0',
  metadata: '2.10.0',
  pause_until: '2.11.0',
  priority_groups: '2.11.0',
  priority_policy: '2.11.0',
};

/**
 * Values the server leaves out of a live config when they are the default (Go `omitempty`).
 * A field absent from a live config is compared as this value, else as the zero value of the
 * wanted value's type (false, 0, '', []).
 */
export const OMITTED_DEFAULTS: Readonly<Record<string, unknown>> = {
  compression: 'none',
  persist_mode: 'default',
};

/** Options of streamDefinitions. Units are in the names. */
export interface StreamDefinitionOptions {
  /** Subject prefix, e.g. `swoosh` or `swoosh.projA`; names use its upper-cased form. */
  readonly prefix: string;
  /** 1 for development, 3 for production (a 3-node cluster). */
  readonly replicas: 1 | 3;
  readonly duplicateWindowMs?: number;
  readonly ackWaitMs?: number;
  readonly maxAckPending?: number;
  readonly leaseTtlMs?: number;
  readonly snapshotHistory?: number;
}

/** A stream: `config` is both what is sent on create and what a live stream must match. */
export interface StreamDefinition {
  readonly kind: 'stream';
  readonly name: string;
  readonly config: StreamConfig;
}

/** The KV options SWOOSH sets for a bucket, all explicit. */
export type KvBucketOptions = Pick<
  KvOptions,
  'history' | 'ttl' | 'replicas' | 'storage' | 'max_bytes' | 'maxValueSize' | 'allow_direct'
>;

/**
 * A KV bucket. It is created through the KV API from `options` (so it is a real bucket);
 * `config` is the stream `KV_<bucket>` those options produce, compared like any stream.
 */
export interface KvDefinition {
  readonly kind: 'kv';
  /** The backing stream, `KV_<bucket>`. */
  readonly name: string;
  readonly bucket: string;
  readonly options: KvBucketOptions;
  readonly config: StreamConfigSubset;
}

/** A stream config that names only some fields (those a KV bucket's options determine). */
export type StreamConfigSubset = Partial<StreamConfig> & Pick<StreamConfig, 'name'>;

/** A durable consumer on `stream`. */
export interface ConsumerDefinition {
  readonly kind: 'consumer';
  /** The durable name. */
  readonly name: string;
  readonly stream: string;
  readonly config: ConsumerConfig & { readonly durable_name: string };
}

/** Every definition of one installation (one prefix). */
export interface StreamDefinitions {
  readonly prefix: string;
  readonly subjects: Subjects;
  readonly streams: readonly StreamDefinition[];
  readonly kv: readonly KvDefinition[];
  readonly consumers: readonly ConsumerDefinition[];
}

/** Subjects and names of one installation. */
export interface Subjects {
  /** `<prefix>.proposals.<project>.<transition>`; with project null the v1 form (default). */
  proposals(transition: string, project?: string | null): string;
  /** `<prefix>.control.<transition>`: control proposals (deployment chain). */
  control(transition: string): string;
  facts(kind: string): string;
  /** `<prefix>.dr.<chain>`: a project's decision chain, or `_deployment`. */
  dr(chain: string): string;
  /** `<prefix>.transitions.<project>.<region>.<transition>`. */
  transitions(project: string, region: string, transition: string): string;
  readonly walName: string;
  readonly decisionsName: string;
  readonly transitionsName: string;
  readonly snapshotsBucket: string;
  readonly leasesBucket: string;
  /** KV `<P>_DEPLOYMENT`: the deployment's config, written once (genesis and chart hashes). */
  readonly deploymentBucket: string;
  readonly writerDurable: string;
}

const tokenRe = /^[^\s.*>]+$/;

function assertToken(what: string, token: string): string {
  if (!tokenRe.test(token)) {
    throw new Error(`${what} ${JSON.stringify(token)} is not a single NATS subject token`);
  }
  return token;
}

/** `swoosh.projA` → `SWOOSH_PROJA`: upper-cased, every non-alphanumeric character → `_`. */
export function namePrefix(prefix: string): string {
  for (const t of prefix.split('.')) assertToken('prefix token', t);
  return prefix.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** Subjects and stream, bucket and consumer names for `prefix`. */
export function subjectsFor(prefix: string): Subjects {
  const p = namePrefix(prefix);
  return {
    proposals: (transition, project = null) =>
      project === null
        ? `${prefix}.proposals.${assertToken('transition', transition)}`
        : `${prefix}.proposals.${assertToken('project', project)}.` +
          assertToken('transition', transition),
    control: (transition) => `${prefix}.control.${assertToken('transition', transition)}`,
    facts: (kind) => `${prefix}.facts.${assertToken('fact kind', kind)}`,
    dr: (chain) => `${prefix}.dr.${assertToken('chain', chain)}`,
    transitions: (project, region, transition) =>
      `${prefix}.transitions.${assertToken('project', project)}.` +
      `${assertToken('region', region)}.${assertToken('transition', transition)}`,
    walName: `${p}_WAL`,
    decisionsName: `${p}_DECISIONS`,
    transitionsName: `${p}_TRANSITIONS`,
    snapshotsBucket: `${p}_SNAPSHOTS`,
    leasesBucket: `${p}_LEASES`,
    deploymentBucket: `${p}_DEPLOYMENT`,
    writerDurable: `${p}_writer`,
  };
}

/** The append-only log options shared by WAL, DECISIONS and TRANSITIONS. */
function logStream(
  name: string,
  subjects: string[],
  o: { replicas: 1 | 3; duplicateWindowMs: number },
): StreamDefinition {
  const config: StreamConfig = {
    name,
    subjects,
    retention: 'limits',
    storage: 'file',
    num_replicas: o.replicas,
    discard: 'new',
    discard_new_per_subject: false,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msgs_per_subject: -1,
    max_msg_size: MSG_SIZE_BYTES_MAX,
    max_consumers: -1,
    duplicate_window: nanos(o.duplicateWindowMs),
    deny_delete: true,
    deny_purge: true,
    allow_rollup_hdrs: false,
    sealed: false,
    no_ack: false,
    allow_direct: false,
    mirror_direct: false,
    first_seq: 0,
    compression: 'none',
    allow_msg_ttl: false,
    allow_msg_counter: false,
    allow_atomic: false,
    allow_msg_schedules: false,
    persist_mode: 'default',
  };
  return { kind: 'stream', name, config };
}

/** The stream the KV client creates for `bucket` from `options`, field by field. */
export function kvStreamConfig(bucket: string, options: KvBucketOptions): StreamConfigSubset {
  const maxAgeNs = nanos(options.ttl);
  // The server derives the duplicate window of a stream with a max age below two minutes.
  const duplicateWindowNs = maxAgeNs > 0 ? Math.min(maxAgeNs, nanos(120_000)) : nanos(120_000);
  return {
    name: `KV_${bucket}`,
    subjects: [`$KV.${bucket}.>`],
    retention: 'limits',
    storage: options.storage,
    num_replicas: options.replicas,
    discard: 'new',
    max_msgs: -1,
    max_bytes: options.max_bytes,
    max_age: maxAgeNs,
    max_msgs_per_subject: options.history,
    max_msg_size: options.maxValueSize,
    max_consumers: -1,
    duplicate_window: duplicateWindowNs,
    deny_delete: false,
    deny_purge: false,
    allow_rollup_hdrs: true,
    sealed: false,
    allow_direct: options.allow_direct,
    mirror_direct: false,
  };
}

function kvBucket(bucket: string, options: KvBucketOptions): KvDefinition {
  const config = kvStreamConfig(bucket, options);
  return { kind: 'kv', name: config.name, bucket, options, config };
}

function assertRange(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new Error(`${what} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

/** Resolve defaults and check every limit up front. */
function resolveOptions(opts: StreamDefinitionOptions) {
  const day = 86_400_000;
  return {
    duplicateWindowMs: assertRange('duplicateWindowMs',
      opts.duplicateWindowMs ?? DUPLICATE_WINDOW_MS_DEFAULT, 100, day),
    ackWaitMs: assertRange('ackWaitMs', opts.ackWaitMs ?? ACK_WAIT_MS_DEFAULT, 100, day),
    maxAckPending: assertRange('maxAckPending',
      opts.maxAckPending ?? MAX_ACK_PENDING_DEFAULT, 1, 1_000_000),
    leaseTtlMs: assertRange('leaseTtlMs', opts.leaseTtlMs ?? LEASE_TTL_MS_DEFAULT, 100, day),
    snapshotHistory: assertRange('snapshotHistory',
      opts.snapshotHistory ?? SNAPSHOT_HISTORY_DEFAULT, SNAPSHOT_HISTORY_MIN, SNAPSHOT_HISTORY_MAX),
  };
}

/** The writer's durable pull consumer on the WAL. */
function writerConsumer(
  s: Subjects,
  o: { replicas: 1 | 3; ackWaitMs: number; maxAckPending: number },
): ConsumerDefinition {
  return {
    kind: 'consumer',
    name: s.writerDurable,
    stream: s.walName,
    config: {
      durable_name: s.writerDurable,
      ack_policy: 'explicit',
      deliver_policy: 'all',
      replay_policy: 'instant',
      ack_wait: nanos(o.ackWaitMs),
      max_deliver: -1,
      max_ack_pending: o.maxAckPending,
      max_waiting: MAX_WAITING,
      max_batch: o.maxAckPending,
      max_expires: 0,
      max_bytes: 0,
      headers_only: false,
      inactive_threshold: 0,
      num_replicas: o.replicas,
      mem_storage: false,
      // No filter: the writer sees every proposal and fact. The server's "none" is an empty
      // string; it is compared but never sent (the create API puts the filter in the subject).
      filter_subject: '',
    },
  };
}

/** Every stream, KV bucket and consumer of the installation at `opts.prefix`. */
export function streamDefinitions(opts: StreamDefinitionOptions): StreamDefinitions {
  const o = resolveOptions(opts);
  const s = subjectsFor(opts.prefix);
  const log = { replicas: opts.replicas, duplicateWindowMs: o.duplicateWindowMs };
  const p = opts.prefix;
  return {
    prefix: p,
    subjects: s,
    streams: [
      logStream(s.walName, [`${p}.proposals.>`, `${p}.control.>`, `${p}.facts.>`], log),
      logStream(s.decisionsName, [`${p}.dr.>`], log),
      logStream(s.transitionsName, [`${p}.transitions.>`], log),
    ],
    kv: [
      kvBucket(s.snapshotsBucket, {
        history: o.snapshotHistory,
        ttl: 0,
        replicas: opts.replicas,
        storage: 'file',
        max_bytes: -1,
        maxValueSize: MSG_SIZE_BYTES_MAX,
        allow_direct: false,
      }),
      kvBucket(s.leasesBucket, {
        history: 1,
        ttl: o.leaseTtlMs,
        replicas: opts.replicas,
        storage: 'file',
        max_bytes: -1,
        maxValueSize: 4_096,
        allow_direct: false,
      }),
      kvBucket(s.deploymentBucket, {
        history: 1,
        ttl: 0,
        replicas: opts.replicas,
        storage: 'file',
        max_bytes: -1,
        maxValueSize: 4_096,
        allow_direct: false,
      }),
    ],
    consumers: [writerConsumer(s, { ...o, replicas: opts.replicas })],
  };
}
