/**
 * The chaos suite's writers-by-bucket pieces that need no processes: the per-chain zombie fence
 * (a paused ex-holder's record may land on a chain before another member stored one there, never
 * after), the one-writer fence it leaves unchanged, the lease cover the convergence check uses,
 * and the `--writers` option in validation and the reproduce line.
 */
import { describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import type { CheckInput, FenceWindow } from '../../src/proving/chaos/check.js';
import { BUCKET_LEASES, leaseCover } from '../../src/proving/chaos/chaos-run.js';
import { RecordChecks, Tally } from '../../src/proving/chaos/record-checks.js';
import { reproduceLine } from '../../src/proving/chaos/report.js';
import { chaosOptions, validateChaosOptions } from '../../src/proving/chaos/run.js';
import type { WritersMode } from '../../src/proving/chaos/types.js';
import { WindowWitness } from '../../src/proving/chaos/windows.js';
import type { DecisionRecord } from '../../src/protocol/decision-record.js';
import { SwooshError } from '../../src/protocol/errors.js';
import type { InstanceStatus } from '../../src/server/process/instance.js';
import type { WalMessage } from '../../src/protocol/wal-message.js';
import { castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';

const core = createCore(nodeHasher);
const genesis = parseFixtureGenesis(castGenesis(), core);
const ZOMBIE = 'signer-zombie';
const OTHER = 'signer-other';

/** One stored record: WAL seq, DECISIONS seq, chain, chain index, writer. */
interface Stored {
  readonly wal: number;
  readonly dr: number;
  readonly chain: string;
  readonly index: number;
  readonly writer: string;
}

/** Run the per-record checks over `records` (in WAL order) and return the zombie violations. */
function fence(writers: WritersMode, windows: readonly FenceWindow[], records: readonly Stored[]): {
  zombies: { seq: number | null; detail: string }[];
  checked: number;
} {
  const tally = new Tally();
  const c = {
    genesis, told: new Map(), observed: new Map(), samples: [], finalStatuses: new Map(),
    producerHead: '', fenceWindows: windows, writers,
  } as unknown as CheckInput;
  const witness = new WindowWitness(core.chart, genesis.config.window_policy, (k) => tally.count(k));
  const checks = new RecordChecks(c, tally, witness, new Map());
  for (const r of records) {
    const rec = {
      outcome: 'duplicate', transition: null, code: null, project: r.chain, chain_index: r.index,
      wal_seq: r.wal, writer: r.writer, applied: [],
    } as unknown as DecisionRecord;
    const msg: WalMessage = { seq: r.wal, subject: 'x', data: new Uint8Array(), logMs: 0 };
    checks.check(msg, r.dr, new Uint8Array(), rec);
  }
  const zombies = tally.close().filter((v) => v.kind === 'zombie_record');
  return { zombies: zombies.map((v) => ({ seq: v.seq, detail: v.detail })), checked: tally.counts['zombie_fence'] ?? 0 };
}

const window: FenceWindow = { signer: ZOMBIE, name: 'swoosh-0', fromSeq: 10, toSeq: 20 };

describe('zombie fence by chain (writers by bucket)', () => {
  it('Given a paused holder whose in-flight record lands before the new holder stores on that chain, Then no violation', () => {
    const { zombies, checked } = fence('buckets', [window], [
      { wal: 40, dr: 11, chain: 'p1', index: 5, writer: ZOMBIE },
      { wal: 41, dr: 12, chain: 'p1', index: 6, writer: OTHER },
      { wal: 42, dr: 13, chain: 'p1', index: 7, writer: OTHER },
    ]);
    expect(zombies).toEqual([]);
    expect(checked).toBe(3);
  });

  it('Given another member stored a record on a chain inside the window, When the paused holder\'s record follows it there, Then zombie_record at its WAL seq', () => {
    const { zombies } = fence('buckets', [window], [
      { wal: 40, dr: 12, chain: 'p1', index: 6, writer: OTHER },
      // Records of different chains stored out of WAL order: the DECISIONS seq decides.
      { wal: 41, dr: 11, chain: 'p2', index: 3, writer: ZOMBIE },
      { wal: 43, dr: 14, chain: 'p1', index: 7, writer: ZOMBIE },
    ]);
    expect(zombies.map((z) => z.seq)).toEqual([43]);
    expect(zombies[0]?.detail).toContain('p1 record 7 (DECISIONS seq 14)');
  });

  it('Given the paused holder writes a chain again after the window (its leases held anew), or before it, Then no violation', () => {
    const { zombies, checked } = fence('buckets', [window], [
      { wal: 30, dr: 9, chain: 'p1', index: 4, writer: ZOMBIE },
      { wal: 40, dr: 12, chain: 'p1', index: 5, writer: OTHER },
      { wal: 50, dr: 21, chain: 'p1', index: 6, writer: ZOMBIE },
    ]);
    expect(zombies).toEqual([]);
    expect(checked).toBe(1);
  });

  it('Given another member\'s record on one chain, When the paused holder stores on another chain, Then no violation', () => {
    const { zombies } = fence('buckets', [window], [
      { wal: 40, dr: 11, chain: 'p1', index: 5, writer: OTHER },
      { wal: 41, dr: 12, chain: '_deployment', index: 9, writer: ZOMBIE },
    ]);
    expect(zombies).toEqual([]);
  });
});

describe('zombie fence with one writer (lease)', () => {
  it('Given a window of WAL seqs, When the stopped writer\'s signature is on a record inside it, Then zombie_record, whatever the chain', () => {
    const { zombies } = fence('lease', [window], [
      { wal: 10, dr: 10, chain: 'p1', index: 1, writer: ZOMBIE },
      { wal: 11, dr: 11, chain: 'p1', index: 2, writer: ZOMBIE },
      { wal: 12, dr: 12, chain: 'p2', index: 1, writer: OTHER },
      { wal: 21, dr: 21, chain: 'p2', index: 2, writer: ZOMBIE },
    ]);
    expect(zombies.map((z) => z.seq)).toEqual([11]);
  });
});

describe('lease cover (writers by bucket convergence)', () => {
  const st = (held: number[]): InstanceStatus => ({ buckets_held: held }) as unknown as InstanceStatus;
  const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

  it('Given members holding every bucket and the deployment lease once, Then all and exact', () => {
    expect(BUCKET_LEASES).toBe(65);
    expect(leaseCover([st(range(0, 30)), st(range(30, 65)), st([])])).toEqual({ all: true, exact: true });
  });

  it('Given a lease held by none, or one reported by two members, Then not exact', () => {
    expect(leaseCover([st(range(0, 64))])).toEqual({ all: false, exact: false });
    expect(leaseCover([st(range(0, 40)), st(range(39, 65))])).toEqual({ all: true, exact: false });
    expect(leaseCover([])).toEqual({ all: false, exact: false });
  });
});

describe('--writers', () => {
  it('Given writers by bucket, Then the reproduce line names it; the default lease is left out', () => {
    expect(reproduceLine(chaosOptions({ seed: 3, writers: 'buckets' }))).toContain('--writers buckets');
    expect(reproduceLine(chaosOptions({ seed: 3 }))).not.toContain('--writers');
    expect(chaosOptions({ seed: 3 }).writers).toBe('lease');
  });

  it('Given an unknown writers mode, Then invalid_config naming the field', () => {
    const o = chaosOptions({ seed: 3, writers: 'many' as WritersMode });
    expect(() => validateChaosOptions(o)).toThrow(SwooshError);
    expect(() => validateChaosOptions(o)).toThrow(/writers/);
  });
});
