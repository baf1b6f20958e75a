/**
 * The writer lease in the `<P>_LEASES` KV bucket, key `writer`. It decides who *tries* to
 * write (liveness); safety comes from the DECISIONS fence, so a paused ex-holder that wakes
 * up cannot publish even if it still believes it holds the lease.
 *
 * Acquire = KV create (fails while someone holds it). Renew = update with the last revision
 * (fails if anyone else wrote). The bucket's TTL expires an unrenewed lease, so failover
 * needs no operator: the next follower's create succeeds once the TTL has passed.
 *
 * `held` is also bounded in time: it turns false once the last successful create or renew
 * was *sent* more than `VALID_FRACTION` of the TTL ago (monotonic clock, which keeps running
 * while the process is paused). A writer resumed after SIGSTOP therefore knows at once that
 * it may have been replaced, and publishes nothing more, instead of learning it from its next
 * renewal (the DECISIONS fence stays the safety net either way).
 */
import type { KV } from '@nats-io/kv';

const KEY = 'writer';

/** Share of the TTL a renewal is trusted for (the server counts the TTL from a later instant). */
export const VALID_FRACTION = 0.75;

/** A lease holder. */
export class WriterLease {
  private revision = 0;
  /** performance.now() when the last successful create or renew was sent. */
  private sentAt = 0;

  constructor(
    private readonly kv: KV,
    private readonly holder: string,
    private readonly ttlMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True while this process holds the lease and its last renewal is recent enough to trust. */
  get held(): boolean {
    return this.revision > 0 && this.now() - this.sentAt < this.ttlMs * VALID_FRACTION;
  }

  private value(): Uint8Array {
    return new TextEncoder().encode(
      JSON.stringify({ holder: this.holder, renewed_at_ms: Date.now() }),
    );
  }

  /** Try to take the lease; false when another holder has it (or the bucket is unreachable). */
  async tryAcquire(): Promise<boolean> {
    try {
      const sent = this.now();
      this.revision = await this.kv.create(KEY, this.value());
      this.sentAt = sent;
      return true;
    } catch (err) {
      void err; // held by someone else (wrong last sequence) or unreachable: try again later
      this.revision = 0;
      return false;
    }
  }

  /** Renew; false (and no longer held) when someone else wrote or the bucket is unreachable. */
  async renew(): Promise<boolean> {
    if (this.revision === 0) return false;
    try {
      const sent = this.now();
      this.revision = await this.kv.update(KEY, this.value(), this.revision);
      this.sentAt = sent;
      return true;
    } catch (err) {
      void err; // lost: step down, the fence keeps any in-flight publish from landing
      this.revision = 0;
      return false;
    }
  }

  /** Give the lease up (only if still ours), so a follower need not wait for the TTL. */
  async release(): Promise<void> {
    const rev = this.revision;
    this.revision = 0;
    if (rev === 0) return;
    await this.kv.delete(KEY, { previousSeq: rev }).catch((err: unknown) => {
      void err; // someone else already holds it: nothing to release
    });
  }

  /** Who holds the lease now, if anyone. */
  async holderNow(): Promise<string | null> {
    const e = await this.kv.get(KEY);
    if (e === null || e.operation !== 'PUT') return null;
    return (JSON.parse(new TextDecoder().decode(e.value)) as { holder: string }).holder;
  }
}
