/**
 * The gateway's decision waiter checks a record (signature, registered writer) only when a
 * client asks for it, not for every record on `<prefix>.dr.>`; a stray claiming the same WAL seq
 * as the genuine record never hides it. Driven through the subscription's message handler with a
 * counting trust check (the NATS side is covered by the HTTP integration tests).
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/observability/log.js';
import { DecisionWaiter, type WaiterNats } from '../../src/http/waiter.js';
import type { DecisionRecord } from '../../src/protocol/decision-record.js';

const enc = new TextEncoder();
const quiet = createLogger({ level: 'silent' });

function setup(): { w: DecisionWaiter; arrive: (r: object) => void; checked: string[] } {
  const checked: string[] = [];
  const notConnected = (): WaiterNats => ({ nc: undefined } as unknown as WaiterNats);
  const w = new DecisionWaiter(notConnected, quiet, (r: DecisionRecord) => {
    checked.push(r.writer);
    return r.writer === 'genuine';
  });
  const handler = w as unknown as { onRecord(d: Uint8Array): void };
  return { w, arrive: (r) => handler.onRecord(enc.encode(JSON.stringify(r))), checked };
}

describe('decision waiter', () => {
  it('Given records nobody waits for, Then none is checked; a later wait checks the one it answers with', async () => {
    const { w, arrive, checked } = setup();
    for (let seq = 1; seq <= 50; seq++) arrive({ wal_seq: seq, writer: 'genuine' });
    expect(checked).toEqual([]);
    const r = await w.wait(7, 1000, false);
    expect(r?.wal_seq).toBe(7);
    expect(checked).toEqual(['genuine']);
  });

  it('Given a waiter, Then the record is checked on arrival and answers it; a stray does not', async () => {
    const { w, arrive, checked } = setup();
    const waiting = w.wait(3, 2000, false);
    arrive({ wal_seq: 3, writer: 'stray' });
    arrive({ wal_seq: 3, writer: 'genuine' });
    expect((await waiting)?.writer).toBe('genuine');
    expect(checked).toEqual(['stray', 'genuine']);
  });

  it('Given strays claiming the same WAL seq before and after the genuine record, Then a later wait still finds the genuine one', async () => {
    const { w, arrive } = setup();
    arrive({ wal_seq: 9, writer: 'stray' });
    arrive({ wal_seq: 9, writer: 'genuine' });
    for (let i = 0; i < 20; i++) arrive({ wal_seq: 9, writer: 'stray' });
    expect((await w.wait(9, 1000, false))?.writer).toBe('genuine');
  });

  it('Given only strays for a WAL seq, Then a wait answers nothing (not a stray)', async () => {
    const { w, arrive } = setup();
    arrive({ wal_seq: 4, writer: 'stray' });
    // Not connected: the final direct get cannot run either, so the wait ends empty.
    expect(await w.wait(4, 50, false)).toBeNull();
  });
});
