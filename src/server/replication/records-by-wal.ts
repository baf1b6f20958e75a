/**
 * Stored decision records matched to WAL entries by the `wal_seq` they name, for readers that
 * walk the WAL in order (the audit, the chaos checks). With one writer the record of entry n is
 * at DECISIONS seq n; with writers by bucket, records of different chains are stored in the
 * order their holders published them, close to WAL order but not in it. Records are read
 * ahead in DECISIONS order and kept until the walk reaches their entry.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { decodeDr, type DecisionRecord } from '../../protocol/decision-record.js';
import { StreamReader } from '../../protocol/batch-reader.js';

/** A stored record: its DECISIONS seq, its bytes and its decoded form. */
export interface StoredRecord {
  readonly seq: number;
  readonly data: Uint8Array;
  readonly rec: DecisionRecord;
}

/** Reads DECISIONS ahead of a WAL walk and hands each entry its record. */
export class RecordsByWal {
  private readonly drs: StreamReader;
  private readonly byWal = new Map<number, StoredRecord>();
  private drRead = 0;

  /**
   * @param drLast DECISIONS last seq when the walk began (nothing past it is read)
   * @param walLast WAL last seq when the walk began (a record naming a later entry is a stray)
   * @param onStray a message that is not a record, names no entry of the walk, or names an
   *   entry that already has its record
   */
  constructor(
    js: JetStreamClient,
    decisionsName: string,
    private readonly drLast: number,
    private readonly walLast: number,
    private readonly onStray: (seq: number, detail: string) => void,
  ) {
    this.drs = new StreamReader(js, decisionsName, 1);
  }

  /**
   * The record of WAL entry `walSeq` (entries are asked for in order), or null when DECISIONS
   * (up to `drLast`) holds none.
   */
  async take(walSeq: number): Promise<StoredRecord | null> {
    while (!this.byWal.has(walSeq) && this.drRead < this.drLast) {
      const batch = await this.drs.read(512, 10_000);
      if (batch.length === 0) {
        throw new Error(`DECISIONS stopped at ${this.drRead} before ${this.drLast}`);
      }
      for (const m of batch) {
        if (m.seq > this.drLast) break;
        this.drRead = m.seq;
        let rec: DecisionRecord;
        try {
          rec = decodeDr(m.data);
        } catch (err) {
          this.onStray(m.seq, `DECISIONS seq ${m.seq} is not a record: ${(err as Error).message}`);
          continue;
        }
        const w = (rec as { wal_seq?: unknown }).wal_seq;
        if (typeof w !== 'number' || !Number.isSafeInteger(w) || w < walSeq || w > this.walLast ||
          this.byWal.has(w)) {
          this.onStray(m.seq, `DECISIONS seq ${m.seq} names WAL seq ${String(w)}, which has ` +
            'no entry or already has its record');
          continue;
        }
        this.byWal.set(w, { seq: m.seq, data: m.data, rec });
      }
    }
    const hit = this.byWal.get(walSeq) ?? null;
    this.byWal.delete(walSeq);
    return hit;
  }

  /** Stop reading. */
  async close(): Promise<void> {
    await this.drs.close();
  }
}
