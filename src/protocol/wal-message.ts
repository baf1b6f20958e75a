/**
 * A WAL message as every reader sees it — the writer, followers, recovery, the audit, the SDK's
 * tail — whichever JetStream API delivered it (a consumer or a direct get). Lives in the
 * protocol layer because the SDK's batch reader needs it as much as the server does.
 */
import type { JsMsg, StoredMsg } from '@nats-io/jetstream';

/** A WAL message as every reader sees it, whichever API delivered it. */
export interface WalMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  /** JetStream timestamp in milliseconds (floor of the stored nanoseconds). */
  readonly logMs: number;
}

/** From a consumer message. */
export function fromJsMsg(m: JsMsg): WalMessage {
  return {
    seq: m.seq,
    subject: m.subject,
    data: m.data,
    logMs: Number(m.timestampNanos / 1_000_000n),
  };
}

/** Milliseconds of an RFC 3339 timestamp with up to nanosecond precision (floor). */
export function rfc3339Ms(ts: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (m === null) throw new Error(`unparseable JetStream timestamp ${ts}`);
  const whole = Date.parse(`${m[1] ?? ''}${m[3] ?? 'Z'}`);
  const frac = (m[2] ?? '').padEnd(3, '0').slice(0, 3);
  return whole + Number(frac);
}

/** From a direct/stream get. */
export function fromStoredMsg(m: StoredMsg): WalMessage {
  return { seq: m.seq, subject: m.subject, data: m.data, logMs: rfc3339Ms(m.timestamp) };
}
