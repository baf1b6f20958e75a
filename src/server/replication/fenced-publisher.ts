/**
 * The writer's publisher: a JetStream publish is a core NATS publish with a reply subject and
 * headers, answered by the stream with a PubAck (or an API error). `js.publish()` wraps each
 * one in a request object, a timer and an error object built ahead of time; at thousands of
 * records per second that is a large share of the writer's thread. This publisher keeps one
 * wildcard inbox subscription, one pending map and one sweep timer for all publishes, and
 * turns every answer into a value (never a thrown API error) for the writer to judge.
 *
 * Semantics are those of js.publish with `msgID` and `expect.lastSequence`: the headers
 * `Nats-Msg-Id` and `Nats-Expected-Last-Sequence` (ARCHITECTURE §4), the server's PubAck
 * `{stream, seq, duplicate?}` or `{error: {code, err_code, description}}`. A 503 status (no
 * stream listening) and a timeout are errors too.
 */
import { createInbox, headers, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import type { OperatingErrorCode } from '../../protocol/errors.js';

/** What the stream answered. */
export interface FencedAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/** The stream refused the publish (e.g. err_code 10071, wrong last sequence: the fence). */
export class PublishRefusedError extends Error {
  readonly code = 'publish_refused' satisfies OperatingErrorCode;
  constructor(
    readonly errCode: number | null,
    readonly status: number | null,
    readonly description: string,
  ) {
    super(
      `JetStream refused the publish: ` +
      `${description}${errCode === null ? '' : ` (err_code ${errCode})`}`,
    );
    this.name = 'PublishRefusedError';
  }
}

/** No answer within the timeout (the connection dropped, or the server is overloaded). */
export class PublishTimeoutError extends Error {
  readonly code = 'publish_timeout' satisfies OperatingErrorCode;
  constructor(readonly subject: string, ms: number) {
    super(`no PubAck for a publish to ${subject} within ${ms} ms`);
    this.name = 'PublishTimeoutError';
  }
}

interface Waiting {
  readonly subject: string;
  readonly deadline: number;
  resolve(a: FencedAck): void;
  reject(e: Error): void;
}

interface PubAckJson {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; err_code?: number; description?: string };
}

const dec = new TextDecoder();

/** JetStream publishes with the fence headers, many in flight over one inbox. */
export class FencedPublisher {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly waiting = new Map<string, Waiting>();
  private readonly sweep: NodeJS.Timeout;
  private next = 0;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 10_000,
  ) {
    this.prefix = createInbox();
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err !== null) {
          this.failAll(new Error(`publisher inbox closed: ${err.message}`, { cause: err }));
          return;
        }
        const w = this.waiting.get(msg.subject);
        if (w === undefined) return; // timed out already, or not ours
        this.waiting.delete(msg.subject);
        const status = msg.headers?.code ?? 0;
        if (status >= 300 || msg.data.length === 0) {
          w.reject(
            new PublishRefusedError(
              null,
              status,
              `${status} ${msg.headers?.description ?? 'no responders'}`.trim(),
            ),
          );
          return;
        }
        let ack: PubAckJson;
        try {
          ack = JSON.parse(dec.decode(msg.data)) as PubAckJson;
        } catch (e) {
          w.reject(
            new PublishRefusedError(null, null, `unparseable PubAck: ${(e as Error).message}`),
          );
          return;
        }
        if (ack.error !== undefined) {
          w.reject(
            new PublishRefusedError(
              ack.error.err_code ?? null,
              ack.error.code ?? null,
              ack.error.description ?? 'error',
            ),
          );
        } else if (typeof ack.seq !== 'number' || typeof ack.stream !== 'string') {
          w.reject(
            new PublishRefusedError(
              null,
              null,
              `PubAck without stream/seq: ${dec.decode(msg.data).slice(0, 200)}`,
            ),
          );
        } else {
          w.resolve({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true });
        }
      },
    });
    // One timer for every publish: insertion order is deadline order, so stop at the first live
    // one.
    this.sweep = setInterval(
      () => {
        const now = Date.now();
        for (const [reply, w] of this.waiting) {
          if (w.deadline > now) break;
          this.waiting.delete(reply);
          w.reject(new PublishTimeoutError(w.subject, this.timeoutMs));
        }
      },
      Math.max(50, Math.min(1000, Math.floor(timeoutMs / 4))),
    );
    this.sweep.unref();
  }

  /** Publish `data` to `subject`, stored only if the stream's last sequence is `expectLastSeq`. */
  publish(
    subject: string,
    data: Uint8Array,
    msgId: string,
    expectLastSeq: number,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<FencedAck> {
    return this.publishFenced(subject, data, msgId, { stream: expectLastSeq }, extra);
  }

  /**
   * Publish `data` to `subject` with a fence: `{stream: n}` stores it only if the stream's last
   * sequence is n (`Nats-Expected-Last-Sequence`), `{subject: n}` only if the last message on
   * this subject is at stream sequence n, 0 for none (`Nats-Expected-Last-Subject-Sequence`),
   * null only deduplicates by `msgId`.
   */
  publishFenced(
    subject: string,
    data: Uint8Array,
    msgId: string,
    fence: { readonly stream: number } | { readonly subject: number } | null,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<FencedAck> {
    if (this.closed) return Promise.reject(new Error('publisher is closed'));
    const reply = `${this.prefix}.${(this.next++).toString(36)}`;
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    if (fence !== null && 'stream' in fence) {
      h.set('Nats-Expected-Last-Sequence', String(fence.stream));
    } else if (fence !== null) {
      h.set('Nats-Expected-Last-Subject-Sequence', String(fence.subject));
    }
    for (const [k, v] of Object.entries(extra)) h.set(k, v);
    return new Promise<FencedAck>((resolve, reject) => {
      this.waiting.set(reply, { subject, deadline: Date.now() + this.timeoutMs, resolve, reject });
      try {
        this.nc.publish(subject, data, { reply, headers: h });
      } catch (e) {
        this.waiting.delete(reply);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  /** Stop: pending publishes fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweep);
    this.sub.unsubscribe();
    this.failAll(new Error('publisher is closed'));
  }
}
