/**
 * Simulated feeders for the embedded default: they publish signed facts so the whole
 * lifecycle can be walked on one machine — a valid licence, healthy pinned MCP tools, some
 * capacity, a permissive policy, a BACKBEAT beat-frame source and a tick clock. Each can be
 * switched off, and a script file can publish facts at chosen times instead.
 *
 * The beat source cycles windows of three beats: plan, execute, review. Every frame of a
 * window carries the window's id and its end as `deadline_at`, so a phase's transition may be
 * proposed any time before the window ends. At 60 bpm a window lasts three seconds.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { formatHlc, formatIsoUtcMs, hlcSend, type Hlc } from '../../core/index.js';
import { publishFact, type BytesSigner } from '../../protocol/publish.js';

/** Which simulators run, and how. */
export interface SimulatorOptions {
  readonly license: boolean;
  readonly backbeat: boolean;
  readonly mcp: boolean;
  readonly capacity: boolean;
  readonly policy: boolean;
  readonly tick: boolean;
  /** Beats per minute of the simulated BACKBEAT source. */
  readonly tempoBpm: number;
  /** MCP tools to report healthy, at these versions (the genesis pins). */
  readonly mcpTools: Readonly<Record<string, string>>;
  /** Optional script: a JSON array of `{ "at_ms": n, "kind": "license", "payload": {…} }`. */
  readonly scriptFile?: string;
}

/** Defaults: everything on, 60 bpm. */
export const SIMULATOR_DEFAULTS: SimulatorOptions = {
  license: true, backbeat: true, mcp: true, capacity: true, policy: true, tick: true,
  tempoBpm: 60, mcpTools: {},
};

/** Phases of one simulated window, in order. */
export const WINDOW_PHASES = ['plan', 'execute', 'review'] as const;
/** Tempo bounds: slower than this is useless for a demo, faster floods the log. */
export const TEMPO_BPM_MIN = 6;
export const TEMPO_BPM_MAX = 600;
/** How often the tick source and the MCP re-affirmation run. */
export const TICK_EVERY_MS = 5000;
export const MCP_EVERY_MS = 30_000;

interface ScriptItem {
  readonly at_ms: number;
  readonly kind: string;
  readonly payload: object;
}

function loadScript(path: string): ScriptItem[] {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (!Array.isArray(raw)) {
    throw new Error(`${path}: expected a JSON array of {at_ms, kind, payload}`);
  }
  return raw.map((x: unknown, i) => {
    const o = x as Partial<ScriptItem>;
    if (
      typeof o.at_ms !== 'number' ||
      typeof o.kind !== 'string' ||
      typeof o.payload !== 'object'
    ) {
      throw new Error(`${path}[${i}]: expected {at_ms: number, kind: string, payload: object}`);
    }
    return o as ScriptItem;
  });
}

/** The 32-hex INT-A window id of dev window `w` (stable: the same window, the same id). */
export function devWindowId(w: number): string {
  return createHash('sha256').update(`swoosh-dev-window:${w}`).digest('hex').slice(0, 32);
}

/** Running simulators. */
export class Simulators {
  private timers: NodeJS.Timeout[] = [];
  private hlc: Hlc = { ms: 0, logical: 0 };
  private beat = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly prefix: string,
    private readonly signer: BytesSigner,
    private readonly opts: SimulatorOptions,
    private readonly onError: (err: unknown, kind: string) => void,
  ) {
    if (opts.tempoBpm < TEMPO_BPM_MIN || opts.tempoBpm > TEMPO_BPM_MAX) {
      throw new RangeError(
        `tempo: expected ${TEMPO_BPM_MIN}..${TEMPO_BPM_MAX} bpm, got ${opts.tempoBpm}`,
      );
    }
  }

  private publish(kind: string, payload: object): void {
    this.hlc = hlcSend(this.hlc, Date.now());
    publishFact(
      this.js,
      this.prefix,
      { kind, hlc: formatHlc(this.hlc), payload },
      this.signer,
    ).catch((err: unknown) => this.onError(err, kind));
  }

  private every(ms: number, fn: () => void): void {
    fn();
    this.timers.push(setInterval(fn, ms));
  }

  /** The beat frame for beat number `n` (INT-A fields). */
  beatFrame(n: number, nowMs: number): object {
    const beatMs = Math.round(60_000 / this.opts.tempoBpm);
    const inWindow = n % WINDOW_PHASES.length;
    const windowEnd = nowMs + (WINDOW_PHASES.length - inWindow) * beatMs;
    return {
      type: 'backbeat.beatframe.v1',
      cluster_id: 'swoosh-dev',
      beat_index: n,
      downbeat: inWindow === 0,
      phase: WINDOW_PHASES[inWindow],
      // BACKBEAT's own hlc form, wall:logical:node in hex (the wall part wraps every 18 hours).
      hlc: [Math.floor(nowMs / 1000) % 0x10000, n % 0x10000, 1]
        .map((x) => x.toString(16).padStart(4, '0')).join(':'),
      deadline_at: formatIsoUtcMs(windowEnd),
      tempo_bpm: this.opts.tempoBpm,
      window_id: devWindowId(Math.floor(n / WINDOW_PHASES.length)),
    };
  }

  /** Start everything that is switched on. */
  start(): void {
    const o = this.opts;
    if (o.license) this.publish('license', { status: 'active', license_id: 'dev-license' });
    if (o.capacity) this.publish('capacity', { cpu_millis: 64_000, memory_mb: 131_072, slots: 16 });
    if (o.policy) {
      this.publish('policy', {
        version: 1,
        denied_source_patterns: [],
        max_council_size: 0,
        required_evidence: {},
      });
    }
    if (o.mcp) {
      const tools = Object.entries(o.mcpTools).map(([name, version]) => ({
        name,
        reachable: true,
        version,
      }));
      this.every(MCP_EVERY_MS, () => this.publish('mcp', { tools }));
    }
    if (o.tick) this.timers.push(setInterval(() => this.publish('tick', {}), TICK_EVERY_MS));
    if (o.backbeat) {
      // Beat numbers come from the clock so they keep increasing across restarts (a frame not
      // after the recorded beat of its cluster is refused as stale).
      this.beat = Math.floor(Date.now() / Math.round(60_000 / o.tempoBpm));
      this.every(Math.round(60_000 / o.tempoBpm), () => {
        this.publish('backbeat', this.beatFrame(this.beat, Date.now()));
        this.beat += 1;
      });
    }
    if (o.scriptFile !== undefined) {
      for (const item of loadScript(o.scriptFile)) {
        this.timers.push(setTimeout(() => this.publish(item.kind, item.payload), item.at_ms));
      }
    }
  }

  /** Stop every timer. */
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}
