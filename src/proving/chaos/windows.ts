/**
 * The BACKBEAT window rule, re-derived from the log alone for the chaos checks: the beat-frame
 * facts recorded in the WAL (their payloads, read from the WAL entries, not from any state a
 * replica reports), the WAL's own timestamps, and the window classes and phases of the chart
 * and genesis. For every windowed proposal (plan lock, review gate, approvals, REVERB
 * threshold, next window) it says whether the proposal was inside a permitted window when it
 * was logged, and the checks compare that with what the writer recorded:
 *
 *  - accepted (or quarantined, which passed the window guard) ⇒ inside a permitted window;
 *  - rejected by the window guard ⇒ outside, for the same reason code;
 *  - the window guard recorded as passed on every accepted windowed transition.
 *
 * It also follows the frames themselves: beat indices must increase per cluster (a stale frame
 * must not have been recorded), and it counts tempo changes and skipped beat indices (missed
 * beats that reached the log).
 */
import { type Chart, parseIsoUtcMs } from '../../core/index.js';
import type { DecisionRecord } from '../../protocol/decision-record.js';
import type { Violation } from './types.js';

/** The last beat frame recorded, as the log says. */
interface Frame {
  readonly cluster_id: string;
  readonly beat_index: number;
  readonly phase: string;
  readonly window_id: string;
  readonly deadline_ms: number | null;
  readonly tempo_bpm: number;
}

/** What the witness saw of BACKBEAT over the whole log. */
export interface BackbeatSummary {
  /** Beat frames recorded. */
  frames: number;
  /** Frames whose tempo_bpm differs from the frame before. */
  tempo_changes: number;
  /**
   * Frames whose beat_index skips indices after the frame before (missed beats), and how many beats
   * were skipped.
   */
  beat_gaps: number;
  beats_skipped: number;
  /** Windowed proposals accepted (or quarantined), all inside a permitted window. */
  windowed_accepted: number;
  /** Windowed proposals the window guard rejected, by code (outside a permitted window). */
  window_rejections: Record<string, number>;
}

/** Follows the log in seq order; `observe` returns the violations found at that record. */
export class WindowWitness {
  private frame: Frame | null = null;
  /**
   * The window the current loop was planned in (Execution_PlanLocked; reset by Lifecycle_AllReady).
   */
  private readonly planWindow = new Map<string, string | null>();
  readonly summary: BackbeatSummary = {
    frames: 0,
    tempo_changes: 0,
    beat_gaps: 0,
    beats_skipped: 0,
    windowed_accepted: 0,
    window_rejections: {},
  };

  constructor(
    private readonly chart: Chart,
    private readonly windowPolicy: { readonly [windowClass: string]: readonly string[] },
    private readonly count: (check: string) => void,
  ) {}

  /**
   * Why a proposal of window class `cls` naming `windowId`, logged at `logMs`, is outside a
   * permitted window (the window guard's codes), or null when it is inside one.
   */
  outside(cls: string, windowId: string | null, logMs: number, project = 'default'): string | null {
    const f = this.frame;
    if (f === null) return 'no_window';
    if (windowId !== f.window_id) return 'window_mismatch';
    if (!(this.windowPolicy[cls] ?? []).includes(f.phase)) return 'phase_not_allowed';
    if (f.deadline_ms !== null && logMs >= f.deadline_ms) return 'window_closed';
    const planned = this.planWindow.get(project) ?? null;
    if (this.chart.window_classes[cls]?.new_window === true && f.window_id === planned) {
      return 'window_not_new';
    }
    return null;
  }

  /**
   * One record and its WAL entry: `body` is the entry's JSON body (null when undecodable) and
   * `logMs` the WAL timestamp of the entry.
   */
  observe(seq: number, rec: DecisionRecord, body: unknown, logMs: number): Violation[] {
    const out: Violation[] = [];
    if (rec.outcome === 'fact' && rec.transition === 'backbeat') {
      this.count('beat_frame');
      const f = frameOf(body);
      if (f === null) {
        out.push({
          kind: 'beat_frame_unreadable',
          seq,
          detail: 'a recorded backbeat fact has no readable frame in its WAL entry',
        });
        return out;
      }
      const prev = this.frame;
      if (prev !== null && prev.cluster_id === f.cluster_id) {
        if (f.beat_index <= prev.beat_index) {
          out.push({
            kind: 'beat_not_after',
            seq,
            detail: `beat ${f.beat_index} recorded after beat ${prev.beat_index} of cluster ` +
              `${f.cluster_id}`,
          });
        } else if (f.beat_index > prev.beat_index + 1) {
          this.summary.beat_gaps += 1;
          this.summary.beats_skipped += f.beat_index - prev.beat_index - 1;
        }
      }
      if (prev !== null && prev.tempo_bpm !== f.tempo_bpm) this.summary.tempo_changes += 1;
      this.summary.frames += 1;
      this.frame = f;
      return out;
    }
    const spec =
      rec.transition === null
        ? undefined
        : this.chart.transitions.find((t) => t.name === rec.transition);
    const cls = spec?.window_class;
    if (rec.channel !== 'proposal' || cls === undefined) return out;
    const why = this.outside(cls, rec.window_id, logMs, rec.project);
    if (rec.outcome === 'accepted' || rec.outcome === 'quarantined') {
      this.count('window_witness');
      this.summary.windowed_accepted += 1;
      if (why !== null) {
        const f = this.frame;
        out.push({
          kind: 'window_violation',
          seq,
          detail:
            `${String(rec.transition)} ${rec.outcome} outside a permitted window (${why}): ` +
            `names ${String(rec.window_id)}, logged at ${logMs}; ` +
            `last frame ` +
            `${f === null ? 'none' : `${f.window_id} ${f.phase} beat ${f.beat_index} deadline ` +
              `${String(f.deadline_ms)}`}`,
        });
      }
      if (rec.outcome === 'accepted' && rec.transition === 'Execution_PlanLocked') {
        this.planWindow.set(rec.project, rec.window_id);
      }
    } else if (rec.outcome === 'rejected' && rec.failing_guard === 'window') {
      this.count('window_rejection');
      this.summary.window_rejections[rec.code ?? '?'] =
        (this.summary.window_rejections[rec.code ?? '?'] ?? 0) + 1;
      if (why !== rec.code) {
        out.push({
          kind: 'window_rejection_unjustified',
          seq,
          detail: `${String(rec.transition)} rejected ${String(rec.code)} by the window guard; ` +
            `the log's frames say ${why ?? 'inside a permitted window'}`,
        });
      }
    }
    return out;
  }

  /**
   * An applied transition that resets the loop's window (the witness follows them from the
   * records).
   */
  applied(transitions: readonly string[], project = 'default'): void {
    if (transitions.includes('Lifecycle_AllReady')) this.planWindow.set(project, null);
  }
}

function frameOf(body: unknown): Frame | null {
  if (typeof body !== 'object' || body === null) return null;
  const p = (body as { payload?: unknown }).payload;
  if (typeof p !== 'object' || p === null) return null;
  const o = p as Record<string, unknown>;
  const {
    cluster_id: cluster,
    beat_index: beat,
    phase,
    window_id: win,
    deadline_at: deadline,
    tempo_bpm: tempo,
  } = o;
  if (
    typeof cluster !== 'string' ||
    typeof beat !== 'number' ||
    typeof phase !== 'string' ||
    typeof win !== 'string' ||
    typeof deadline !== 'string' ||
    typeof tempo !== 'number'
  ) {
    return null;
  }
  return {
    cluster_id: cluster,
    beat_index: beat,
    phase,
    window_id: win,
    deadline_ms: parseIsoUtcMs(deadline),
    tempo_bpm: tempo,
  };
}
