/**
 * `swoosh bench`'s pure parts: its options parse (and bad values are refused naming the flag),
 * the report formats, the RSS slope, and the fast workload the long runs use is valid — every
 * approval it generates is accepted by the real reducer, with a distinct idem key. No figures
 * are asserted: benchmarks print figures, tests do not time anything.
 */
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { createCore, type WalEntry } from '../../src/core/index.js';
import { jcs } from '../../src/core/encoding/json.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { createNodeVerifier } from '../../src/crypto/verify.js';
import { registerBench, type BenchFlags } from '../../src/cli/commands/bench.js';
import { FULL, QUICK, formatReport, type BenchOptions, type BenchReport } from '../../src/proving/bench/run.js';
import { secondHalfSlope } from '../../src/proving/bench/memory.js';
import { approvalStream, bulkSigners, genesisOfSize, type Walked } from '../../src/proving/bench/workload.js';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import { entryFromRaw } from '../../src/protocol/entry.js';
import { NO_FAULTS, streamSteps } from '../../src/proving/sim/stream.js';
import { World, castGenesis } from '../../src/proving/sim/world.js';

/** Parse `argv` after `swoosh bench`; returns the options the command would run with, or the error text. */
async function parse(argv: string[]): Promise<{ options?: BenchOptions; flags?: BenchFlags; error?: string }> {
  const program = new Command().name('swoosh').exitOverride();
  let err = '';
  program.configureOutput({ writeErr: (s) => { err += s; }, writeOut: () => undefined });
  let got: { options: BenchOptions; flags: BenchFlags } | undefined;
  registerBench(program, async (options, flags) => {
    got = { options, flags };
    await Promise.resolve();
  });
  for (const c of program.commands) {
    c.exitOverride();
    c.configureOutput({ writeErr: (s) => { err += s; }, writeOut: () => undefined });
  }
  try {
    await program.parseAsync(['node', 'swoosh', 'bench', ...argv]);
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    return { error: err };
  }
  return got === undefined ? {} : { options: got.options, flags: got.flags };
}

describe('swoosh bench options', () => {
  it('takes the full defaults, the quick ones with --quick, and each flag over either', async () => {
    const full = await parse([]);
    expect(full.options?.recoveryEntries).toBe(FULL.recoveryEntries);
    expect(full.options?.memoryDecisions).toBe(FULL.memoryDecisions);
    expect(full.options?.scaleDecisions).toBe(FULL.scaleDecisions);
    expect([...(full.options?.sections ?? [])]).toEqual(['ceilings', 'e2e', 'recovery', 'http', 'memory', 'scale']);
    const quick = await parse(['--quick']);
    expect(quick.options?.recoveryEntries).toBe(QUICK.recoveryEntries);
    expect(quick.options?.memoryDecisions).toBe(QUICK.memoryDecisions);
    const set = await parse(['--quick', '--recovery-entries', '100000', '--memory-decisions', '500000', '--scale-decisions', '3000',
      '--snapshot-every', '500', '--only', 'recovery, memory', '--memory-node-options', ' --max-old-space-size=160  --trace-gc', '--json']);
    expect(set.options).toMatchObject({
      recoveryEntries: 100_000, memoryDecisions: 500_000, scaleDecisions: 3000, snapshotEvery: 500, decisions: QUICK.decisions,
      memoryNodeOptions: '--max-old-space-size=160 --trace-gc',
    });
    expect([...(set.options?.sections ?? [])]).toEqual(['recovery', 'memory']);
    expect(set.flags?.json).toBe(true);
  });

  it.each([
    [['--recovery-entries', 'lots'], "'--recovery-entries <n>'", 'expected a positive integer'],
    [['--recovery-entries', '0'], "'--recovery-entries <n>'", 'expected a positive integer'],
    [['--recovery-entries', '50'], "'--recovery-entries <n>'", 'expected an integer ≥ 200'],
    [['--memory-decisions', '1.5'], "'--memory-decisions <n>'", 'expected a positive integer'],
    [['--memory-decisions', '-3'], "'--memory-decisions <n>'", 'expected a positive integer'],
    [['--scale-decisions', '10'], "'--scale-decisions <n>'", 'expected an integer ≥ 200'],
    [['--snapshot-every', 'x'], "'--snapshot-every <n>'", 'expected a positive integer'],
    [['--only', 'recovery,speed'], "'--only <sections>'", 'unknown section "speed"'],
    [['--only', ','], "'--only <sections>'", 'expected some of'],
    [['--memory-node-options', 'rm -rf'], "'--memory-node-options <flags>'", '"rm" is not one'],
  ])('refuses %j naming the flag', async (argv, flag, why) => {
    const r = await parse(argv);
    expect(r.options).toBeUndefined();
    expect(r.error).toContain(flag);
    expect(r.error).toContain(why);
  });
});

describe('swoosh bench report', () => {
  const report: BenchReport = {
    params: { node: 'v20', cores_available: 2, cpu: 'cpu', nats_server: '2.9', nats_config: 'c', http_clients: 1, http_seconds: 1 },
    recovery: {
      wal_entries: 100_000, snapshot_every: 1000,
      build: { walk_entries: 20, approvals: 99_780, beat_facts: 200, seconds: 80, decisions_per_s: 1250, snapshots: 99, state_bytes: 10_400_000, idem_entries: 99_800 },
      in_process: { start_ms: 1500, to_writer_ms: 2600, snapshot_seq: 99_500, replayed: 500, last_recovery_ms: 1000 },
      child: { to_ready_ms: 2500, to_writer_ms: 3600 },
      audit: { scope: 'full', entries: 100_000, ms: 70_000, entries_per_s: 1429, ok: true, outcomes: { accepted: 99_800, fact: 200 } },
    },
    memory: {
      decisions: 500_000, approvals: 499_000, beat_facts: 1000, idem_max: 100_000, snapshot_every: 1000, node_options: '--max-old-space-size=160', seconds: 400, decisions_per_s: 1250,
      sample_every_ms: 1000, samples: 400, rss_mb_first: 110, rss_mb_peak: 280, rss_mb_hwm: 290, rss_mb_last: 250,
      slope_mb_per_100k_second_half: 0.4, series: [],
    },
    scale: {
      decisions: 10_000, snapshot_every: 1000, ratio: 0.6,
      rows: [
        { label: '10KB', genesis_state_bytes: 7000, end_state_bytes: 1_000_000, identities: 50, decisions: 10_000, seconds: 5, decisions_per_s: 2000, outcomes_accepted: 9900, snapshots: 10, snapshot_bytes: 900_000, snapshot_encoding: 'inline', snapshot_write_ms: 20, snapshot_load_ms: 20, snapshot_share: 0.04, prepare_seconds: 1 },
        { label: '10MB', genesis_state_bytes: 9_400_000, end_state_bytes: 10_400_000, identities: 90_000, decisions: 10_000, seconds: 8.3, decisions_per_s: 1200, outcomes_accepted: 9900, snapshots: 10, snapshot_bytes: 10_300_000, snapshot_encoding: 'chunked', snapshot_write_ms: 260, snapshot_load_ms: 300, snapshot_share: 0.31, prepare_seconds: 6 },
      ],
    },
    targets: {},
  };

  it('prints each new section with its figures and the verdict against its target', () => {
    const text = formatReport(report);
    expect(text).toContain('recovery (WAL 100,000 entries');
    expect(text).toContain('missed by 600 ms (1.30×)');
    expect(text).toContain('audit: full replay from genesis');
    expect(text).toContain('110/280/250 MB');
    expect(text).toContain('target ≤ 300 MB: met');
    expect(text).toContain('0.4 MB');
    expect(text).toContain('NODE_OPTIONS --max-old-space-size=160');
    expect(text).toContain('ratio 10MB / 10KB');
    // Each section's heading comes before its rows.
    expect(text.indexOf('recovery (WAL')).toBeLessThan(text.indexOf('in process: new Instance'));
    expect(text.indexOf('memory: the writer alone')).toBeLessThan(text.indexOf('RSS first / peak / last'));
  });

  it('measures the RSS slope over the second half of the decisions only', () => {
    const samples = Array.from({ length: 11 }, (_, i) => ({ t_s: i, decided: i * 10_000, rss_mb: i < 5 ? 100 + i * 20 : 200 + (i - 5) * 0.5 }));
    expect(secondHalfSlope(samples, 100_000)).toBeCloseTo(5, 5);
    expect(secondHalfSlope(samples.slice(0, 1), 100_000)).toBe(0);
  });
});

describe('the long runs\' workload', () => {
  it('registers valid, distinct keys and sizes the state as asked', () => {
    const keys = bulkSigners(50);
    expect(new Set(keys).size).toBe(50);
    const g = genesisOfSize(100_000);
    const core = createCore(nodeHasher);
    const parsed = core.parseGenesis(g);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const bytes = jcs(core.genesis(parsed.value)).length;
    expect(bytes).toBeGreaterThan(80_000);
    expect(bytes).toBeLessThan(120_000);
  });

  it('walks to EXECUTION.REVIEW, then every approval is accepted with its own idem key', () => {
    // The walk offline (the bench does it closed loop against a real WAL; the planner is the same).
    const w = new World(castGenesis(), undefined, { baseMs: Date.now() });
    const steps = streamSteps(w, 20251019, 2000, NO_FAULTS);
    let walked = 0;
    let next = steps.next(null);
    while (next.done !== true && !(w.state.control.top === 'EXECUTION' && w.state.execution.state === 'REVIEW')) {
      walked += 1;
      next = steps.next(next.value);
    }
    expect(w.state.execution.state).toBe('REVIEW');
    const start: Walked = { world: w, entries: walked };
    const counts = { proposals: 0, facts: 0 };
    const verifier = createNodeVerifier();
    const core = w.core;
    let state = w.state;
    let seq = w.seq;
    const outcomes: Record<string, number> = {};
    for (const out of approvalStream(start, 1200, { prefix: 'p', counts, beatEvery: 500 })) {
      const env = decodeEnvelope(out.data);
      if (!env.ok) throw new Error(env.message);
      seq += 1;
      const [, family, name] = out.subject.split('.');
      const entry: WalEntry = entryFromRaw({ seq, logMs: Date.now(), channel: family === 'facts' ? 'fact' : 'proposal', name: name ?? '', body: env.body, sig: env.sig }, verifier);
      const r = core.step(state, entry);
      state = r.state;
      outcomes[r.decision.outcome] = (outcomes[r.decision.outcome] ?? 0) + 1;
    }
    expect(counts).toEqual({ proposals: 1197, facts: 3 });
    expect(outcomes).toEqual({ accepted: 1197, fact: 3 });
    expect(state.idem.count - w.state.idem.count).toBe(1197);
  });
});
