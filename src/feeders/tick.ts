/**
 * Tick source: publishes an empty `tick` fact every `intervalMs`.
 *
 * The core never reads a clock: a deadline (the end of a licence grace period, a BACKBEAT
 * window's `deadline_at`) passes only when some entry is logged after it. Ticks are that
 * entry when nothing else arrives. They matter only while a deadline is pending, but the
 * feeder cannot see the state, so it runs always at a coarse interval; the interval bounds
 * how late a deadline is acted on (a BACKBEAT window closes at most `intervalMs` late; once a
 * licence grace is over ticks are held like every fact but licence facts).
 */
import {
  checkIntOption, Loop, reportUnpublished, resumeFrom, type Feeder, type FeederContext,
} from './common.js';

/** Options of the tick source. */
export interface TickFeederOptions {
  readonly intervalMs: number;
}

/** Defaults of the CLI. */
export const TICK_DEFAULTS = {
  /** Five seconds: deadlines are acted on within seconds; ~17k WAL entries a day. */
  intervalMs: 5_000,
} as const;

/** Shortest interval accepted. Why: faster ticks flood the WAL without making time finer. */
export const TICK_INTERVAL_MS_MIN = 10;

/** The tick source's counters. */
export interface TickStats {
  readonly published: number;
  readonly failed: number;
}

class TickSource implements Feeder<TickStats> {
  readonly kind = 'tick' as const;
  private readonly loop: Loop;
  private published = 0;
  private failed = 0;

  constructor(private readonly ctx: FeederContext, intervalMs: number) {
    this.loop = new Loop(() => this.tick(), () => intervalMs,
      (err) => ctx.log.error({ err }, 'tick failed unexpectedly'));
  }

  start(): void {
    this.loop.start();
  }

  stats(): TickStats {
    return { published: this.published, failed: this.failed };
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async tick(): Promise<void> {
    try {
      const f = await this.ctx.publisher.publish('tick', {});
      this.published += 1;
      this.ctx.log.debug({ hlc: f.hlc, seq: f.seq }, 'tick');
    } catch (err) {
      if (reportUnpublished(this.ctx.log, err, {}, 'publishing a tick failed')) this.failed += 1;
    }
  }
}

/** Start the tick source; the first tick is published immediately. */
export async function startTickFeeder(
  ctx: FeederContext,
  o: TickFeederOptions,
): Promise<Feeder<TickStats>> {
  checkIntOption('interval ms', o.intervalMs, TICK_INTERVAL_MS_MIN, 86_400_000);
  await resumeFrom(ctx, 'tick');
  const t = new TickSource(ctx, o.intervalMs);
  t.start();
  return t;
}
