/**
 * An independent reference model of the statechart for the property tests. It imports no code
 * from src/core: its tables come from reading src/chart/statechart.yaml with the yaml package,
 * and it keeps its own configuration (top state, history, licence grace, each region's local
 * state), its own identity registry, idempotency memory and last HLC stamp. For every entry it
 * predicts the outcome class of the fixed checks of ARCHITECTURE §3 in their documented order:
 *
 *   schema → signature → signer known → role → idem (duplicate) → HLC (regression, skew) →
 *   gates (terminated, quarantine, licence) → phase (active_in, from) → concurrency → guards
 *
 * A check disabled or reordered in the core shows up as a wrong outcome here, not as a hash
 * that agrees with itself. What it does not model, and so leaves to the core: the guards'
 * verdicts (it only insists the failing guard is one the chart lists for the transition), the
 * input schemas (the generator only produces valid inputs, so any invalid_inputs is flagged),
 * the fact payload rules, and whether a return to EXECUTION after a compensation lands in
 * RECOVERY when every lifecycle region is READY again, and whether an ejection leaves the council
 * in ELECT or PLAN_ROLES (either is accepted, then followed).
 * The only core output it reads besides the decision is the pre-step HEAD/section hash that
 * `current_state_hash` must name: hashing is not the check under test, comparing is.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Decision, StateHashes, WalEntry } from '../../src/core/index.js';

interface Spec {
  readonly name: string;
  readonly region: string;
  readonly active_in: readonly string[];
  readonly from: readonly string[];
  readonly to: string | null;
  readonly top: string | null;
  readonly roles: readonly string[];
  readonly guards: readonly string[];
  readonly scope: 'global' | 'region';
  readonly monotone: boolean;
  readonly automatic: boolean;
}

interface ChartDoc {
  top: { initial: string };
  regions: Record<string, { initial?: string; states: string[] }>;
  transitions: {
    name: string; region: string; active_in: string[]; from?: string[]; to?: string; top?: string;
    roles?: string[]; guards?: string[]; scope: 'global' | 'region'; coordination: string; automatic?: boolean;
  }[];
}

const doc = parse(readFileSync(new URL('../../src/chart/statechart.yaml', import.meta.url), 'utf8')) as ChartDoc;

/** Transition name → its row, as the YAML says. */
export const SPECS: ReadonlyMap<string, Spec> = new Map(doc.transitions.map((t) => [t.name, {
  name: t.name, region: t.region, active_in: t.active_in, from: t.from ?? [], to: t.to ?? null, top: t.top ?? null,
  roles: t.roles ?? [], guards: t.guards ?? [], scope: t.scope, monotone: t.coordination === 'monotone',
  automatic: t.automatic === true,
}]));
const REGIONS_WITH_STATES = Object.entries(doc.regions).filter(([, r]) => r.states.length > 0).map(([n]) => n);
const LIFECYCLE = ['ingestion', 'council', 'environment'];
/** Tops that some `$history` transition leaves: entering them saves the configuration. */
const HISTORY_TOPS = new Set([...SPECS.values()].filter((s) => s.top === '$history').flatMap((s) => s.active_in));
const SCHEMA_CODES = new Set(['malformed_envelope', 'invalid_proposal', 'invalid_fact', 'non_canonical_body',
  'unknown_transition', 'not_proposable', 'subject_mismatch']);

/** What the model expects of one entry. */
export type Expected =
  | { readonly kind: 'rejected'; readonly codes: readonly string[] }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'fact' }
  /** Passed every fixed check: accepted, quarantined, or refused by one of these guards. */
  | { readonly kind: 'guarded'; readonly guards: readonly string[] };

interface Stamp { ms: number; logical: number; signer: string; idem: string }

const HLC_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})\+00:00#(0|[1-9]\d{0,8})$/;
function parseStamp(hlc: unknown): { ms: number; logical: number } | null {
  if (typeof hlc !== 'string') return null;
  const m = HLC_RE.exec(hlc);
  if (m === null) return null;
  const ms = Date.parse(`${m[1] ?? ''}Z`);
  return Number.isNaN(ms) ? null : { ms, logical: Number(m[2]) };
}
const cmpText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
function cmpStamp(a: Stamp, b: Stamp): number {
  return Math.sign(a.ms - b.ms) || Math.sign(a.logical - b.logical) || cmpText(a.signer, b.signer) || cmpText(a.idem, b.idem);
}

/** Configuration the model needs from genesis (data, not logic). */
export interface OracleConfig {
  readonly identities: Record<string, { readonly roles: readonly string[] }>;
  readonly idem_retention_ms: number;
  readonly idem_max: number;
  readonly max_clock_skew_ms: number;
  readonly license_grace_ms: number;
}

/** The reference model. */
export class Oracle {
  top = doc.top.initial;
  history: string[] = [];
  degraded: 'GRACE' | 'HARD_STOP' | null = null;
  graceUntil: number | null = null;
  readonly local = new Map<string, string>(REGIONS_WITH_STATES.map((r) => [r, doc.regions[r]?.initial ?? '']));
  /** A lifecycle transition was applied since Lifecycle_AllReady pinned the regions. */
  lifecycleTouched = false;
  private readonly ids = new Map<string, string[]>();
  private idem: { key: string; ms: number }[] = [];
  private last: Stamp | null = null;
  private readonly factHlc = new Map<string, { ms: number; logical: number }>();

  constructor(private readonly cfg: OracleConfig) {
    for (const [k, v] of Object.entries(cfg.identities)) this.ids.set(k, [...v.roles]);
  }

  /** Predict the outcome class of `entry` from the model alone. */
  expect(entry: WalEntry, pre: StateHashes): Expected {
    const no = (...codes: string[]): Expected => ({ kind: 'rejected', codes });
    if (entry.type === 'malformed') return no('malformed_envelope');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(entry.body) as Record<string, unknown>;
    } catch {
      return no(entry.channel === 'fact' ? 'invalid_fact' : 'invalid_proposal');
    }
    if (entry.channel === 'fact') return this.expectFact(entry, body);
    const spec = SPECS.get(String(body['transition']));
    if (spec === undefined) return no('unknown_transition');
    if (spec.automatic) return no('not_proposable');
    if (entry.name !== spec.name) return no('subject_mismatch');
    const hlc = parseStamp(body['hlc']);
    if (hlc === null) return no('invalid_proposal');
    if (!entry.sig) return no('bad_signature');
    const signer = String(body['signer']);
    const roles = this.ids.get(signer);
    if (roles === undefined) return no('unknown_signer');
    if (!spec.roles.some((r) => roles.includes(r))) return no('unauthorized_role');
    const idem = String(body['idem_key']);
    if (this.idem.some((e) => e.key === idem)) return { kind: 'duplicate' };
    if (this.last !== null && cmpStamp({ ...hlc, signer, idem }, this.last) <= 0) return no('hlc_regression');
    if (hlc.ms > entry.log_ms + this.cfg.max_clock_skew_ms) return no('hlc_too_far_ahead');
    const gate = this.gate(spec, entry.log_ms);
    if (gate !== null) return no(gate);
    if (!spec.active_in.includes(this.top)) return no('invalid_phase');
    if (spec.from.length > 0 && !spec.from.includes(this.local.get(spec.region) ?? '-')) return no('invalid_phase');
    if (!spec.monotone) {
      const regional = spec.scope === 'region' && this.local.has(spec.region);
      const want = regional ? pre.sections[spec.region as keyof StateHashes['sections']] : pre.head;
      if (body['current_state_hash'] !== want) return no('stale_state_hash');
    }
    return { kind: 'guarded', guards: spec.guards };
  }

  private gate(spec: Spec, logMs: number): string | null {
    if (this.top === 'TERMINATED') return 'terminated';
    if (this.top === 'QUARANTINED' && !spec.active_in.includes('QUARANTINED')) return 'in_quarantine';
    if (this.top === 'BOOT' && spec.region !== 'boot' && !spec.active_in.includes('BOOT')) return 'not_licensed';
    if (this.top === 'DEGRADED') {
      const over = this.degraded === 'HARD_STOP' || (this.graceUntil !== null && logMs >= this.graceUntil);
      if (over && spec.name !== 'Control_Terminate') return 'license_expired';
      if (!spec.active_in.includes('DEGRADED')) return 'license_degraded';
    }
    return null;
  }

  private expectFact(entry: Extract<WalEntry, { type: 'signed' }>, body: Record<string, unknown>): Expected {
    const kind = String(body['kind']);
    if (entry.name !== kind) return { kind: 'rejected', codes: ['subject_mismatch'] };
    const hlc = parseStamp(body['hlc']);
    if (hlc === null) return { kind: 'rejected', codes: ['invalid_fact'] };
    if (!entry.sig) return { kind: 'rejected', codes: ['bad_signature'] };
    const roles = this.ids.get(String(body['signer']));
    if (roles === undefined) return { kind: 'rejected', codes: ['unknown_signer'] };
    if (!roles.includes('feeder')) return { kind: 'rejected', codes: ['unauthorized_role'] };
    const prev = this.factHlc.get(kind);
    if (prev !== undefined && (hlc.ms - prev.ms || hlc.logical - prev.logical) <= 0) {
      return { kind: 'rejected', codes: ['stale_fact'] };
    }
    if (hlc.ms > entry.log_ms + this.cfg.max_clock_skew_ms) return { kind: 'rejected', codes: ['hlc_too_far_ahead'] };
    return { kind: 'fact' };
  }

  /**
   * Compare the core's decision with the prediction; null when they agree, else why not.
   * Then follow the decision: remember what an accepted or quarantined proposal leaves behind
   * and apply each applied transition as the chart describes it, checking it was legal.
   */
  judge(entry: WalEntry, exp: Expected, d: Decision): string | null {
    const got = `${d.outcome}${d.code === null ? '' : `/${d.code}`}${d.failing_guard === null ? '' : `@${d.failing_guard}`}`;
    const wrong = (want: string): string => `seq ${d.seq} ${d.transition ?? '?'}: expected ${want}, core said ${got}`;
    switch (exp.kind) {
      case 'rejected':
        if (d.outcome !== 'rejected' || !exp.codes.includes(d.code ?? '')) return wrong(`rejected ${exp.codes.join('|')}`);
        return null;
      case 'duplicate':
        return d.outcome === 'duplicate' ? null : wrong('duplicate');
      case 'fact':
        if (d.outcome === 'fact') break;
        if (d.outcome === 'rejected' && (d.code === 'stale_fact' || d.code === 'invalid_fact')) return null;
        return wrong('fact');
      case 'guarded': {
        if (d.outcome === 'rejected' && exp.guards.includes(d.failing_guard ?? '') && !SCHEMA_CODES.has(d.code ?? '')) return null;
        if (d.outcome === 'quarantined') {
          if (!exp.guards.includes('policy') || d.applied.join() !== 'Policy_Quarantine') return wrong('a policy quarantine');
        } else if (d.outcome !== 'accepted' || d.applied[0] !== d.transition) {
          return wrong(`accepted or refused by [${exp.guards.join(', ')}]`);
        }
        this.remember(entry, d);
        break;
      }
    }
    for (const name of d.applied) {
      const problem = this.apply(name, d);
      if (problem !== null) return `seq ${d.seq}: ${problem}`;
    }
    if (d.outcome === 'fact' && entry.type === 'signed') {
      const body = JSON.parse(entry.body) as { kind: string; hlc: string };
      const hlc = parseStamp(body.hlc);
      if (hlc !== null) this.factHlc.set(body.kind, hlc);
    }
    return null;
  }

  private remember(entry: WalEntry, d: Decision): void {
    if (entry.type !== 'signed') return;
    const body = JSON.parse(entry.body) as { signer: string; idem_key: string; hlc: string; inputs: Record<string, unknown> };
    const hlc = parseStamp(body.hlc);
    if (hlc === null) return;
    this.last = { ...hlc, signer: body.signer, idem: body.idem_key };
    this.idem.push({ key: body.idem_key, ms: hlc.ms });
    const cutoff = hlc.ms - this.cfg.idem_retention_ms;
    while (this.idem.length > 0 && ((this.idem[0]?.ms ?? 0) < cutoff || this.idem.length > this.cfg.idem_max)) this.idem.shift();
    if (d.outcome === 'accepted' && (d.transition === 'Identity_Grant' || d.transition === 'Identity_Revoke')) {
      const who = String(body.inputs['identity']);
      const roles = body.inputs['roles'] as string[];
      const have = this.ids.get(who) ?? [];
      const next = d.transition === 'Identity_Grant' ? [...new Set([...have, ...roles])] : have.filter((r) => !roles.includes(r));
      if (next.length > 0) this.ids.set(who, next);
      else this.ids.delete(who);
    }
  }

  /** Apply one transition as the chart says; a string when it was not legal from the model's configuration. */
  private apply(name: string, d: Decision): string | null {
    const spec = SPECS.get(name);
    if (spec === undefined) return `applied unknown transition ${name}`;
    if (!spec.active_in.includes(this.top)) return `${name} applied in ${this.top}, chart allows [${spec.active_in.join(', ')}]`;
    if (spec.from.length > 0 && !spec.from.includes(this.local.get(spec.region) ?? '-')) {
      return `${name} applied from ${spec.region}=${this.local.get(spec.region) ?? '-'}`;
    }
    if (spec.to !== null) this.local.set(spec.region, spec.to);
    if (LIFECYCLE.includes(spec.region)) this.lifecycleTouched = true;
    if (name === 'Lifecycle_AllReady') {
      this.local.set('execution', doc.regions['execution']?.initial ?? 'PLAN');
      this.lifecycleTouched = false;
    }
    // Quorum lost: the council must be re-elected (statechart doc of RECOVERY; not a `to`).
    if (name === 'Execution_QuorumLost') this.local.set('council', 'ELECT');
    // Eject recomputes the plan: ELECT with full coverage, else PLAN_ROLES (chart doc; coverage
    // is not modelled, so either is accepted and then followed).
    if (name === 'Council_Eject') this.local.set('council', 'ELECT|PLAN_ROLES');
    if (name === 'Control_LicenseGrace') {
      this.degraded = 'GRACE';
      this.graceUntil = d.log_ms + this.cfg.license_grace_ms;
    }
    if (name === 'Control_LicenseExpired') this.degraded = 'HARD_STOP';
    if (spec.top !== null) return this.moveTop(spec.top, d);
    return null;
  }

  private moveTop(target: string, d: Decision): string | null {
    const left = this.top;
    if (target === '$history') {
      const saved = this.history.pop();
      if (saved === undefined) return `${target} with an empty history`;
      let next = saved;
      if (saved === 'EXECUTION') {
        const allReady = LIFECYCLE.every((r) => this.local.get(r) === 'READY');
        // Not READY: must land in RECOVERY. READY after a compensation: the pins decide (not modelled).
        if (!allReady) next = 'RECOVERY';
        else if (this.lifecycleTouched) next = d.applied.length > 0 ? '?' : saved;
      }
      this.top = next;
      if (left === 'DEGRADED') {
        this.degraded = null;
        this.graceUntil = null;
      }
      return null;
    }
    if (target === 'TERMINATED') {
      this.top = target;
      this.history = [];
      this.degraded = null;
      return null;
    }
    if (target === left) return null;
    if (HISTORY_TOPS.has(target)) this.history.push(left);
    this.top = target;
    return null;
  }

  /** After a step: the core's configuration must be the model's ('?' adopts the core's choice). */
  compare(top: string, regions: Readonly<Record<string, string>>, seq: number): string | null {
    if (this.top === '?') {
      if (top !== 'EXECUTION' && top !== 'RECOVERY') return `seq ${seq}: return from history landed in ${top}`;
      this.top = top;
    }
    if (top !== this.top) return `seq ${seq}: core top ${top}, model ${this.top}`;
    for (const [r, s] of this.local) {
      const core = regions[r] ?? '-';
      if (!s.split('|').includes(core)) return `seq ${seq}: core ${r}=${core}, model ${s}`;
      this.local.set(r, core);
    }
    return null;
  }
}
