/**
 * decide for facts: schema → signature → feeder authorized → newer than the recorded fact and
 * not too far ahead → record it, then fire any automatic transitions it triggers.
 */
import { baseOf, expiredMessage, factRecorded, passed, rejection } from './decision.js';
import { parseCanonical } from '../encoding/canonical.js';
import type { DecideDeps } from './deps.js';
import { checkFactPayload, factIsNewer, factValue } from '../facts.js';
import { parseHlc } from '../model/hlc.js';
import { isJsonObject, type JsonObject } from '../encoding/json.js';
import { automaticTransitions } from './auto.js';
import { FACT_KINDS, expiredAt, rolesIn, type State } from '../model/state.js';
import type { CoreEvent, Decision, FactKind, WalEntry } from '../model/types.js';
import { SIGNER_RE } from '../model/ids.js';

const FACT_FIELDS = ['hlc', 'kind', 'payload', 'signer'];

type Signed = Extract<WalEntry, { type: 'signed' }>;

function shapeProblem(o: JsonObject): string | null {
  const extra = Object.keys(o).sort().find((k) => !FACT_FIELDS.includes(k));
  if (extra !== undefined) return `${extra}: unknown field`;
  if (!(FACT_KINDS as readonly unknown[]).includes(o['kind'])) {
    return `kind: expected one of ${FACT_KINDS.join('|')}`;
  }
  if (typeof o['signer'] !== 'string' || !SIGNER_RE.test(o['signer'])) {
    return 'signer: expected hmmm:pubkey:<64 hex>';
  }
  if (typeof o['hlc'] !== 'string' || !parseHlc(o['hlc']).ok) return 'hlc: expected an HLC';
  if (!isJsonObject(o['payload'])) return 'payload: expected an object';
  return null;
}

/** Decide one fact entry. */
export function decideFact(deps: DecideDeps, state: State, entry: Signed): Decision {
  const body = parseCanonical(entry.body);
  if (!body.ok) {
    return rejection(
      baseOf(entry),
      body.canonical ? 'invalid_fact' : 'non_canonical_body',
      body.message,
    );
  }
  const o = body.value;
  const shape = shapeProblem(o);
  if (shape !== null) return rejection(baseOf(entry), 'invalid_fact', shape);
  const kind = o['kind'] as FactKind;
  const signer = o['signer'] as string;
  const hlc = o['hlc'] as string;
  const payload = o['payload'] as JsonObject;
  let base = baseOf(entry, { transition: kind, region: 'facts', signer, hlc, guard_outcomes: [] });
  if (entry.name !== kind) {
    return rejection(base, 'subject_mismatch', `subject names ${entry.name}, body names ${kind}`);
  }
  const problem = checkFactPayload(kind, payload);
  if (problem !== null) return rejection(base, problem.code, problem.message);
  base = { ...base, guard_outcomes: [passed('schema')] };
  if (!entry.sig) {
    return rejection(base, 'bad_signature', `signature does not verify for ${signer}`);
  }
  base = { ...base, guard_outcomes: [...base.guard_outcomes, passed('signature')] };
  const identity = state.identities[signer];
  if (identity === undefined) {
    return rejection(base, 'unknown_signer', `${signer} is not registered`);
  }
  if (expiredAt(identity, entry.log_ms)) {
    return rejection(base, 'identity_expired', expiredMessage(signer, identity.not_after_ms));
  }
  // Facts are the deployment's: an identity limited to projects holds no role here.
  const roles = rolesIn(identity, undefined);
  if (!roles.includes('feeder')) {
    return rejection(
      base,
      'unauthorized_role',
      `facts need the feeder role; signer has [${roles.join(', ')}]`,
    );
  }
  base = { ...base, guard_outcomes: [...base.guard_outcomes, passed('authorization')] };
  if (!factIsNewer(state.facts, kind, hlc)) {
    return rejection(
      base,
      'stale_fact',
      `hlc ${hlc} is not after the recorded ${kind} fact ${state.facts[kind].hlc ?? ''}`,
    );
  }
  const parsed = parseHlc(hlc);
  const skew = state.meta.config.max_clock_skew_ms;
  if (parsed.ok && parsed.hlc.ms > entry.log_ms + skew) {
    return rejection(
      base,
      'hlc_too_far_ahead',
      `hlc ${hlc} is ${parsed.hlc.ms - entry.log_ms} ms ahead of log time (max ${skew})`,
    );
  }
  const update = factValue(state.facts, kind, hlc, payload, entry.log_ms);
  if (!update.ok) return rejection(base, update.problem.code, update.problem.message);
  base = { ...base, guard_outcomes: [...base.guard_outcomes, passed('hlc')] };
  const facts = { ...state.facts, [kind]: update.value };
  const autos = automaticTransitions(deps, state, facts, kind, entry);
  const events: CoreEvent[] = [{ type: 'fact_recorded', kind, value: update.value }, ...autos];
  const fired = autos.map((a) => (a.type === 'auto_transition' ? a.name : ''));
  const why =
    fired.length > 0 ? `${kind} fact recorded; fired ${fired.join(', ')}` : `${kind} fact recorded`;
  return factRecorded(base, why, fired, events);
}
