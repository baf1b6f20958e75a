/**
 * BACKBEAT bridge: subscribes to a NATS subject carrying INT-A beat frames as JSON and
 * republishes each valid frame as a `backbeat` fact.
 *
 * - A frame is the JSON object `{ type, cluster_id, beat_index, downbeat, phase, hlc,
 *   deadline_at, tempo_bpm, window_id }`. Only these fields are carried over: fields a later
 *   INT-A version adds are left out, because the core's backbeat schema is closed.
 * - A fractional `tempo_bpm` is rounded to the nearest integer (the core stores whole beats
 *   per minute; INT-A allows fractional tempos). Everything else must already match the
 *   core's schema exactly: nothing is coerced.
 * - An invalid frame is dropped and counted, with one log line naming the field.
 * - A frame whose `beat_index` is not after the last one bridged for its cluster is dropped
 *   as stale (the core would refuse it as `stale_fact`), e.g. a redelivered frame.
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import {
  FACT_PAYLOAD_SCHEMAS,
  type JsonObject,
  checkFactPayload,
  isJsonObject,
  parseHlc,
  parseIsoUtcMs,
  validateInputs,
} from '../core/index.js';
import { reportUnpublished, resumeFrom, type Feeder, type FeederContext } from './common.js';

/** The INT-A beat-frame fields the core records. */
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
  | { readonly ok: true; readonly payload: JsonObject; readonly tempoRounded: boolean }
  | { readonly ok: false; readonly field: string; readonly message: string };

const bad = (field: string, message: string): FrameResult => ({ ok: false, field, message });

/** Parse and validate one frame's bytes against the core's backbeat payload schema. */
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
  const payload: Record<string, unknown> = {};
  for (const k of BEAT_FRAME_FIELDS) if (Object.hasOwn(raw, k)) payload[k] = raw[k];
  const tempo = payload['tempo_bpm'];
  const tempoRounded =
    typeof tempo === 'number' && Number.isFinite(tempo) && !Number.isInteger(tempo);
  if (tempoRounded) payload['tempo_bpm'] = Math.round(tempo);
  const err = validateInputs(FACT_PAYLOAD_SCHEMAS.backbeat, payload, 'frame');
  if (err !== null) return bad(err.path, err.message);
  const hlc = parseHlc(payload['hlc'] as string);
  if (!hlc.ok) return bad('frame.hlc', hlc.message);
  if (parseIsoUtcMs(payload['deadline_at'] as string) === null) {
    return bad('frame.deadline_at', 'expected an ISO-8601 UTC time (YYYY-MM-DDTHH:MM:SS(.mmm)?Z)');
  }
  const out = payload as JsonObject;
  // The same check the core makes; the steps above only exist to name the field.
  const problem = checkFactPayload('backbeat', out);
  if (problem !== null) return bad('frame', problem.message);
  return { ok: true, payload: out, tempoRounded };
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
      this.ctx.log.debug({ ...fields, tempo_rounded: r.tempoRounded }, 'beat frame bridged');
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
