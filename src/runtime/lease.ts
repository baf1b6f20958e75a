/**
 * The writer lease in the `<P>_LEASES` KV bucket, key `writer`. It decides who *tries* to
 * write (liveness); safety comes from the DECISIONS fence, so a paused ex-holder that wakes
 * up cannot publish even if it still believes it holds the lease.
 *
 * Acquire = KV create (fails while someone holds it). Renew = update with the last revision
 * (fails if anyone else wrote). The bucket's TTL expires an unrenewed lease, so failover
 * needs no operator: the next follower's create succeeds once the TTL has passed.
 */
import type { KV } from '@nats-io/kv';

const KEY = 'writer';

/** A lease holder. */
export class WriterLease {
  private revision = 0;

  constructor(
    private readonly kv: KV,
    private readonly holder: string,
  ) {}

  /** True while this process believes it holds the lease. */
  get held(): boolean {
    return this.revision > 0;
  }

  private value(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ holder: this.holder, renewed_at_ms: Date.now() }));
  }

  /** Try to take the lease; false when another holder has it (or the bucket is unreachable). */
  async tryAcquire(): Promise<boolean> {
    try {
      this.revision = await this.kv.create(KEY, this.value());
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
      this.revision = await this.kv.update(KEY, this.value(), this.revision);
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
