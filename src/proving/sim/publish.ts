/**
 * Publishing generated entries to a real WAL the way producers do (ARCHITECTURE §3): the
 * msgpack envelope `{v:1, body, sig}` on `<prefix>.proposals.<transition>` or
 * `<prefix>.facts.<kind>`, with `Nats-Msg-Id` = sha256 hex of the body.
 */
import type { JetStreamClient, JetStreamManager, PubAck } from '@nats-io/jetstream';
import type { WalEntry } from '../../core/index.js';
import { encodeEnvelope, msgIdOf } from '../../protocol/envelope.js';
import { rfc3339Ms } from '../../protocol/wal-message.js';
import type { World } from './world.js';

/** Publish `entries` (signed ones; their signatures come from the generating world). */
export async function publishEntries(
  js: JetStreamClient,
  prefix: string,
  w: World,
  entries: readonly WalEntry[],
  pipeline = 64,
): Promise<PubAck[]> {
  const acks: PubAck[] = [];
  let inflight: Promise<PubAck>[] = [];
  for (const e of entries) {
    if (e.type !== 'signed') continue;
    const sig = w.sigs.get(e.body);
    if (sig === undefined) throw new Error(`no signature recorded for entry ${e.seq}`);
    const body = new TextEncoder().encode(e.body);
    const family = e.channel === 'fact' ? 'facts' : 'proposals';
    inflight.push(
      js.publish(`${prefix}.${family}.${e.name}`, encodeEnvelope(body, sig), {
        msgID: msgIdOf(body),
      }),
    );
    if (inflight.length >= pipeline) {
      acks.push(...(await Promise.all(inflight)));
      inflight = [];
    }
  }
  acks.push(...(await Promise.all(inflight)));
  return acks;
}

/**
 * A closed-loop producer, as real producers are: each entry is planned against the state the
 * log has actually produced (real WAL seq and JetStream timestamp), then published.
 * Returns the entries as logged.
 */
export async function publishLive(
  js: JetStreamClient,
  jsm: JetStreamManager,
  prefix: string,
  walName: string,
  w: World,
  steps: Generator<WalEntry, void, WalEntry | null>,
): Promise<WalEntry[]> {
  const logged: WalEntry[] = [];
  let next = steps.next(null);
  while (next.done !== true) {
    const e = next.value;
    const [ack] = await publishEntries(js, prefix, w, [e]);
    if (ack === undefined || ack.duplicate) {
      next = steps.next(null);
      continue;
    }
    const stored = await jsm.streams.getMessage(walName, { seq: ack.seq });
    if (stored === null) throw new Error(`WAL entry ${ack.seq} vanished`);
    const got = { ...e, seq: ack.seq as WalEntry['seq'], log_ms: rfc3339Ms(stored.timestamp) };
    w.seq = ack.seq;
    w.logMs = got.log_ms;
    logged.push(got);
    next = steps.next(got);
  }
  return logged;
}
