/**
 * The producer's hybrid logical clock (src/core/model/hlc.ts has the rules). Every proposal and
 * fact carries an HLC, and the writer accepts a proposal only when its stamp is strictly after
 * the last accepted one (`hlc_regression`) and not too far ahead of log time
 * (`hlc_too_far_ahead`). A producer keeps one clock for all it sends, ticks it with `next()`
 * for every object, and folds in what the server reports (`hlc_last` of `GET /state` or of a
 * rejection's `head`) with `observe()`, so its next stamp is after everything it has seen.
 * Portable: the wall clock is injected.
 */
import { HLC_MS_MAX, formatHlc, hlcReceive, hlcSend, parseHlc, type Hlc } from '../core/index.js';

/** Options of a {@link ProducerClock}. */
export interface ProducerClockOptions {
  /** Wall clock in epoch milliseconds; default `Date.now`. Fractions are floored. */
  readonly now?: () => number;
  /** Starting value (e.g. the last stamp a restarted producer used); default the epoch. */
  readonly start?: string;
}

/**
 * A producer HLC. Stamps from `next()` strictly increase, whatever the wall clock does; after
 * `observe(h)`, every later stamp is strictly after `h`. Not shared across processes: two
 * producers each keep their own (ties between them break by signer and idem key).
 */
export class ProducerClock {
  private local: Hlc;
  private readonly now: () => number;

  /** A clock reading `opts.now` (default `Date.now`), starting at `opts.start` or the epoch. */
  constructor(opts: ProducerClockOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.local = opts.start === undefined ? { ms: 0, logical: 0 } : parse(opts.start, 'start');
  }

  /** The HLC send rule: the next stamp, strictly after every earlier one and ≥ the wall clock. */
  next(): string {
    this.local = hlcSend(this.local, this.wallMs());
    return formatHlc(this.local);
  }

  /**
   * The HLC receive rule over a stamp seen elsewhere (`null`, "nothing accepted yet", is a
   * no-op). Throws TypeError on text that is not an HLC: a server answer is trusted, so a
   * malformed one is a bug to surface, not to skip.
   */
  observe(hlc: string | null): void {
    if (hlc === null) return;
    this.local = hlcReceive(this.local, parse(hlc, 'observe'), this.wallMs());
  }

  /** The clock's value: at or after every stamp it produced or observed; `next()` is after it. */
  current(): string {
    return formatHlc(this.local);
  }

  /** The wall clock as an integer in the HLC's range (a broken clock must not throw later). */
  private wallMs(): number {
    const ms = Math.floor(this.now());
    if (!Number.isSafeInteger(ms) || ms < 0) return 0;
    return Math.min(ms, HLC_MS_MAX);
  }
}

function parse(text: string, who: string): Hlc {
  const p = parseHlc(text);
  if (!p.ok) throw new TypeError(`ProducerClock.${who}: ${p.message}`);
  return p.hlc;
}
