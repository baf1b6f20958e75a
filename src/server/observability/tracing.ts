/**
 * OpenTelemetry traces: one span per decision, named `swoosh.decision <transition>`, carrying
 * the decision's outcome, code, guard verdicts, hashes and evidence as attributes. Off by
 * default: with the `none` exporter no provider exists and the API's no-op tracer answers, so
 * a decision costs one non-recording span and nothing else.
 *
 * Each Tracing owns its provider and never registers it globally: two instances in one
 * process (tests, a writer and a follower side by side) keep their spans apart, and a host
 * application's own global provider is neither replaced nor fed SWOOSH spans by accident.
 *
 * Exporters are pluggable. The SDK installed here ships `ConsoleSpanExporter` and
 * `InMemorySpanExporter`; an OTLP exporter is a separate package that is not a dependency, so
 * `otlp-http` is not offered by name. Any `SpanExporter` object (an OTLP one included) can be
 * passed instead of a name; docs/observability.md says how.
 */
import {
  ProxyTracerProvider,
  SpanStatusCode,
  type Attributes,
  type Tracer,
} from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import type { Decision } from '../../core/index.js';
import { SwooshError } from '../../protocol/errors.js';

/** Exporters selectable by name (configuration, environment). */
export const TRACING_EXPORTERS = ['none', 'console'] as const;
/** An exporter selectable by name. */
export type TracingExporterName = (typeof TRACING_EXPORTERS)[number];

/** Instrumentation scope of every span this module creates. */
export const TRACER_NAME = 'swoosh';
/** `service.name` of the resource unless the options name another. */
export const DEFAULT_SERVICE_NAME = 'swoosh';

/**
 * Most attributes one span keeps. A decision carries 16 fixed attributes plus two per guard
 * or check it ran (19 today); the SDK's default of 128 would silently drop guard verdicts once
 * a statechart lists about 55 guards, so the limit is raised well past any plausible chart.
 */
export const SPAN_ATTRIBUTES_MAX = 512;

/** Separator of a guard's reasons in its `swoosh.guard.<name>.reasons` attribute. */
export const REASONS_SEPARATOR = '; ';

/** Span name (and label) for a decision without a transition name (malformed entries). */
const NONE = 'none';

/** Options of createTracing. */
export interface TracingOptions {
  /**
   * `none` (default): no spans. `console`: ConsoleSpanExporter behind a SimpleSpanProcessor.
   * A SpanExporter object: that exporter (OTLP, in-memory for tests, …).
   */
  readonly exporter: TracingExporterName | SpanExporter;
  /** `service.name` resource attribute; DEFAULT_SERVICE_NAME unless given. */
  readonly serviceName?: string;
  /**
   * For a SpanExporter object: batch spans (BatchSpanProcessor) instead of exporting each
   * one as it ends. Use it for network exporters; the default (false) suits in-memory ones.
   */
  readonly batch?: boolean;
  /** Wall clock in ms for span end times; `Date.now` unless a test injects one. */
  readonly nowMs?: () => number;
}

/** What the shell knows about a decision beyond the Decision itself. */
export interface DecisionSpanFields {
  readonly wal_seq: number;
  readonly dr_id: string;
  readonly state_pre_hash: string;
  readonly state_post_hash: string;
  /** Log time to record stored, in ms; null when meaningless (replay, followers). */
  readonly latency_ms: number | null;
}

/** Traces of one process. */
export interface Tracing {
  /** Emits one span for a decision; with the `none` exporter it does nothing measurable. */
  spanForDecision(d: Decision, fields: DecisionSpanFields): void;
  /** Flushes pending spans and stops the exporter; later spans are dropped. */
  shutdown(): Promise<void>;
}

/**
 * Maps a configured exporter name (a flag or `SWOOSH_TRACE_EXPORTER`) to a TracingExporterName.
 * Unset or empty means `none`. Anything else, `otlp-http` included, is an `invalid_config`
 * error naming what is available, so a typo never silently turns tracing off.
 */
export function parseTracingExporter(value: string | undefined): TracingExporterName {
  if (value === undefined || value === '') return 'none';
  const known = TRACING_EXPORTERS.find((name) => name === value);
  if (known !== undefined) return known;
  const hint = value === 'otlp-http'
    ? ': no OTLP exporter package is installed; pass a SpanExporter to createTracing'
      + ' (docs/observability.md, "Traces")'
    : '';
  throw new SwooshError('invalid_config',
    `tracing exporter "${value}" is unknown (expected ${TRACING_EXPORTERS.join(' | ')})${hint}`);
}

/** Creates the tracing of one process. Throws `invalid_config` for an unknown exporter. */
export function createTracing(opts: TracingOptions): Tracing {
  const exporter = resolveExporter(opts.exporter);
  const nowMs = opts.nowMs ?? Date.now;
  if (exporter === null) {
    // The API's no-op tracer, from a provider of our own: it never sees a global provider.
    const tracer = new ProxyTracerProvider().getTracer(TRACER_NAME);
    return {
      spanForDecision: (d, f) => emitSpan(tracer, nowMs, d, f),
      shutdown: () => Promise.resolve(),
    };
  }
  const processor: SpanProcessor = opts.batch === true
    ? new BatchSpanProcessor(exporter)
    : new SimpleSpanProcessor(exporter);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName ?? DEFAULT_SERVICE_NAME }),
    spanProcessors: [processor],
    spanLimits: { attributeCountLimit: SPAN_ATTRIBUTES_MAX },
  });
  const tracer = provider.getTracer(TRACER_NAME);
  return {
    spanForDecision: (d, f) => emitSpan(tracer, nowMs, d, f),
    shutdown: () => provider.shutdown(),
  };
}

/** The exporter to use, or null for none. Validated at run time for untyped callers. */
function resolveExporter(exporter: TracingExporterName | SpanExporter): SpanExporter | null {
  if (typeof exporter === 'string') {
    return parseTracingExporter(exporter) === 'console' ? new ConsoleSpanExporter() : null;
  }
  const candidate = exporter as Partial<SpanExporter> | null;
  if (typeof candidate?.export !== 'function' || typeof candidate.shutdown !== 'function') {
    throw new SwooshError('invalid_config',
      'tracing exporter: expected a name or an object with export() and shutdown()');
  }
  return exporter;
}

/**
 * Starts and ends the span of one decision. It ends now and starts `latency_ms` earlier, so
 * its duration is the state advance latency when that is known (and zero otherwise).
 */
function emitSpan(tracer: Tracer, nowMs: () => number, d: Decision,
  f: DecisionSpanFields): void {
  const endMs = nowMs();
  const latencyMs = f.latency_ms === null ? 0 : Math.max(0, f.latency_ms);
  const span = tracer.startSpan(`swoosh.decision ${d.transition ?? NONE}`,
    { startTime: endMs - latencyMs });
  // A non-recording span (the `none` exporter, or a sampler saying no) gets no attributes:
  // building them is the only real cost of a span.
  if (span.isRecording()) {
    span.setAttributes(decisionAttributes(d, f));
    if (d.outcome === 'rejected' || d.outcome === 'quarantined') {
      // The code, not the message: a message may quote producer-supplied text.
      span.setStatus({ code: SpanStatusCode.ERROR, message: d.code ?? d.outcome });
    }
  }
  span.end(endMs);
}

/**
 * The attributes of a decision's span, under `swoosh.`. Null fields are left out (an
 * attribute value cannot be null), so a missing `swoosh.code` means the decision had none.
 */
export function decisionAttributes(d: Decision, f: DecisionSpanFields): Attributes {
  const a: Attributes = {
    'swoosh.outcome': d.outcome,
    'swoosh.wal_seq': f.wal_seq,
    'swoosh.dr_id': f.dr_id,
    'swoosh.state_pre_hash': f.state_pre_hash,
    'swoosh.state_post_hash': f.state_post_hash,
    'swoosh.evidence': [...d.evidence],
    'swoosh.applied': [...d.applied],
  };
  const optional: readonly (readonly [string, string | null])[] = [
    ['swoosh.transition', d.transition],
    ['swoosh.region', d.region],
    ['swoosh.code', d.code],
    ['swoosh.failing_guard', d.failing_guard],
    ['swoosh.hlc', d.hlc],
    ['swoosh.window_id', d.window_id],
    ['swoosh.signer', d.signer],
    ['swoosh.channel', d.channel],
  ];
  for (const [key, value] of optional) if (value !== null) a[key] = value;
  if (f.latency_ms !== null) a['swoosh.latency_ms'] = Math.max(0, f.latency_ms);
  for (const g of d.guard_outcomes) {
    a[`swoosh.guard.${g.guard}.ok`] = g.ok;
    a[`swoosh.guard.${g.guard}.reasons`] = g.reasons.join(REASONS_SEPARATOR);
  }
  return a;
}
