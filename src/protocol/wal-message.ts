/**
 * A WAL message as every reader sees it — the writer, followers, recovery, the audit, the SDK's
 * tail — whichever JetStream API delivered it (a consumer or a direct get). Lives in the
 * protocol layer because the SDK's batch reader needs it as much as the server does.
 */
import type { JsMsg, StoredMsg } from '@nats-io/jetstream';
import type { EntryChannel, EntryScope } from '../core/index.js';

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

/** What a WAL subject says: the family, the last token and, for proposals, the scope. */
export interface WalSubject {
  readonly channel: EntryChannel;
  /** The transition name or fact kind (the last token). */
  readonly name: string;
  readonly scope?: EntryScope;
}

/**
 * Read a WAL subject from its end (the prefix may hold dots; contract v2 §3):
 *   `<prefix>.proposals.<project>.<transition>` → a project's proposal
 *   `<prefix>.proposals.<transition>`           → a v1 proposal (the default project)
 *   `<prefix>.control.<transition>`             → a control proposal
 *   `<prefix>.facts.<kind>`                     → a fact
 * The project form is tried first, so a project may be named `control` or `facts`.
 */
export function parseWalSubject(subject: string): WalSubject {
  const t = subject.split('.');
  const name = t.at(-1) ?? '';
  if (t.at(-3) === 'proposals' && t.length >= 4) {
    return { channel: 'proposal', name, scope: { kind: 'project', project: t.at(-2) ?? '' } };
  }
  const family = t.at(-2);
  if (family === 'facts') return { channel: 'fact', name };
  if (family === 'control') return { channel: 'proposal', name, scope: { kind: 'control' } };
  return { channel: 'proposal', name, scope: { kind: 'project', project: null } };
}
