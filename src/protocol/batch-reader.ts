/**
 * Micro-batching over a consumer: wait (bounded) for one message, then take whatever else is
 * already queued, up to a bound. Latency stays one message's worth when traffic is light, and
 * batches grow by themselves under load. Used by the writer (durable pull consumer, so it can
 * ack), and, through StreamReader, by recovery, catch-up and followers (ordered consumers).
 */
import {
  DeliverPolicy,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import { fromJsMsg, type WalMessage } from './wal-message.js';

/** How long close() waits for the client to confirm (see close()). */
export const CLOSE_WAIT_MS = 200;

/** Messages the client buffers per consumer: bounds memory, keeps the pipe full. */
export const PUMP_BUFFER_MAX = 1024;

/** Pulls JsMsgs off a consumer in micro-batches. */
export class MessagePump {
  private messages: ConsumerMessages | null = null;
  private iter: AsyncIterator<JsMsg> | null = null;
  private pending: Promise<IteratorResult<JsMsg>> | null = null;

  constructor(private readonly consumer: Consumer) {}

  /** Up to `max` messages; waits at most `waitMs` for the first one; [] when none came. */
  async take(max: number, waitMs: number): Promise<JsMsg[]> {
    if (this.messages === null) {
      this.messages = await this.consumer.consume({ max_messages: PUMP_BUFFER_MAX });
      this.iter = this.messages[Symbol.asyncIterator]();
    }
    const out: JsMsg[] = [];
    const first = await this.next(waitMs);
    if (first === null) return out;
    out.push(first);
    // Then whatever is already queued: a queued message resolves before the next macrotask.
    // (QueuedIterator.getPending() is not usable here: it can stay positive with nothing queued.)
    while (out.length < max) {
      const m = await this.next(0);
      if (m === null) break;
      out.push(m);
    }
    return out;
  }

  /** The next message, or null if none arrives within `waitMs` (0: only if already queued). */
  private async next(waitMs: number): Promise<JsMsg | null> {
    const iter = this.iter as AsyncIterator<JsMsg>;
    this.pending ??= iter.next();
    let timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
    const none = new Promise<null>((resolve) => {
      timer =
        waitMs === 0 ? setImmediate(() => resolve(null)) : setTimeout(() => resolve(null), waitMs);
    });
    const r = await Promise.race([this.pending, none]);
    if (waitMs === 0) clearImmediate(timer as NodeJS.Immediate);
    else clearTimeout(timer as NodeJS.Timeout);
    if (r === null) return null; // keep `pending`: the next call picks it up
    this.pending = null;
    if (r.done === true) throw new Error('consumer closed');
    return r.value;
  }

  /**
   * Stop consuming. The client's close() resolves only once its iterator is pulled again, which
   * never happens when a pull was abandoned mid-wait; the subscription is gone as soon as
   * close() is called, so wait briefly and move on.
   */
  async close(): Promise<void> {
    const m = this.messages;
    this.messages = null;
    this.iter = null;
    this.pending = null;
    if (m !== null) await closeConsumerMessages(m);
  }
}

/**
 * Stop a consumer's message stream, waiting at most CLOSE_WAIT_MS: the client's close()
 * resolves only once its iterator is pulled again, which never happens when a pull was
 * abandoned mid-wait; the subscription is gone as soon as close() is called.
 */
export async function closeConsumerMessages(messages: ConsumerMessages): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    messages.close().then(() => undefined, (err: unknown) => err),
    new Promise((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
    }),
  ]);
  clearTimeout(timer);
}

/** An in-order reader of one stream from a start sequence (ordered consumer). */
export class StreamReader {
  private pump: MessagePump | null = null;
  private nextSeq: number;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    fromSeq: number,
  ) {
    this.nextSeq = fromSeq;
  }

  /** Up to `max` next messages, waiting at most `waitMs` for the first; [] when none arrived. */
  async read(max: number, waitMs: number): Promise<WalMessage[]> {
    if (this.pump === null) {
      const consumer = await this.js.consumers.get(this.stream, {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: this.nextSeq,
      });
      this.pump = new MessagePump(consumer);
    }
    const out = (await this.pump.take(max, waitMs))
      .map(fromJsMsg)
      .filter((m) => m.seq >= this.nextSeq);
    const last = out.at(-1);
    if (last !== undefined) this.nextSeq = last.seq + 1;
    return out;
  }

  /** The next message; throws if none arrives within `waitMs` (used where it must exist). */
  async next(waitMs = 10_000): Promise<WalMessage> {
    const [m] = await this.read(1, waitMs);
    if (m === undefined) {
      throw new Error(`${this.stream}: message ${this.nextSeq} did not arrive within ${waitMs} ms`);
    }
    return m;
  }

  /** Stop reading (the ordered consumer is ephemeral; the server drops it). */
  async close(): Promise<void> {
    const p = this.pump;
    this.pump = null;
    if (p !== null) await p.close();
  }
}
