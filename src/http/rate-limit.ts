/**
 * Token buckets for the gateway's write routes: one per client address and one per signer,
 * so neither a noisy client nor a runaway producer key can fill the WAL (which is append-only
 * and never purged). A request takes one token from each; an empty bucket answers
 * `429 rate_limited` with `Retry-After`. Buckets are kept for at most KEYS_MAX keys, the
 * least recently used forgotten first (a forgotten key starts full again, which only errs
 * towards letting a request through).
 */

/** A rate: tokens per second and the burst a full bucket holds. 0 per second: no limit. */
export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

/** Keys remembered per limiter. */
const KEYS_MAX = 10_000;

/** Parse `<per second>[:<burst>]` (burst defaults to twice the rate); `0` turns it off. */
export function parseRate(text: string, what: string): Rate {
  const m = /^(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(text.trim());
  const perSecond = Number(m?.[1]);
  if (m === null || !Number.isFinite(perSecond)) {
    throw new Error(`${what}: expected <per second>[:<burst>], e.g. 200:400, or 0 for no limit`);
  }
  const burst = m[2] === undefined ? Math.max(1, Math.ceil(perSecond * 2)) : Number(m[2]);
  if (perSecond > 0 && burst < 1) throw new Error(`${what}: the burst must be at least 1`);
  return { perSecond, burst };
}

/** One limiter: a bucket per key. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(private readonly rate: Rate, private readonly now: () => number = Date.now) {}

  /**
   * Take `cost` tokens for `key` (at most the burst): 0 when allowed, else the seconds until
   * they are there.
   */
  take(key: string, cost = 1): number {
    if (this.rate.perSecond <= 0) return 0;
    const t = this.now();
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.rate.burst, atMs: t };
    } else {
      this.buckets.delete(key); // re-inserted below: the map's order is recency
      const refill = ((t - b.atMs) / 1000) * this.rate.perSecond;
      b = { tokens: Math.min(this.rate.burst, b.tokens + refill), atMs: t };
    }
    this.buckets.set(key, b);
    if (this.buckets.size > KEYS_MAX) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    const need = Math.min(Math.max(1, cost), this.rate.burst);
    if (b.tokens >= need) {
      b.tokens -= need;
      return 0;
    }
    return Math.max(1, Math.ceil((need - b.tokens) / this.rate.perSecond));
  }
}
