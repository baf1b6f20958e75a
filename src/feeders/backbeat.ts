/**
 * BACKBEAT bridge: subscribes to a NATS subject carrying INT-A beat frames as JSON and
 * republishes each valid frame as a `backbeat` fact, as BACKBEAT published it (ARCHITECTURE §6).
 *
 * - A frame is checked against the whole INT-A schema (src/feeders/chorus/backbeat-int.ts:
 *   `type` `backbeat.beatframe.v1`, BACKBEAT's own `hlc` `XXXX:XXXX:XXXX` in hex, an RFC 3339
 *   `deadline_at`, a fractional `tempo_bpm` in 0.1..1000, a 32-hex `window_id`, optional
 *   `metadata`, nothing else). The nine recorded fields are carried over unchanged; `metadata`
 *   is not recorded (nothing decides on it).
 * - Then the core's own check of the fields it records, so nothing is published that the writer
 *   would refuse (a leap second in `deadline_at` passes the schema's `date-time` but names no
 *   instant SWOOSH can record).
 * - An invalid frame is dropped and counted, with one log line naming the field.
 * - A frame whose `beat_index` is not after the last one bridged for its cluster is dropped
 *   as stale (the core would refuse it as `stale_fact`), e.g. a redelivered frame.
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { type JsonObject, checkFactPayload, isJsonObject } from '../core/index.js';
import { intABeatFrameProblem } from './chorus/backbeat-int.js';
import { reportUnpublished, resumeFrom, type Feeder, type FeederContext } from './common.js';

/** The INT-A beat-frame fields the core records (all but `metadata`). */
export const BEAT_FRAME_FIELDS = [
  'type', 'cluster_id', 'beat_index', 'downbeat', 'phase', 'hlc', 'deadline_at', 'tempo_bpm',
  'window_id',
] as const;

/** Largest frame accepted. Why: a beat frame is ~300 bytes; anything near this is not one. */
export const BEAT_FRAME_BYTES_MAX = 16_384;
/** Clusters whose last beat is remembered. Why: bounds memory if cluster ids churn. */
export const BEAT_CLUSTERS_MAX = 10_000;

/** Options of the bridge. */
export interface BackbeatFeederOptions {
  /** Where the frames arrive; may be another NATS than the WAL's (closed on stop if owned). */
  readonly source: NatsConnection;
  readonly subject: string;
  /** Queue group, so several bridges share the frames instead of each republishing them. */
  readonly queue?: string | undefined;
  /** Close `source` on stop (true when the bridge opened it). */
  readonly ownsSource?: boolean;
  /** Called when the subscription ends without stop() (the source connection closed). */
  readonly onSourceLost?: () => void;
}

/** The bridge's counters. */
export interface BackbeatStats {
  readonly received: number;
  readonly published: number;
  readonly invalid: number;
  readonly stale: number;
  readonly failed: number;
  /** Invalid frames by the first field found wrong. */
  readonly invalid_by_field: Readonly<Record<string, number>>;
}

/** A frame turned into a fact payload, or the field that is wrong. */
export type FrameResult =
  | { readonly ok: true; readonly payload: JsonObject }
  | { readonly ok: false; readonly field: string; readonly message: string };

const bad = (field: string, message: string): FrameResult => ({ ok: false, field, message });

/** Parse one frame's bytes, check it against INT-A and the core, and keep the recorded fields. */
export function frameToPayload(data: Uint8Array): FrameResult {
  if (data.byteLength > BEAT_FRAME_BYTES_MAX) {
    return bad('frame', `larger than ${BEAT_FRAME_BYTES_MAX} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (err) {
    return bad('frame', `not JSON: ${(err as Error).message}`);
  }
  if (!isJsonObject(raw)) return bad('frame', 'expected a JSON object');
  const problem = intABeatFrameProblem(raw);
  if (problem !== null) return bad(problem.field, problem.message);
  const payload: Record<string, unknown> = {};
  for (const k of BEAT_FRAME_FIELDS) payload[k] = raw[k];
  const out = payload as JsonObject;
  const refused = checkFactPayload('backbeat', out);
  if (refused !== null) return bad('frame', refused.message);
  return { ok: true, payload: out };
}

class BackbeatBridge implements Feeder<BackbeatStats> {
  readonly kind = 'backbeat' as const;
  private sub: Subscription | null = null;
  private done: Promise<void> = Promise.resolve();
  private readonly lastBeat = new Map<string, number>();
  private readonly invalidByField: Record<string, number> = {};
  private counts = { received: 0, published: 0, invalid: 0, stale: 0, failed: 0 };
  private stopped = false;

  constructor(private readonly ctx: FeederContext, private readonly o: BackbeatFeederOptions) {}

  async start(): Promise<void> {
    const opts = this.o.queue === undefined ? {} : { queue: this.o.queue };
    const sub = this.o.source.subscribe(this.o.subject, opts);
    this.sub = sub;
    this.done = this.consume(sub);
    // Once the server has seen the SUB, every frame published from now on reaches us.
    await this.o.source.flush();
  }

  private async consume(sub: Subscription): Promise<void> {
    try {
      for await (const m of sub) await this.onFrame(m.data);
    } catch (err) {
      this.ctx.log.error({ err, subject: this.o.subject }, 'the beat-frame subscription failed');
    }
    if (!this.stopped) {
      this.ctx.log.error({ subject: this.o.subject }, 'the beat-frame subscription ended');
      this.o.onSourceLost?.();
    }
  }

  /** Treat `payload` (e.g. the last fact on the WAL) as already bridged. */
  remember(payload: JsonObject): void {
    const cluster = payload['cluster_id'];
    const beat = payload['beat_index'];
    if (typeof cluster === 'string' && typeof beat === 'number') this.lastBeat.set(cluster, beat);
  }

  stats(): BackbeatStats {
    return { ...this.counts, invalid_by_field: { ...this.invalidByField } };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.sub?.unsubscribe();
    await this.done;
    if (this.o.ownsSource === true) await this.o.source.close();
  }

  private async onFrame(data: Uint8Array): Promise<void> {
    this.counts.received += 1;
    const r = frameToPayload(data);
    if (!r.ok) {
      this.counts.invalid += 1;
      this.invalidByField[r.field] = (this.invalidByField[r.field] ?? 0) + 1;
      const fields = { field: r.field, reason: r.message, invalid: this.counts.invalid };
      this.ctx.log.warn(fields, 'dropped an invalid beat frame');
      return;
    }
    const cluster = r.payload['cluster_id'] as string;
    const beat = r.payload['beat_index'] as number;
    const last = this.lastBeat.get(cluster);
    if (last !== undefined && beat <= last) {
      this.counts.stale += 1;
      const fields = { cluster_id: cluster, beat_index: beat, last_beat_index: last };
      this.ctx.log.warn(fields, 'dropped a stale beat frame');
      return;
    }
    try {
      const f = await this.ctx.publisher.publish('backbeat', r.payload);
      this.counts.published += 1;
      const full = this.lastBeat.size >= BEAT_CLUSTERS_MAX;
      if (full && !this.lastBeat.has(cluster)) this.lastBeat.clear();
      this.lastBeat.set(cluster, beat);
      const fields = { cluster_id: cluster, beat_index: beat, hlc: f.hlc, seq: f.seq };
      this.ctx.log.debug(fields, 'beat frame bridged');
    } catch (err) {
      const fields = { cluster_id: cluster, beat_index: beat };
      if (reportUnpublished(this.ctx.log, err, fields, 'publishing a beat frame failed')) {
        this.counts.failed += 1;
      }
    }
  }
}

/**
 * Start the bridge. Resolves once the subscription is registered on the source server, so a
 * frame published after that is bridged.
 */
export async function startBackbeatFeeder(
  ctx: FeederContext,
  o: BackbeatFeederOptions,
): Promise<Feeder<BackbeatStats>> {
  const last = await resumeFrom(ctx, 'backbeat');
  const b = new BackbeatBridge(ctx, o);
  if (last !== null) b.remember(last.payload);
  await b.start();
  return b;
}
