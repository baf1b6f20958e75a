/**
 * Decision spans: real decisions from the core (an accepted proposal and one a guard
 * rejected) exported through an in-memory exporter, checked attribute by attribute; `none`
 * emits nothing, even when a global provider is listening; unknown exporters are refused.
 */
import { SpanStatusCode, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { StepResult } from '../../src/core/index.js';
import { SwooshError } from '../../src/protocol/errors.js';
import {
  REASONS_SEPARATOR,
  SPAN_ATTRIBUTES_MAX,
  createTracing,
  parseTracingExporter,
  type DecisionSpanFields,
  type TracingExporterName,
} from '../../src/server/observability/tracing.js';
import { ok } from '../../src/proving/sim/walk.js';
import { CAST, World, h } from '../../src/proving/sim/world.js';

const EVIDENCE = ['ucxl://chorus:spec@council:boot/*^/spec.md', 'bubble://dr/test/0'];
const NOW_MS = 1_700_000_000_000;

/** Boot_ConfigOk accepted, then Boot_Licensed rejected by the licence guard (no licence). */
function decisions(): { accepted: StepResult; rejected: StepResult } {
  const w = new World();
  const accepted = ok(w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') },
    { evidence: EVIDENCE }));
  const rejected = w.propose(CAST.operator, 'Boot_Licensed');
  expect(rejected.decision.outcome).toBe('rejected');
  return { accepted, rejected };
}

function fieldsOf(r: StepResult, latencyMs: number | null): DecisionSpanFields {
  return {
    wal_seq: r.decision.seq, dr_id: `bubble://dr/test/${r.decision.seq}`,
    state_pre_hash: r.pre.head, state_post_hash: r.post.head, latency_ms: latencyMs,
  };
}

function inMemory(): { exporter: InMemorySpanExporter; spans: () => ReadableSpan[] } {
  const exporter = new InMemorySpanExporter();
  return { exporter, spans: () => exporter.getFinishedSpans() };
}

afterEach(() => {
  trace.disable();
  vi.restoreAllMocks();
});

describe('decision spans', () => {
  it('Given an accepted decision, Then one OK span carries every field of it', async () => {
    const { accepted } = decisions();
    const mem = inMemory();
    const tracing = createTracing({ exporter: mem.exporter, serviceName: 'swoosh-test',
      nowMs: () => NOW_MS });
    tracing.spanForDecision(accepted.decision, fieldsOf(accepted, 12));
    const [span, ...rest] = mem.spans();
    expect(rest).toEqual([]);
    if (span === undefined) throw new Error('no span');
    const d = accepted.decision;
    expect(span.name).toBe('swoosh.decision Boot_ConfigOk');
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.resource.attributes['service.name']).toBe('swoosh-test');
    expect(span.attributes).toMatchObject({
      'swoosh.outcome': 'accepted', 'swoosh.transition': 'Boot_ConfigOk',
      'swoosh.region': d.region, 'swoosh.wal_seq': d.seq,
      'swoosh.dr_id': `bubble://dr/test/${d.seq}`,
      'swoosh.hlc': d.hlc, 'swoosh.window_id': d.window_id,
      'swoosh.state_pre_hash': accepted.pre.head, 'swoosh.state_post_hash': accepted.post.head,
      'swoosh.evidence': EVIDENCE, 'swoosh.applied': [...d.applied], 'swoosh.latency_ms': 12,
    });
    expect(d.region).not.toBeNull();
    expect(d.hlc).not.toBeNull();
    expect(accepted.pre.head).not.toBe(accepted.post.head);
    expect(span.attributes).not.toHaveProperty('swoosh.code');
    expect(span.attributes).not.toHaveProperty('swoosh.failing_guard');
    expectGuardAttributes(span, accepted);
    // The span lasts the state advance latency and ends at the injected clock.
    expect(hrMs(span.endTime)).toBe(NOW_MS);
    expect(hrMs(span.endTime) - hrMs(span.startTime)).toBe(12);
    await tracing.shutdown();
  });

  it('Given a guard rejection, Then the span is ERROR with code and failing guard', async () => {
    const { rejected } = decisions();
    const mem = inMemory();
    const tracing = createTracing({ exporter: mem.exporter, nowMs: () => NOW_MS });
    tracing.spanForDecision(rejected.decision, fieldsOf(rejected, null));
    const [span] = mem.spans();
    if (span === undefined) throw new Error('no span');
    expect(span.name).toBe('swoosh.decision Boot_Licensed');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'license_inactive' });
    expect(span.resource.attributes['service.name']).toBe('swoosh');
    expect(span.attributes).toMatchObject({
      'swoosh.outcome': 'rejected', 'swoosh.code': 'license_inactive',
      'swoosh.failing_guard': 'license', 'swoosh.transition': 'Boot_Licensed',
      'swoosh.state_pre_hash': rejected.pre.head, 'swoosh.state_post_hash': rejected.post.head,
      'swoosh.evidence': [], 'swoosh.guard.license.ok': false,
    });
    expect(span.attributes).not.toHaveProperty('swoosh.latency_ms');
    expect(hrMs(span.endTime) - hrMs(span.startTime)).toBe(0);
    expectGuardAttributes(span, rejected);
    await tracing.shutdown();
  });

  it('Given a quarantined outcome, Then the span status is ERROR', async () => {
    const { rejected } = decisions();
    const quarantined = { ...rejected.decision, outcome: 'quarantined' as const,
      code: 'policy_breach', failing_guard: 'policy' };
    const mem = inMemory();
    const tracing = createTracing({ exporter: mem.exporter });
    tracing.spanForDecision(quarantined, fieldsOf(rejected, 1));
    expect(mem.spans()[0]?.status)
      .toEqual({ code: SpanStatusCode.ERROR, message: 'policy_breach' });
    await tracing.shutdown();
  });

});

describe('console exporter', () => {
  it('Given the console exporter, Then spans reach the console', async () => {
    const dir = vi.spyOn(console, 'dir').mockImplementation(() => undefined);
    const { accepted } = decisions();
    const tracing = createTracing({ exporter: 'console' });
    tracing.spanForDecision(accepted.decision, fieldsOf(accepted, 3));
    await tracing.shutdown();
    const printed = dir.mock.calls.map((call) => call[0] as { name?: unknown });
    expect(printed.map((p) => p.name)).toEqual(['swoosh.decision Boot_ConfigOk']);
  });
});

describe('tracing off', () => {
  it('Given exporter none and a global provider, Then no span anywhere and no provider set',
    async () => {
      const mem = inMemory();
      const global = new BasicTracerProvider({
        spanProcessors: [new SimpleSpanProcessor(mem.exporter)],
      });
      expect(trace.setGlobalTracerProvider(global)).toBe(true);
      const before = trace.getTracerProvider();
      const { accepted, rejected } = decisions();
      const tracing = createTracing({ exporter: 'none' });
      tracing.spanForDecision(accepted.decision, fieldsOf(accepted, 1));
      tracing.spanForDecision(rejected.decision, fieldsOf(rejected, null));
      await tracing.shutdown();
      expect(mem.spans()).toEqual([]);
      expect(trace.getTracerProvider()).toBe(before);
      // The same global provider does record when something else uses it: the check can fail.
      trace.getTracer('probe').startSpan('probe').end();
      expect(mem.spans().map((s) => s.name)).toEqual(['probe']);
    });

  it('Given no global provider, Then none leaves the API without a delegate', async () => {
    const tracing = createTracing({ exporter: 'none' });
    const { accepted } = decisions();
    tracing.spanForDecision(accepted.decision, fieldsOf(accepted, 1));
    await tracing.shutdown();
    const provider = trace.getTracerProvider();
    expect(provider.getTracer('probe').startSpan('probe').isRecording()).toBe(false);
  });
});

describe('exporter configuration', () => {
  it.each([
    [undefined, 'none'], ['', 'none'], ['none', 'none'], ['console', 'console'],
  ] as const)('parses %j as %s', (value, expected: TracingExporterName) => {
    expect(parseTracingExporter(value)).toBe(expected);
  });

  it.each(['otlp-http', 'otlp', 'Console', 'jaeger'])('refuses %s as invalid_config', (name) => {
    expect(() => parseTracingExporter(name)).toThrowError(SwooshError);
    expect(() => createTracing({ exporter: name as TracingExporterName }))
      .toThrowError(expect.objectContaining({ code: 'invalid_config' }) as Error);
  });

  it('names the pluggable route when otlp-http is asked for', () => {
    expect(() => parseTracingExporter('otlp-http')).toThrowError(/SpanExporter/);
  });

  it('refuses an object that is not a SpanExporter', () => {
    const notAnExporter = { export: 'no' } as unknown as TracingExporterName;
    expect(() => createTracing({ exporter: notAnExporter }))
      .toThrowError(expect.objectContaining({ code: 'invalid_config' }) as Error);
  });
});

/** Every guard and check the decision ran has its `.ok` and joined `.reasons` attribute. */
function expectGuardAttributes(span: ReadableSpan, r: StepResult): void {
  const outcomes = r.decision.guard_outcomes;
  expect(outcomes.length).toBeGreaterThan(3);
  for (const g of outcomes) {
    expect(span.attributes[`swoosh.guard.${g.guard}.ok`]).toBe(g.ok);
    expect(span.attributes[`swoosh.guard.${g.guard}.reasons`])
      .toBe(g.reasons.join(REASONS_SEPARATOR));
  }
  expect(Object.keys(span.attributes).length).toBeLessThan(SPAN_ATTRIBUTES_MAX);
  expect(span.droppedAttributesCount).toBe(0);
}

function hrMs([s, ns]: readonly [number, number]): number {
  return s * 1000 + Math.round(ns / 1e6);
}
