/**
 * A NATS client for producers, feeders and downstream followers (node: uses
 * @nats-io/transport-node). Proposals and facts go to the WAL in their NATS form (ARCHITECTURE
 * §3: msgpack envelope `{v:1, body, sig}`, `Nats-Msg-Id` = sha256 hex of the body), built by the
 * same shell code the HTTP gateway uses; decision records are read from DECISIONS with an
 * ordered consumer.
 *
 * Publishing answers when JetStream has stored the entry, not when it is decided: follow the
 * decisions (or ask the HTTP API for `wal_seq`) to learn the outcome.
 */
import { natsConnectOptions, type NatsAuth } from '../protocol/nats-auth.js';
import {
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { CHART, isControlTransition, type Outcome } from '../core/index.js';
import { decodeDr, type DecisionRecord } from '../protocol/decision-record.js';
import { closeConsumerMessages } from '../protocol/batch-reader.js';
import { envelopeOfSigned } from '../protocol/publish.js';
import { subjectsFor, type Subjects } from '../../streams/definitions.js';
import { signFact, type SignedFact, type UnsignedFact } from './fact.js';
import type { Identity } from './identity.js';
import type { SignedProposal } from './proposal.js';

/** Options of {@link NatsClient.connect}. */
export interface NatsClientOptions {
  /** The installation's subject prefix, e.g. `swoosh`. */
  readonly prefix: string;
  /** Connection name shown by the server (default `swoosh-sdk`). */
  readonly name?: string;
  /** JetStream API timeout (publish acks); default 10 s. */
  readonly timeoutMs?: number;
  /**
   * Credentials and TLS (docs/security.md, "Connecting to NATS"); default anonymous and plain.
   * `natsAuthOf(natsAuthEnv())` reads the same environment variables as SWOOSH's processes.
   */
  readonly auth?: NatsAuth;
}

/** Where JetStream stored a published entry. */
export interface PublishResult {
  /** The WAL sequence: also the sequence of its decision record on DECISIONS. */
  readonly wal_seq: number;
  /** True when JetStream dropped an exact re-send (same body) inside its duplicate window. */
  readonly duplicate: boolean;
}

/** What {@link NatsClient.follow} reads. */
export interface FollowOptions {
  /** First WAL sequence to read (default 1, the beginning). */
  readonly fromSeq?: number;
  /**
   * Only one chain: a project id or `_deployment` (subject filter `<prefix>.dr.<chain>`).
   * Default: every chain, in WAL order.
   */
  readonly chain?: string;
  /** Only records with this outcome (the `Swoosh-Outcome` header). */
  readonly outcome?: Outcome;
  /** Only records of this transition or fact kind (the `Swoosh-Transition` header). */
  readonly transition?: string;
  /** Ends the iteration when it fires. */
  readonly signal?: AbortSignal;
}

/** Default JetStream API timeout. */
export const NATS_TIMEOUT_MS_DEFAULT = 10_000;
/** Records the client buffers while following: bounds memory, keeps the pipe full. */
export const FOLLOW_BUFFER_MAX = 256;

const OUTCOMES: ReadonlySet<string> = new Set([
  'accepted', 'rejected', 'duplicate', 'quarantined', 'fact',
]);
/** The token the writer puts in a record's Swoosh-Transition header (subjectToken). */
const NAME_TOKEN_RE = /^[A-Za-z0-9_-]+$/;
/** A chain: a project id or `_deployment`. */
const CHAIN_RE = /^([a-z0-9][a-z0-9-]{0,62}|_deployment)$/;

/** A connection to one SWOOSH installation's streams. */
export class NatsClient {
  private readonly js: JetStreamClient;
  private readonly subjects: Subjects;

  private constructor(
    private readonly nc: NatsConnection,
    readonly prefix: string,
    private readonly owned: boolean,
    timeoutMs: number,
  ) {
    this.js = jetstream(nc, { timeout: timeoutMs });
    this.subjects = subjectsFor(prefix);
  }

  /** Connect to `url` (one server or several). Throws when the prefix is not a valid subject. */
  static async connect(
    url: string | readonly string[],
    opts: NatsClientOptions,
  ): Promise<NatsClient> {
    subjectsFor(opts.prefix); // validate before connecting
    const nc = await connect({
      ...natsConnectOptions(typeof url === 'string' ? [url] : [...url], opts.auth),
      name: opts.name ?? 'swoosh-sdk',
      noAsyncTraces: true,
    });
    return new NatsClient(nc, opts.prefix, true, opts.timeoutMs ?? NATS_TIMEOUT_MS_DEFAULT);
  }

  /** Use a connection the caller owns; `close()` will not close it. */
  static fromConnection(nc: NatsConnection, opts: NatsClientOptions): NatsClient {
    return new NatsClient(nc, opts.prefix, false, opts.timeoutMs ?? NATS_TIMEOUT_MS_DEFAULT);
  }

  /**
   * Publish a signed proposal: a control transition to `<prefix>.control.<transition>`, any
   * other to `<prefix>.proposals.<project>.<transition>` (the v1 subject when the proposal
   * names no project: the default project).
   */
  async submit(signed: SignedProposal): Promise<PublishResult> {
    const spec = CHART.transitions.find((t) => t.name === signed.transition);
    if (spec !== undefined && isControlTransition(spec)) {
      return this.publish(this.subjects.control(signed.transition), signed);
    }
    const project = signed.project ?? null;
    return this.publish(this.subjects.proposals(signed.transition, project), signed);
  }

  /** Publish an already-signed fact to `<prefix>.facts.<kind>`. */
  async submitFact(signed: SignedFact): Promise<PublishResult> {
    return this.publish(this.subjects.facts(signed.kind), signed);
  }

  /** Sign `fact` with `identity` (its signer) and publish it. */
  async publishFact(fact: UnsignedFact, identity: Identity): Promise<PublishResult> {
    return this.submitFact(signFact(fact, identity));
  }

  private async publish(
    subject: string,
    signed: { readonly signature: string },
  ): Promise<PublishResult> {
    const env = envelopeOfSigned(signed);
    const ack = await this.js.publish(subject, env.data, { msgID: env.msgId });
    return { wal_seq: ack.seq, duplicate: ack.duplicate };
  }

  /**
   * Decision records in WAL order from `fromSeq`: every chain, or one (`chain`), optionally only
   * one outcome and/or one transition (read from the records' headers). The iteration waits
   * for new records and ends when `signal` fires (or the caller breaks out). Records of a
   * chain follow one another in its hash chain when no outcome or transition filter is given.
   * Throws TypeError at once on a bad option.
   */
  follow(opts: FollowOptions = {}): AsyncIterable<DecisionRecord> {
    const fromSeq = opts.fromSeq ?? 1;
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) {
      throw new TypeError('follow: fromSeq must be a positive integer');
    }
    if (opts.outcome !== undefined && !OUTCOMES.has(opts.outcome)) {
      throw new TypeError(`follow: outcome must be one of ${[...OUTCOMES].join('|')}`);
    }
    if (opts.transition !== undefined && !NAME_TOKEN_RE.test(opts.transition)) {
      throw new TypeError('follow: transition must be a transition name or fact kind');
    }
    if (opts.chain !== undefined && !CHAIN_RE.test(opts.chain)) {
      throw new TypeError('follow: chain must be a project id or _deployment');
    }
    const subject = `${this.prefix}.dr.${opts.chain ?? '*'}`;
    const keep = (h: { get(k: string): string } | undefined): boolean =>
      (opts.outcome === undefined || h?.get('Swoosh-Outcome') === opts.outcome) &&
      (opts.transition === undefined || h?.get('Swoosh-Transition') === opts.transition);
    return this.records(subject, fromSeq, opts.signal, keep);
  }

  private async *records(
    subject: string,
    fromSeq: number,
    signal: AbortSignal | undefined,
    keep: (h: { get(k: string): string } | undefined) => boolean,
  ): AsyncGenerator<DecisionRecord> {
    // A function, not a narrowed property: the signal fires while this generator waits.
    const aborted = (): boolean => signal?.aborted === true;
    if (aborted()) return;
    const consumer = await this.js.consumers.get(this.subjects.decisionsName, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: fromSeq,
      filter_subjects: subject,
    });
    const messages = await consumer.consume({ max_messages: FOLLOW_BUFFER_MAX });
    const stop = (): void => void closeConsumerMessages(messages);
    signal?.addEventListener('abort', stop, { once: true });
    try {
      if (aborted()) return;
      for await (const m of messages) {
        if (aborted()) return;
        if (!keep(m.headers)) continue;
        // Anything a foreign client got stored on a record subject is skipped, not thrown.
        let rec: DecisionRecord;
        try {
          rec = decodeDr(m.data);
        } catch (err) {
          void err; // not a record: skipped
          continue;
        }
        if (typeof (rec as { wal_seq?: unknown }).wal_seq === 'number') yield rec;
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      await closeConsumerMessages(messages);
    }
  }

  /** Close the connection (draining what is in flight) unless the caller owns it. */
  async close(): Promise<void> {
    if (this.owned && !this.nc.isClosed()) await this.nc.drain();
  }
}
