/**
 * The chaos suite's own pieces that need no processes: the BACKBEAT window witness (it must
 * pass a real log and catch an acceptance outside a window, an unjustified window rejection
 * and a stale beat frame), option validation with the field named, the reproduce line, and
 * the NATS_URL list handling of src/server/process/nats-urls.ts.
 */
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { reproduceLine } from '../../src/proving/chaos/report.js';
import { chaosOptions, effectiveRates, validateChaosOptions } from '../../src/proving/chaos/run.js';
import { CLUSTER_PROCESS_FAULTS, PROCESS_FAULTS, type Violation } from '../../src/proving/chaos/types.js';
import { WindowWitness } from '../../src/proving/chaos/windows.js';
import { drContent, type DecisionRecord } from '../../src/protocol/decision-record.js';
import { SwooshError } from '../../src/protocol/errors.js';
import { firstReachable, parseNatsUrls } from '../../src/server/process/nats-urls.js';
import { pickFreePort } from '../../src/proving/harness/nats-server.js';
import { CHAOS, NO_FAULTS, generateStream } from '../../src/proving/sim/stream.js';

const core = createCore(nodeHasher);
const stream = generateStream(20261122, 1500, { ...NO_FAULTS, tempo: 0.05, missed_beat: 0.05, control: 0.01, advance: 0.005 });
const genesis = core.parseGenesis(stream.genesis);
if (!genesis.ok) throw new Error(genesis.error.message);
const policy = genesis.value.config.window_policy;

interface Logged {
  readonly seq: number;
  readonly rec: DecisionRecord;
  readonly body: unknown;
  readonly logMs: number;
}

/** The stream's decision records and WAL bodies, as the chaos check reads them. */
const log: Logged[] = stream.world.results.map((r, i) => {
  const e = stream.entries[i];
  if (e === undefined) throw new Error('results and entries differ');
  const step = { ...r, chain: 'default', deployment: r.state, created: [] };
  const content = drContent('test', { seq: e.seq, wal_entry_hash: '' }, step, { index: i + 1, prevDrHash: '' });
  const rec = { ...content, writer: '', signature: '' } as DecisionRecord;
  return { seq: e.seq, rec, body: e.type === 'signed' ? (JSON.parse(e.body) as unknown) : null, logMs: e.log_ms };
});

function witness(records: readonly Logged[]): { violations: Violation[]; counts: Record<string, number>; w: WindowWitness } {
  const counts: Record<string, number> = {};
  const w = new WindowWitness(core.chart, policy, (k) => {
    counts[k] = (counts[k] ?? 0) + 1;
  });
  const violations: Violation[] = [];
  for (const l of records) {
    violations.push(...w.observe(l.seq, l.rec, l.rec.outcome === 'fact' && l.rec.transition === 'backbeat' ? l.body : null, l.logMs));
    if (l.rec.outcome === 'accepted') w.applied(l.rec.applied);
  }
  return { violations, counts, w };
}

function replaced(seq: number, f: (r: DecisionRecord) => DecisionRecord): Logged[] {
  return log.map((l) => (l.seq === seq ? { ...l, rec: f(l.rec) } : l));
}

describe('WindowWitness (BACKBEAT windows re-derived from the log)', () => {
  it('Given a real log with tempo changes and missed beats, Then no violation, and it saw frames, gaps, tempo changes, acceptances and rejections', () => {
    const { violations, counts, w } = witness(log);
    expect(violations).toEqual([]);
    expect(counts['window_witness'] ?? 0).toBeGreaterThan(20);
    expect(counts['window_rejection'] ?? 0).toBeGreaterThan(0);
    expect(w.summary.tempo_changes).toBeGreaterThan(0);
    expect(w.summary.beat_gaps).toBeGreaterThan(0);
    expect(w.summary.beats_skipped).toBeGreaterThanOrEqual(w.summary.beat_gaps);
  });

  it('Given a proposal the window guard rejected, When a record claims it was accepted, Then window_violation at its seq', () => {
    const victim = log.find((l) => l.rec.outcome === 'rejected' && l.rec.failing_guard === 'window');
    expect(victim).toBeDefined();
    const seq = victim?.seq ?? 0;
    const { violations } = witness(replaced(seq, (r) => ({ ...r, outcome: 'accepted', code: null, failing_guard: null, applied: [r.transition ?? ''] })));
    expect(violations.map((v) => [v.kind, v.seq])).toEqual([['window_violation', seq]]);
  });

  it('Given an accepted windowed proposal, When a record claims the window guard rejected it, Then window_rejection_unjustified', () => {
    const victim = log.find((l) => l.rec.outcome === 'accepted' && l.rec.transition === 'Execution_ApprovalsThreshold');
    expect(victim).toBeDefined();
    const seq = victim?.seq ?? 0;
    const { violations } = witness(replaced(seq, (r) => ({ ...r, outcome: 'rejected', code: 'window_closed', failing_guard: 'window', applied: [] })));
    expect(violations.map((v) => [v.kind, v.seq])).toEqual([['window_rejection_unjustified', seq]]);
  });

  it('Given a recorded beat frame, When its beat index is not after the previous one, Then beat_not_after', () => {
    const frames = log.filter((l) => l.rec.outcome === 'fact' && l.rec.transition === 'backbeat');
    const second = frames[1];
    expect(second).toBeDefined();
    const seq = second?.seq ?? 0;
    const body = second?.body as { payload: Record<string, unknown> };
    const stale = log.map((l) => (l.seq === seq ? { ...l, body: { ...body, payload: { ...body.payload, beat_index: 0 } } } : l));
    const { violations } = witness(stale);
    expect(violations.filter((v) => v.kind === 'beat_not_after').map((v) => v.seq)).toEqual([seq]);
  });
});

describe('chaos options', () => {
  const caught = (f: () => void): SwooshError => {
    try {
      f();
    } catch (err) {
      if (err instanceof SwooshError) return err;
      throw err;
    }
    throw new Error('expected a SwooshError');
  };

  it('Given rates adding up to more than 1, a rate out of range, or a fault the mode does not have, Then invalid_config naming the field', () => {
    const tooMuch = caught(() => validateChaosOptions(chaosOptions({ seed: 1, rates: { ...CHAOS, dup: 0.5, reorder: 0.5, license: 0.2 } })));
    expect(tooMuch.code).toBe('invalid_config');
    expect(tooMuch.message).toMatch(/^rates: stream fault rates add up to 1\.\d+/);
    const negative = caught(() => validateChaosOptions(chaosOptions({ seed: 1, rates: { ...CHAOS, tempo: -0.1 } })));
    expect(negative.message).toMatch(/^rates\.tempo: expected 0\.\.1/);
    const single = caught(() => validateChaosOptions(chaosOptions({ seed: 1, cluster: true, processFaults: PROCESS_FAULTS })));
    expect(single.message).toMatch(/^processFaults: nats_restart is not a fault of a cluster run/);
    const cluster = caught(() => validateChaosOptions(chaosOptions({ seed: 1, processFaults: CLUSTER_PROCESS_FAULTS })));
    expect(cluster.message).toMatch(/^processFaults: nats_node_restart is not a fault of a single-server run/);
    expect(() => validateChaosOptions(chaosOptions({ seed: 1, cluster: true, processFaults: CLUSTER_PROCESS_FAULTS }))).not.toThrow();
  });

  it('Given the disrupt shorthand and named rates, Then each kind gets its own rate or its share of disrupt', () => {
    const r = effectiveRates({ ...CHAOS, disrupt: 0.1, tempo: 0.02 });
    expect(r['tempo']).toBe(0.02);
    expect(r['license']).toBeCloseTo(0.01, 10);
    expect(r['control']).toBeCloseTo(0.04, 10);
    expect(effectiveRates(NO_FAULTS)['missed_beat']).toBe(0);
  });

  it('Given a cluster run with named rates, Then the reproduce line has --cluster, the named rates and the cluster fault list', () => {
    const line = reproduceLine(chaosOptions({
      seed: 9, transitions: 300, cluster: true, faultCount: 4, processFaults: CLUSTER_PROCESS_FAULTS.filter((k) => k !== 'writer_stop'),
      rates: { ...CHAOS, advance: 0, license: 0.02, missed_beat: 0.03 }, licenseGraceMs: 2000,
    }));
    expect(line).toBe('swoosh chaos --seed 9 --transitions 300 --replicas 3 --cluster --faults 4 --rate 100 --disable writer_stop ' +
      '--stream-rates license=0.02,missed_beat=0.03 --license-grace-ms 2000');
  });

  it('Given a run over 20 projects, Then the reproduce line names them; the default count is left out', () => {
    expect(reproduceLine(chaosOptions({ seed: 1, projects: 20 }))).toMatch(/ --projects 20$/);
    expect(reproduceLine(chaosOptions({ seed: 1 }))).not.toMatch(/--projects/);
  });
});

describe('NATS_URL lists', () => {
  it('Given comma-separated URLs, Then each is kept; a bad one is invalid_config naming NATS_URL', () => {
    expect(parseNatsUrls('nats://127.0.0.1:1, nats://127.0.0.1:2,')).toEqual(['nats://127.0.0.1:1', 'nats://127.0.0.1:2']);
    expect(parseNatsUrls('127.0.0.1:5')).toEqual(['127.0.0.1:5']);
    for (const bad of ['', ' , ', 'nats://:99999']) {
      let err: unknown = null;
      try {
        parseNatsUrls(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(SwooshError);
      expect((err as SwooshError).code).toBe('invalid_config');
      expect((err as SwooshError).message).toMatch(/^NATS_URL: /);
    }
  });

  it('Given a list whose first server is down, Then firstReachable picks the first that accepts a connection', async () => {
    const down = await pickFreePort();
    const srv: Server = createServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen({ host: '127.0.0.1', port: 0 }, r));
    const addr = srv.address();
    const up = typeof addr === 'object' && addr !== null ? addr.port : 0;
    try {
      const list = [`nats://127.0.0.1:${down}`, `nats://127.0.0.1:${up}`];
      expect(await firstReachable(list, 500)).toBe(`nats://127.0.0.1:${up}`);
      expect(await firstReachable([`nats://127.0.0.1:${down}`], 500)).toBe(`nats://127.0.0.1:${down}`);
      expect(await firstReachable([`nats://127.0.0.1:${down}`, `nats://127.0.0.1:${down}`], 500)).toBe(`nats://127.0.0.1:${down}`);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
