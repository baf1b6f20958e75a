/**
 * The named disruptive stream faults: valid steps that push the machine off its happy path,
 * each kind switchable with its own rate (FaultRates; `disrupt` is the shorthand that gives
 * every kind without its own rate a share of it).
 *
 *  - control: pause, recovery, quorum lost, index rollback, deprovision, re-elect, eject,
 *    grant, tick (one step).
 *  - license: a KACHING episode. The licence is revoked (a denial, or a validation outage the
 *    feeder reports as revoked), the core enters DEGRADED.GRACE; producers keep proposing
 *    (rejected `license_degraded`) and ticks arrive while the grace deadline is pending. Either
 *    the licence comes back within the grace (latency), or the grace runs out: a tick after it
 *    fires Control_LicenseExpired (HARD_STOP, proposals rejected `license_expired`), then the
 *    licence is restored (Control_LicenseRestored). Offline the clock jumps to the end of the
 *    grace; live the stream waits it out entry by entry, so only a short grace (at most
 *    LICENSE_OUTAGE_GRACE_MS_MAX; the chaos run's genesis has 750 ms) reaches HARD_STOP.
 *  - policy: a SHHH policy change. Half the time a rule aimed at the planned proposal (evidence
 *    it does not carry), logged just before it, so that proposal breaches the policy and the
 *    machine is QUARANTINED; release follows (operator release, or a newer policy that clears
 *    the breach). Otherwise a random rule change (denied source, council cap, relaxation).
 *  - mcp: an MCP registry flap: repo-tools unreachable or at an unpinned version, flapping
 *    1–3 times over the next entries, ending reachable at its pin.
 *  - capacity: environment capacity churn: 1–3 random capacity observations (slots may be 0),
 *    ending with ample capacity.
 *  - tempo: a BACKBEAT tempo change: a beat frame with another tempo_bpm whose window lasts
 *    1–4 beats at that tempo (10 ms to 8 s), re-timing the open window (or the planned frame).
 *  - missed_beat: the next beat frame the planner needs is never delivered: the window never
 *    opens, the proposal made for it names it anyway (and must be rejected by the window
 *    guard), and the next frame that does arrive skips the missed beat indices.
 *
 * Everything is drawn from the stream's seeded Rng and the world's state, so a seed gives the
 * same stream offline; live, the state follows the real log times (window deadlines, grace).
 */
import { CAST, type World } from './world.js';
import {
  F,
  P,
  beatFrame,
  controlStep,
  isBeat,
  mcpFact,
  policyChange,
  windowedProposal,
  type Rng,
  type Step,
} from './planner.js';

/** The named disruptive kinds, in the order the stream draws them. */
export const DISRUPTIVE_KINDS = [
  'control',
  'license',
  'policy',
  'mcp',
  'capacity',
  'tempo',
  'missed_beat',
] as const;
export type DisruptiveKind = (typeof DISRUPTIVE_KINDS)[number];

/** How the `disrupt` shorthand splits among the kinds without their own rate (sums to 1). */
export const DISRUPT_SHARES: Readonly<Record<DisruptiveKind, number>> = {
  control: 0.4, license: 0.1, policy: 0.1, mcp: 0.1, capacity: 0.1, tempo: 0.1, missed_beat: 0.1,
};

/**
 * Entries a licence outage spends at most waiting for its grace to run out when the stream may
 * not move the log clock (live streams): past that, the licence comes back within the grace.
 */
export const LICENSE_WAIT_ENTRIES_MAX = 120;

/**
 * Longest licence grace a live stream waits out for a hard stop (about as long as
 * LICENSE_WAIT_ENTRIES_MAX entries take at the chaos run's usual pace); with a longer grace a
 * live licence episode always ends within it.
 */
export const LICENSE_OUTAGE_GRACE_MS_MAX = 5_000;

/**
 * Tempos (beats per minute) a tempo change picks from, within INT-A's 0.1..1000 and two of them
 * fractional as BACKBEAT may send them; the planner's own frames are at 120.
 */
export const TEMPOS: readonly number[] = [2.5, 30, 60, 90, 150, 240, 750.5, 1_000];

/** The evidence prefix a targeted policy rule requires (the planner never supplies it). */
const CHAOS_EVIDENCE = 'ucxl://chaos:evidence@chaos:run/*^/evidence';

interface LicenceEpisode {
  /** The grace runs out (HARD_STOP) before the licence comes back. */
  readonly outage: boolean;
  /** Latency case: entries until the licence comes back, within the grace. */
  latency: number;
  /** Outage case: entries left to wait for the grace to run out. */
  budget: number;
  hardStopSeen: boolean;
  blockedSent: boolean;
  restores: number;
}

interface FollowUp {
  /** Emit once the stream has logged this many entries. */
  readonly at: number;
  readonly step: () => Step;
}

/**
 * The state of the disruptive faults of one stream: episodes in progress, follow-ups, a missed
 * beat.
 */
export class Disruptions {
  private licence: LicenceEpisode | null = null;
  private readonly followUps: FollowUp[] = [];
  private missArmed = false;
  private beatSkip = 0;

  /**
   * @param canJump the stream may move the log clock (offline streams with `advance` > 0): a
   *   licence outage then jumps to the end of the grace instead of waiting entry by entry.
   * @param count called with a kind each time a fault of that kind is injected.
   */
  constructor(
    private readonly w: World,
    private readonly rng: Rng,
    private readonly canJump: boolean,
    private readonly count: (kind: string) => void,
  ) {}

  /** A step that must go next (a licence episode in progress, a follow-up now due), or null. */
  pending(emitted: number): Step | null {
    if (this.licence !== null) {
      const s = this.licenceStep(this.licence);
      if (s !== null) return this.out(s);
      this.licence = null;
    }
    const i = this.followUps.findIndex((f) => f.at <= emitted);
    if (i < 0) return null;
    const [due] = this.followUps.splice(i, 1);
    return due === undefined ? null : this.out(due.step());
  }

  /**
   * Inject a fault of `kind` now. `planned` is the planner's next step; `room` how many entries
   * the stream may still log (at least 1). Returns the steps to log now, in order.
   */
  start(kind: DisruptiveKind, planned: Step, emitted: number, room: number): Step[] {
    const w = this.w;
    const rng = this.rng;
    switch (kind) {
      case 'control':
        this.count(kind);
        return [this.out(controlStep(rng))];
      case 'license': {
        this.count(kind);
        if (!this.activeIn('Control_LicenseGrace')) {
          return [F('license', { status: 'active', license_id: 'lic-1' })];
        }
        // An outage needs the grace to run out: offline the clock jumps; live it must be short
        // enough to pass while the stream waits (the chaos run's genesis has a short grace).
        const outage =
          rng.chance(0.5) &&
          (this.canJump || w.state.meta.config.license_grace_ms <= LICENSE_OUTAGE_GRACE_MS_MAX);
        this.licence = {
          outage,
          latency: 1 + rng.int(4),
          budget: LICENSE_WAIT_ENTRIES_MAX,
          hardStopSeen: false,
          blockedSent: false,
          restores: 0,
        };
        return [F('license', { status: 'revoked', license_id: 'lic-1' })];
      }
      case 'policy': {
        this.count(kind);
        const spec = planned.kind === 'proposal' ? this.spec(planned.transition) : undefined;
        if (
          planned.kind === 'proposal' &&
          room >= 2 &&
          spec?.guards.includes('policy') === true &&
          this.activeIn('Policy_Quarantine') &&
          rng.chance(0.5)
        ) {
          const rules = w.state.facts.policy.rules;
          return [
            F('policy', {
              version: rules.version + 1,
              denied_source_patterns: [],
              max_council_size: 0,
              required_evidence: { [planned.transition]: [CHAOS_EVIDENCE] },
            }),
            planned,
          ];
        }
        return [policyChange(w, rng)];
      }
      case 'mcp': {
        this.count(kind);
        // Down (unreachable, or reachable at an unpinned version), then up and down again
        // 0–2 more times over the next entries, ending reachable at the pin.
        const down = (): Step =>
          rng.chance(0.5) ? mcpFact(false, '1.2.0') : mcpFact(true, rng.pick(['1.3.0', '2.0.0']));
        const first = down();
        let at = emitted;
        const flaps = 1 + rng.int(3);
        for (let i = 1; i < 2 * flaps; i++) {
          at += 1 + rng.int(8);
          const s = i % 2 === 1 ? mcpFact(true, '1.2.0') : down();
          this.followUps.push({ at, step: () => s });
        }
        return [first];
      }
      case 'capacity': {
        this.count(kind);
        const churn = (): Step =>
          F('capacity', {
            cpu_millis: rng.int(10_000),
            memory_mb: rng.int(10_000),
            slots: rng.int(3),
          });
        let at = emitted;
        for (let i = rng.int(3); i > 0; i--) {
          at += 1 + rng.int(8);
          const s = churn();
          this.followUps.push({ at, step: () => s });
        }
        this.followUps.push({
          at: at + 1 + rng.int(8),
          step: () => F('capacity', { cpu_millis: 8000, memory_mb: 8000, slots: 4 }),
        });
        return [churn()];
      }
      case 'tempo': {
        this.count(kind);
        const b = w.state.facts.backbeat;
        const tempo = rng.pick(TEMPOS.filter((t) => t * 1000 !== b.tempo_mbpm));
        const openMs = Math.max(1, Math.round(((1 + rng.int(4)) * 60_000) / tempo));
        if (isBeat(planned)) {
          return [
            this.out({
              ...planned,
              payload: {
                ...planned.payload,
                tempo_bpm: tempo,
                deadline_at: new Date(w.logMs + openMs).toISOString(),
              },
            }),
          ];
        }
        if (b.window_id !== null && b.phase !== null) {
          return [
            this.out(
              beatFrame(w, b.window_id, b.phase as 'plan' | 'execute' | 'review', {
                tempo,
                openMs,
              }),
            ),
          ];
        }
        return [this.out(beatFrame(w, `backbeat:W-${++w.windows}`, 'plan', { tempo, openMs }))];
      }
      case 'missed_beat':
        // Counted when the beat is actually missed: the next beat frame the planner needs.
        this.missArmed = true;
        return [this.planned(planned)];
    }
  }

  /**
   * The planner's step as logged: a missed beat replaces a needed frame; frames skip missed
   * indices.
   */
  planned(step: Step): Step {
    if (this.missArmed && isBeat(step) && this.w.state.control.top === 'EXECUTION') {
      const windowId = step.payload['window_id'];
      const p = typeof windowId === 'string' ? windowedProposal(this.w, windowId) : null;
      if (p !== null) {
        this.missArmed = false;
        this.beatSkip += 1 + this.rng.int(3);
        this.count('missed_beat');
        return p;
      }
    }
    return this.out(step);
  }

  /** A beat frame after missed beats carries the index it really has (the missed ones skipped). */
  private out(step: Step): Step {
    if (!isBeat(step) || this.beatSkip === 0) return step;
    const index = step.payload['beat_index'];
    const skip = this.beatSkip;
    this.beatSkip = 0;
    return typeof index === 'number'
      ? { ...step, payload: { ...step.payload, beat_index: index + skip } }
      : step;
  }

  private spec(
    name: string,
  ): { readonly guards: readonly string[]; readonly active_in: readonly string[] } | undefined {
    return this.w.core.chart.transitions.find((t) => t.name === name);
  }

  private activeIn(name: string): boolean {
    return this.spec(name)?.active_in.includes(this.w.state.control.top) ?? false;
  }

  /**
   * A proposal a producer keeps sending while the licence is away: rejected by the licence gate.
   */
  private blocked(): Step {
    return P(CAST.operator, 'Control_Pause', { reason: 'chaos: licence away' });
  }

  /** The next step of a licence episode, or null when it is over. */
  private licenceStep(e: LicenceEpisode): Step | null {
    const c = this.w.state.control;
    if (c.top !== 'DEGRADED' || e.restores >= 3) return null;
    const restore = (): Step => {
      e.restores += 1;
      return F('license', { status: 'active', license_id: 'lic-1' });
    };
    if (c.degraded === 'HARD_STOP') {
      if (!e.hardStopSeen) {
        e.hardStopSeen = true;
        this.count('license_hard_stop');
      }
      if (!e.blockedSent) {
        e.blockedSent = true;
        return this.blocked();
      }
      return restore();
    }
    const traffic = (): Step => (this.rng.chance(0.5) ? F('tick', {}) : this.blocked());
    if (!e.outage) {
      if (e.latency > 0) {
        e.latency -= 1;
        return traffic();
      }
      return restore();
    }
    const until = c.grace_until_ms;
    if (until === null) return restore();
    // Any fact logged at or after the grace deadline fires Control_LicenseExpired.
    if (this.w.logMs >= until) return F('tick', {});
    if (this.canJump) {
      this.w.advance(until - this.w.logMs);
      return F('tick', {});
    }
    if (e.budget > 0) {
      e.budget -= 1;
      return traffic();
    }
    return restore();
  }
}
