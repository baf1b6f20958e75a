/** The gateway's token buckets (src/http/rate-limit.ts): refill, burst, retry time, parsing. */
import { describe, expect, it } from 'vitest';
import { RateLimiter, parseRate } from '../../src/http/rate-limit.js';

describe('rate limits', () => {
  it('Given 2/s with a burst of 3, Then three pass at once, the fourth waits 1 s, and half a second refills one', () => {
    let now = 0;
    const l = new RateLimiter({ perSecond: 2, burst: 3 }, () => now);
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 0]);
    expect(l.take('a')).toBe(1);
    expect(l.take('b')).toBe(0); // keys are independent
    now += 499;
    expect(l.take('a')).toBe(1);
    now += 501;
    expect(l.take('a')).toBe(0);
    now += 60_000; // never more than the burst
    expect([l.take('a'), l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 0, 1]);
  });

  it('Given a cost, Then it takes that many tokens, at most the burst, and waits for all of them', () => {
    let now = 0;
    const l = new RateLimiter({ perSecond: 1, burst: 6 }, () => now);
    expect(l.take('a', 5)).toBe(0);
    expect(l.take('a', 5)).toBe(4); // one left, four more to come at 1/s
    expect(l.take('a')).toBe(0);
    now += 4_000;
    expect(l.take('a', 5)).toBe(1);
    const small = new RateLimiter({ perSecond: 1, burst: 2 }, () => 0);
    expect(small.take('k', 5)).toBe(0); // clamped to the burst: never refused for good
    expect(small.take('k')).toBe(1);
  });

  it('Given a slow rate, Then the wait is rounded up to whole seconds; 0/s is no limit', () => {
    const l = new RateLimiter({ perSecond: 0.1, burst: 1 }, () => 0);
    expect(l.take('k')).toBe(0);
    expect(l.take('k')).toBe(10);
    const off = new RateLimiter({ perSecond: 0, burst: 0 }, () => 0);
    for (let i = 0; i < 100; i++) expect(off.take('k')).toBe(0);
  });

  it('Given rate texts, Then per second and burst; bad ones name the setting', () => {
    expect(parseRate('200:400', 'x')).toEqual({ perSecond: 200, burst: 400 });
    expect(parseRate('50', 'x')).toEqual({ perSecond: 50, burst: 100 });
    expect(parseRate('0', 'x')).toEqual({ perSecond: 0, burst: 1 });
    expect(() => parseRate('fast', '--http-rate-signer')).toThrow('--http-rate-signer: expected <per second>[:<burst>], e.g. 200:400, or 0 for no limit');
    expect(() => parseRate('5:0', 'x')).toThrow('x: the burst must be at least 1');
  });
});
