/**
 * Automatic transitions: the reducer fires them when a fact changes what must happen, at the
 * fact's log time, so replay fires them at exactly the same entry.
 *
 * - licence revoked          → Control_LicenseGrace (grace ends log_ms + license_grace_ms)
 * - licence active, DEGRADED → Control_LicenseRestored (back to the saved configuration)
 * - any fact after the grace → Control_LicenseExpired (DEGRADED.HARD_STOP)
 * - newer policy that clears the recorded breach, QUARANTINED → Policy_AutoRelease
 */
import { evaluatePolicy } from '../domain/policy.js';
import type { DecideDeps } from './deps.js';
import type { FactsSection, State } from '../model/state.js';
import type { CoreEvent, FactKind, WalEntry } from '../model/types.js';

type Auto = Extract<CoreEvent, { type: 'auto_transition' }>;

function auto(name: string, entry: WalEntry, reason: string): Auto {
  return {
    type: 'auto_transition',
    name,
    seq: entry.seq,
    log_ms: entry.log_ms,
    reason,
    breach: null,
  };
}

function activeIn(deps: DecideDeps, name: string, top: string): boolean {
  return deps.specs.get(name)?.active_in.includes(top) ?? false;
}

/** Automatic transitions fired by recording `kind` (facts already include the new value). */
export function automaticTransitions(
  deps: DecideDeps,
  state: State,
  facts: FactsSection,
  kind: FactKind,
  entry: WalEntry,
): readonly Auto[] {
  const top = state.control.top;
  const out: Auto[] = [];
  if (kind === 'license') {
    const status = facts.license.status;
    if (status === 'revoked' && activeIn(deps, 'Control_LicenseGrace', top)) {
      const until = entry.log_ms + state.meta.config.license_grace_ms;
      out.push(auto('Control_LicenseGrace', entry, `licence revoked; grace until ${until}`));
      return out;
    }
    if (status === 'active' && top === 'DEGRADED') {
      out.push(auto('Control_LicenseRestored', entry, 'licence active again'));
      return out;
    }
  }
  const c = state.control;
  if (
    top === 'DEGRADED' &&
    c.degraded === 'GRACE' &&
    c.grace_until_ms !== null &&
    entry.log_ms >= c.grace_until_ms
  ) {
    out.push(auto('Control_LicenseExpired', entry, `grace ended at ${c.grace_until_ms}`));
  }
  const q = state.policy.quarantine;
  if (kind === 'policy' && top === 'QUARANTINED' && q !== null) {
    const b = q.breach;
    // The breach keeps the exact subject the rule was checked against (src/core/guards/policy).
    const subject = {
      uris: Array.isArray(b.inputs['uris']) ? b.inputs['uris'].map(String) : [],
      council_size: typeof b.inputs['council_size'] === 'number' ? b.inputs['council_size'] : null,
    };
    const still = evaluatePolicy(facts.policy.rules, b.transition, subject, b.evidence);
    if (still.length === 0) {
      out.push(
        auto(
          'Policy_AutoRelease',
          entry,
          `policy v${facts.policy.rules.version} clears: ${b.reasons.join('; ')}`,
        ),
      );
    }
  }
  return out;
}
