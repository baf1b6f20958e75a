/**
 * A follower tails DECISIONS and the WAL in lockstep, recomputes every decision and compares
 * its record content byte for byte with the stored one. A difference is a divergence: the
 * alarm goes up (log, metric, health degraded) and the follower stops applying, because its
 * computation can no longer be trusted; it stays at, and serves, the last state it agreed with.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { decodeDr, verifyDrSignature, writerProblem } from '../../protocol/decision-record.js';
import { SwooshError } from '../../protocol/errors.js';
import { StreamReader } from '../../protocol/batch-reader.js';
import { Replica, ReplayMismatchError, type Decided } from './replica.js';

/** What a follower needs. */
export interface FollowerDeps {
  readonly js: JetStreamClient;
  readonly replica: Replica;
  readonly walName: string;
  readonly decisionsName: string;
  readonly batchMax: number;
  readonly onChecked: (d: Decided) => void;
  readonly onDivergence: (err: ReplayMismatchError) => void;
}

/** Tails and checks until `keepGoing()` is false or a divergence stops it. */
export class Follower {
  diverged: ReplayMismatchError | null = null;

  constructor(private readonly deps: FollowerDeps) {}

  /** Follow; returns when told to stop or on divergence. */
  async run(keepGoing: () => boolean): Promise<void> {
    const r = this.deps.replica;
    const drs = new StreamReader(this.deps.js, this.deps.decisionsName, r.lastSeq + 1);
    const wal = new StreamReader(this.deps.js, this.deps.walName, r.lastSeq + 1);
    try {
      while (keepGoing() && this.diverged === null) {
        const recs = await drs.read(this.deps.batchMax, 250);
        for (const rec of recs) {
          const msg = await wal.next();
          if (msg.seq !== rec.seq) throw new Error(`WAL gave ${msg.seq} for record ${rec.seq}`);
          const agreed = r.position();
          const d = r.decideNext(msg);
          const stored = decodeDr(rec.data);
          // As recovery does: a record whose signature does not verify is not the writer's.
          if (!verifyDrSignature(stored, r.verifier)) {
            r.restore(agreed);
            throw new SwooshError(
              'dr_signature_invalid',
              `decision record ${rec.seq} has a signature that does not verify for ` +
              `${stored.writer}`,
              false,
            );
          }
          // Signed by a key that was not a writer there: not a record of this deployment.
          const notWriter = writerProblem(d.step.before.identities, stored);
          if (notWriter !== null) {
            r.restore(agreed);
            throw new SwooshError(
              'unknown_writer',
              `decision record ${rec.seq}: ${notWriter}`,
              false,
            );
          }
          try {
            Replica.compare(d, stored);
          } catch (err) {
            if (!(err instanceof ReplayMismatchError)) throw err;
            r.restore(agreed); // keep serving the last state this replica agreed with
            this.diverged = err;
            this.deps.onDivergence(err);
            return;
          }
          this.deps.onChecked(d);
        }
      }
    } finally {
      await drs.close();
      await wal.close();
    }
  }
}
