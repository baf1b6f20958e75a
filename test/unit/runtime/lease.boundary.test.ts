/**
 * The writer lease's ¾-TTL trust rule, one millisecond either side, with an injected clock:
 * a renewal sent at t is trusted strictly before t + VALID_FRACTION × TTL and not at it.
 */
import type { KV } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { WriterLease } from '../../../src/server/replication/lease.js';

function memoryKv(): KV {
  let rev = 0;
  return {
    create: () => Promise.resolve(++rev),
    update: (_k: string, _v: Uint8Array, last: number) =>
      (last === rev ? Promise.resolve(++rev) : Promise.reject(new Error('wrong last sequence'))),
  } as unknown as KV;
}

describe('WriterLease ¾-TTL boundary', () => {
  // 750 ms is ¾ of 1,000 ms, written out so that a changed VALID_FRACTION fails here.
  it('Given a lease acquired at t=100 with TTL 1,000 ms, Then held at t=849 and not at t=850', async () => {
    let t = 100;
    const lease = new WriterLease(memoryKv(), 'w1', 1000, () => t);
    expect(await lease.tryAcquire()).toBe(true);
    t = 100 + 749;
    expect(lease.held).toBe(true);
    t = 100 + 750;
    expect(lease.held).toBe(false);
  });
  it('Given a renewal sent at t=2,000, Then trust runs from the send instant: held at 2,749, not at 2,750', async () => {
    let t = 0;
    const lease = new WriterLease(memoryKv(), 'w1', 1000, () => t);
    expect(await lease.tryAcquire()).toBe(true);
    t = 2000;
    expect(lease.held).toBe(false);
    expect(await lease.renew()).toBe(true);
    t = 2749;
    expect(lease.held).toBe(true);
    t = 2750;
    expect(lease.held).toBe(false);
  });
});
