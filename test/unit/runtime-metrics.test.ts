/**
 * The metrics contract: every series name with its type, and what one decision of each
 * outcome does to the series, read back from the Prometheus text a scrape would see.
 */
import { describe, expect, it } from 'vitest';
import type { Decision, WalSeq } from '../../src/core/model/types.js';
import {
  METRIC_NAMES,
  RETRYABLE_CODES,
  createMetrics,
  type Metrics,
} from '../../src/server/observability/metrics.js';
import { isRejectionCode } from '../../src/core/model/codes.js';

/** A decision with every field null or empty, then the given fields. */
function decision(fields: Partial<Decision>): Decision {
  return {
    seq: 1 as WalSeq, log_ms: 1_700_000_000_000, outcome: 'accepted', channel: 'proposal',
    transition: null, region: null, signer: null, idem_key: null, hlc: null, window_id: null,
    inputs_hash: null, evidence: [], code: null, message: null, failing_guard: null,
    guard_outcomes: [], justification: '', original: null, applied: [], events: [],
    ...fields,
  };
}

const ACCEPTED = decision({
  seq: 1 as WalSeq, outcome: 'accepted', transition: 'Boot_ConfigOk', region: 'boot',
  applied: ['Boot_ConfigOk', 'Boot_Licensed'],
});
const STALE = decision({
  seq: 2 as WalSeq, outcome: 'rejected', transition: 'Lifecycle_AllReady', region: 'lifecycle',
  code: 'stale_state_hash', failing_guard: 'concurrency',
});
const BAD_SIG = decision({
  seq: 3 as WalSeq, outcome: 'rejected', transition: 'Lifecycle_AllReady', region: 'lifecycle',
  code: 'bad_signature', failing_guard: 'signature',
});
const QUARANTINED = decision({
  seq: 4 as WalSeq, outcome: 'quarantined', transition: 'Environment_Installed',
  region: 'environment', code: 'policy_breach', failing_guard: 'policy',
  applied: ['Policy_Quarantine'],
});
const FACT = decision({
  seq: 5 as WalSeq, outcome: 'fact', channel: 'fact', transition: 'license', region: 'facts',
  applied: ['Boot_Licensed'],
});
const DUPLICATE = decision({
  seq: 6 as WalSeq, outcome: 'duplicate', transition: 'Boot_ConfigOk', region: 'boot',
  original: { wal_seq: 1, outcome: 'accepted' },
});
const MALFORMED = decision({
  seq: 7 as WalSeq, outcome: 'rejected', channel: null, code: 'malformed_envelope',
  failing_guard: 'schema',
});

/** The parsed exposition text: `# TYPE` lines and samples keyed `name{a="x",b="y"}`. */
interface Scrape {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: ReadonlyMap<string, number>;
}

function parse(text: string): Scrape {
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type?.[1] !== undefined && type[2] !== undefined) types.set(type[1], type[2]);
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(sample, `sample line: ${line}`).not.toBeNull();
    const [, name = '', labels = '', value = ''] = sample ?? [];
    const sorted = labels === '' ? '' : `{${labels.split(',').sort().join(',')}}`;
    samples.set(`${name}${sorted}`, Number(value));
  }
  return { types, samples };
}

async function scrape(m: Metrics): Promise<Scrape> {
  return parse(await m.metricsText());
}

/** A sample's value; fails the test when the sample is missing. */
function value(s: Scrape, key: string): number {
  const v = s.samples.get(key);
  expect(v, `sample ${key}`).toBeDefined();
  return v ?? Number.NaN;
}

describe('runtime metrics', () => {
  it('Given a fresh instance, Then every contract name has its exact # TYPE line', async () => {
    const text = await createMetrics().metricsText();
    for (const [name, type] of Object.entries(METRIC_NAMES)) {
      expect(text).toContain(`\n# TYPE ${name} ${type}\n`);
    }
    expect(text).toContain('# TYPE swoosh_transition_total counter\n');
    expect(text).toContain('# TYPE swoosh_state_advance_latency_seconds histogram\n');
    expect(text).toContain('# TYPE swoosh_wal_lag_records gauge\n');
    // Default process metrics land in the same registry.
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter\n');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge\n');
  });

  it('Given the contract, Then it lists exactly the twenty-three names, all swoosh_', () => {
    expect(Object.keys(METRIC_NAMES).sort()).toEqual([
      'swoosh_batch_size', 'swoosh_chain_decisions_total', 'swoosh_decisions_total',
      'swoosh_divergences_total',
      'swoosh_fence_rejections_total', 'swoosh_guard_fail_total', 'swoosh_project_residency_total',
      'swoosh_project_snapshots_total', 'swoosh_projects',
      'swoosh_publish_latency_seconds', 'swoosh_quarantine_total', 'swoosh_recovery_time_seconds', 'swoosh_replay_mismatch_total',
      'swoosh_resident_projects', 'swoosh_retry_count', 'swoosh_role', 'swoosh_snapshot_age_seconds', 'swoosh_snapshot_bytes',
      'swoosh_snapshots_total', 'swoosh_state_advance_latency_seconds', 'swoosh_stray_records_total',
      'swoosh_transition_total', 'swoosh_wal_lag_records',
    ]);
  });

  it('Given chain decisions by bucket and a project count, Then both are exposed with bounded labels', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordChainDecision('7');
    m.recordChainDecision('7');
    m.recordChainDecision('deployment');
    m.setProjects(3);
    const text = await m.metricsText();
    expect(text).toMatch(/^swoosh_chain_decisions_total\{bucket="7"\} 2$/m);
    expect(text).toMatch(/^swoosh_chain_decisions_total\{bucket="deployment"\} 1$/m);
    expect(text).toMatch(/^swoosh_projects 3$/m);
  });

  it('Given evictions and loads, Then the residency series count them by event, every event from 0', async () => {
    const m = createMetrics({ defaultMetrics: false });
    expect(await m.metricsText()).toMatch(/^swoosh_project_residency_total\{event="load_failed"\} 0$/m);
    m.recordResidency('evicted');
    m.recordResidency('evicted');
    m.recordResidency('loaded');
    m.setResidentProjects(998);
    const text = await m.metricsText();
    expect(text).toMatch(/^swoosh_project_residency_total\{event="evicted"\} 2$/m);
    expect(text).toMatch(/^swoosh_project_residency_total\{event="loaded"\} 1$/m);
    expect(text).toMatch(/^swoosh_project_residency_total\{event="load_failed"\} 0$/m);
    expect(text).toMatch(/^swoosh_resident_projects 998$/m);
  });

  it('Given the retryable codes, Then each is a catalogued rejection code', () => {
    expect(RETRYABLE_CODES.filter((c) => !isRejectionCode(c))).toEqual([]);
    expect([...RETRYABLE_CODES].sort()).toEqual(['hlc_regression', 'license_degraded',
      'no_window', 'phase_not_allowed', 'stale_state_hash', 'window_closed', 'window_mismatch']);
  });

  it('Given one decision of each outcome, Then each series counts what it should', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const all = [ACCEPTED, STALE, BAD_SIG, QUARANTINED, FACT, DUPLICATE, MALFORMED];
    for (const d of all) m.recordDecision(d, 0.003);
    m.recordDecision(STALE, null);
    const s = await scrape(m);

    expect(value(s, 'swoosh_decisions_total{outcome="accepted"}')).toBe(1);
    expect(value(s, 'swoosh_decisions_total{outcome="rejected"}')).toBe(4);
    expect(value(s, 'swoosh_decisions_total{outcome="quarantined"}')).toBe(1);
    expect(value(s, 'swoosh_decisions_total{outcome="fact"}')).toBe(1);
    expect(value(s, 'swoosh_decisions_total{outcome="duplicate"}')).toBe(1);

    expect(value(s, 'swoosh_transition_total{transition="Boot_ConfigOk"}')).toBe(1);
    expect(value(s, 'swoosh_transition_total{transition="Boot_Licensed"}')).toBe(2);
    expect(value(s, 'swoosh_transition_total{transition="Policy_Quarantine"}')).toBe(1);
    expect([...s.samples.keys()].filter((k) => k.startsWith('swoosh_transition_total')))
      .toHaveLength(3);

    expect(value(s, 'swoosh_guard_fail_total{guard="concurrency"}')).toBe(2);
    expect(value(s, 'swoosh_guard_fail_total{guard="signature"}')).toBe(1);
    expect(value(s, 'swoosh_guard_fail_total{guard="policy"}')).toBe(1);
    expect(value(s, 'swoosh_guard_fail_total{guard="schema"}')).toBe(1);

    // Only stale_state_hash is retryable; bad_signature and malformed_envelope are final.
    expect(value(s, 'swoosh_retry_count{transition="Lifecycle_AllReady"}')).toBe(2);
    expect([...s.samples.keys()].filter((k) => k.startsWith('swoosh_retry_count')))
      .toHaveLength(1);
    expect(value(s, 'swoosh_quarantine_total')).toBe(1);
  });

  it('Given latencies per region, Then the histogram buckets them and null skips', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordDecision(ACCEPTED, 0.0008);
    m.recordDecision(DUPLICATE, 0.2);
    m.recordDecision(STALE, 12);
    m.recordDecision(STALE, null);
    m.recordDecision(MALFORMED, -0.004); // clock skew: counted as zero
    const s = await scrape(m);
    const h = 'swoosh_state_advance_latency_seconds';
    expect(value(s, `${h}_count{region="boot"}`)).toBe(2);
    expect(value(s, `${h}_bucket{le="0.001",region="boot"}`)).toBe(1);
    expect(value(s, `${h}_bucket{le="0.25",region="boot"}`)).toBe(2);
    expect(value(s, `${h}_count{region="lifecycle"}`)).toBe(1);
    expect(value(s, `${h}_bucket{le="10",region="lifecycle"}`)).toBe(0);
    expect(value(s, `${h}_bucket{le="+Inf",region="lifecycle"}`)).toBe(1);
    expect(value(s, `${h}_sum{region="none"}`)).toBe(0);
    expect(value(s, `${h}_bucket{le="0.001",region="none"}`)).toBe(1);
  });

  it('Given the operator helpers, Then their series move as documented', async () => {
    let now = 1_000_000;
    const m = createMetrics({ defaultMetrics: false, nowMs: () => now });
    m.setRole('follower');
    m.setRole('writer');
    m.setWalLag(120, 100);
    m.setRecoveryTime(2.5);
    m.observeBatch(3);
    m.observePublishLatency(0.02);
    m.recordFenceRejection();
    m.recordDivergence();
    m.recordReplayMismatch();
    m.recordSnapshot('ok');
    m.recordSnapshot('cas_conflict');
    m.recordSnapshot('cas_conflict');
    now += 30_000;
    let s = await scrape(m);
    // No snapshot known yet: the age counts from creation.
    expect(value(s, 'swoosh_snapshot_age_seconds')).toBe(30);
    m.setSnapshot(now - 5_000, 4096);
    now += 1_000;
    m.setWalLag(100, 101);
    s = await scrape(m);
    expect(value(s, 'swoosh_role{role="writer"}')).toBe(1);
    expect(value(s, 'swoosh_role{role="follower"}')).toBe(0);
    expect(value(s, 'swoosh_wal_lag_records')).toBe(0);
    expect(value(s, 'swoosh_recovery_time_seconds')).toBe(2.5);
    expect(value(s, 'swoosh_batch_size_count')).toBe(1);
    expect(value(s, 'swoosh_batch_size_bucket{le="2"}')).toBe(0);
    expect(value(s, 'swoosh_batch_size_bucket{le="4"}')).toBe(1);
    expect(value(s, 'swoosh_publish_latency_seconds_sum')).toBe(0.02);
    expect(value(s, 'swoosh_fence_rejections_total')).toBe(1);
    expect(value(s, 'swoosh_divergences_total')).toBe(1);
    expect(value(s, 'swoosh_replay_mismatch_total')).toBe(1);
    expect(value(s, 'swoosh_snapshots_total{result="ok"}')).toBe(1);
    expect(value(s, 'swoosh_snapshots_total{result="cas_conflict"}')).toBe(2);
    expect(value(s, 'swoosh_snapshots_total{result="error"}')).toBe(0);
    expect(value(s, 'swoosh_snapshot_age_seconds')).toBe(6);
    expect(value(s, 'swoosh_snapshot_bytes')).toBe(4096);
  });

  it('Given a lag reading, Then it is WAL last minus decided', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.setWalLag(120, 100);
    expect(value(await scrape(m), 'swoosh_wal_lag_records')).toBe(20);
  });

  it('Given two instances in one process, Then neither clashes nor sees the other', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.recordDecision(QUARANTINED, 0.01);
    a.recordDecision(QUARANTINED, 0.01);
    b.recordDecision(ACCEPTED, 0.01);
    const [sa, sb] = [await scrape(a), await scrape(b)];
    expect(value(sa, 'swoosh_quarantine_total')).toBe(2);
    expect(value(sb, 'swoosh_quarantine_total')).toBe(0);
    expect(sa.samples.has('swoosh_transition_total{transition="Boot_ConfigOk"}')).toBe(false);
    expect(value(sb, 'swoosh_transition_total{transition="Boot_ConfigOk"}')).toBe(1);
    expect(a.registry).not.toBe(b.registry);
    expect(a.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('Given a non-finite latency, Then recording it is a programmer error', () => {
    const m = createMetrics({ defaultMetrics: false });
    expect(() => m.recordDecision(ACCEPTED, Number.NaN)).toThrow(/not finite/);
  });
});
