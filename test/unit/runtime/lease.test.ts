/**
 * The writer lease's own clock: `held` turns false once the last successful renewal was sent
 * more than VALID_FRACTION of the TTL ago, so a writer resumed after a pause stops publishing
 * before its next renewal tells it anything. (The KV semantics are covered by the
 * integration tests against a real server; here a minimal in-memory KV stands in.)
 */
import type { KV } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { VALID_FRACTION, WriterLease } from '../../../src/server/replication/lease.js';

function memoryKv(): KV {
  let rev = 0;
  return {
    create: () => Promise.resolve(++rev),
    update: (_k: string, _v: Uint8Array, last: number) => (last === rev ? Promise.resolve(++rev) : Promise.reject(new Error('wrong last sequence'))),
  } as unknown as KV;
}

describe('WriterLease validity in time', () => {
  it('Given a lease taken at t=0 with TTL 1,000 ms, Then held until 750 ms, renewals extend it, and a pause past it ends it', async () => {
    let t = 0;
    const lease = new WriterLease(memoryKv(), 'w1', 1000, () => t);
    expect(lease.held).toBe(false);
    expect(await lease.tryAcquire()).toBe(true);
    t = 1000 * VALID_FRACTION - 1;
    expect(lease.held).toBe(true);
    expect(await lease.renew()).toBe(true);
    t += 700;
    expect(lease.held, 'renewed 700 ms ago').toBe(true);
    t += 2000; // SIGSTOP … SIGCONT
    expect(lease.held, 'the last renewal is older than the trusted share of the TTL').toBe(false);
    expect(await lease.renew()).toBe(true); // nobody else wrote: the next renewal restores it
    expect(lease.held).toBe(true);
  });
});
