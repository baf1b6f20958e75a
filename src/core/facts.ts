/**
 * Facts (ARCHITECTURE §6): how the outside world enters without breaking replay. Each kind
 * has a payload schema and a rule that turns the payload into the stored fact value.
 */
import type { InputSchema } from './model/chart-spec.js';
import type { RejectionCode } from './model/codes.js';
import { policyRulesFrom } from './genesis.js';
import { compareHlc, parseHlc, parseRfc3339Ms } from './model/hlc.js';
import { str, type JsonObject } from './encoding/json.js';
import { validateInputs } from './encoding/schema.js';
import type { FactsSection, State } from './model/state.js';
import type { FactKind } from './model/types.js';

const strSchema = (maxLength = 200): InputSchema => ({ type: 'string', minLength: 1, maxLength });
const intSchema = (maximum = Number.MAX_SAFE_INTEGER): InputSchema => ({
  type: 'integer',
  minimum: 0,
  maximum,
});

/** INT-A's tempo bounds (beats per minute; fractional allowed). */
export const TEMPO_BPM_MIN = 0.1;
export const TEMPO_BPM_MAX = 1000;

/** Payload schemas by kind. Policy payloads are checked by policyRulesFrom. */
export const FACT_PAYLOAD_SCHEMAS: { readonly [K in Exclude<FactKind, 'policy'>]: InputSchema } = {
  license: {
    type: 'object',
    required: ['status'],
    properties: {
      status: { type: 'string', enum: ['active', 'revoked'] },
      license_id: strSchema(),
    },
  },
  // BACKBEAT INT-A beat frames as BACKBEAT publishes them (ARCHITECTURE §6): its own `hlc`
  // (`XXXX:XXXX:XXXX`, hex; kept as data), a fractional `tempo_bpm`, an RFC 3339
  // `deadline_at`. The feeder checks a frame against the whole INT-A schema first
  // (src/feeders/chorus/); these are the fields the core records, checked by SWOOSH's own code.
  backbeat: {
    type: 'object',
    required: [
      'type',
      'cluster_id',
      'beat_index',
      'downbeat',
      'phase',
      'hlc',
      'deadline_at',
      'tempo_bpm',
      'window_id',
    ],
    properties: {
      type: strSchema(),
      cluster_id: strSchema(),
      beat_index: intSchema(),
      downbeat: { type: 'boolean' },
      phase: { type: 'string', enum: ['plan', 'execute', 'review'] },
      hlc: strSchema(),
      deadline_at: strSchema(64),
      tempo_bpm: { type: 'number', minimum: TEMPO_BPM_MIN, maximum: TEMPO_BPM_MAX },
      window_id: strSchema(),
    },
  },
  mcp: {
    type: 'object',
    required: ['tools'],
    properties: {
      tools: {
        type: 'array',
        maxItems: 1000,
        uniqueItems: true,
        items: {
          type: 'object',
          required: ['name', 'reachable', 'version'],
          properties: { name: strSchema(), reachable: { type: 'boolean' }, version: strSchema() },
        },
      },
    },
  },
  capacity: {
    type: 'object',
    required: ['cpu_millis', 'memory_mb', 'slots'],
    properties: { cpu_millis: intSchema(), memory_mb: intSchema(), slots: intSchema() },
  },
  tick: { type: 'object', properties: {} },
};

/** Why a fact was refused. */
export interface FactProblem {
  readonly code: RejectionCode;
  readonly message: string;
}

/** A validated fact ready to be stored as `facts[kind]`. */
export type FactUpdate =
  | { readonly ok: true; readonly value: JsonObject }
  | { readonly ok: false; readonly problem: FactProblem };

const bad = (code: RejectionCode, message: string): FactUpdate => ({
  ok: false,
  problem: { code, message },
});

/** Schema check of a payload (before the signature check, as ARCHITECTURE §3 orders). */
export function checkFactPayload(kind: FactKind, payload: JsonObject): FactProblem | null {
  if (kind === 'policy') {
    const r = policyRulesFrom(payload, 'payload');
    return r.ok ? null : { code: 'invalid_fact', message: `${r.error.path}: ${r.error.message}` };
  }
  const err = validateInputs(FACT_PAYLOAD_SCHEMAS[kind], payload, 'payload');
  if (err !== null) return { code: 'invalid_fact', message: `${err.path}: ${err.message}` };
  if (kind === 'backbeat' && parseRfc3339Ms(str(payload, 'deadline_at')) === null) {
    return {
      code: 'invalid_fact',
      message: 'payload.deadline_at: expected an RFC 3339 date-time in 1970..9999 ' +
        '(YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM))',
    };
  }
  return null;
}

function backbeatValue(facts: FactsSection, hlc: string, p: JsonObject): FactUpdate {
  const prev = facts.backbeat;
  const cluster = str(p, 'cluster_id');
  const beat = p['beat_index'] as number;
  if (prev.cluster_id === cluster && beat <= prev.beat_index) {
    return bad(
      'stale_fact',
      `beat ${beat} is not after beat ${prev.beat_index} of cluster ${prev.cluster_id}`,
    );
  }
  return {
    ok: true,
    value: {
      hlc, cluster_id: cluster, beat_index: beat, downbeat: p['downbeat'] === true,
      phase: str(p, 'phase'), window_id: str(p, 'window_id'),
      deadline_ms: parseRfc3339Ms(str(p, 'deadline_at')),
      // Whole milli-beats per minute: the state holds integers only (IEEE multiplication and
      // Math.round are exact by the language's definition, so every runtime agrees).
      tempo_mbpm: Math.round((p['tempo_bpm'] as number) * 1000),
      source_hlc: str(p, 'hlc'),
    },
  };
}

/**
 * The new stored value of `facts[kind]` given a schema-valid payload, or why the fact is
 * stale. `logMs` is the entry's log time.
 */
export function factValue(
  facts: FactsSection,
  kind: FactKind,
  hlc: string,
  payload: JsonObject,
  logMs: number,
): FactUpdate {
  switch (kind) {
    case 'license': {
      const status = payload['status'] as 'active' | 'revoked';
      const prev = facts.license;
      const since = prev.status === status && prev.since_ms !== null ? prev.since_ms : logMs;
      const id = typeof payload['license_id'] === 'string' ? payload['license_id'] : null;
      return { ok: true, value: { status, hlc, since_ms: since, license_id: id } };
    }
    case 'backbeat':
      return backbeatValue(facts, hlc, payload);
    case 'mcp': {
      const tools: Record<string, JsonObject> = {};
      const list = payload['tools'] as readonly JsonObject[];
      const sorted = [...list].sort((a, b) => (str(a, 'name') < str(b, 'name') ? -1 : 1));
      for (const t of sorted) {
        tools[str(t, 'name')] = { reachable: t['reachable'] === true, version: str(t, 'version') };
      }
      return { ok: true, value: { hlc, tools } };
    }
    case 'policy': {
      const r = policyRulesFrom(payload, 'payload');
      if (!r.ok) return bad('invalid_fact', `${r.error.path}: ${r.error.message}`);
      if (r.value.version <= facts.policy.rules.version) {
        return bad(
          'stale_fact',
          `policy version ${r.value.version} is not after ${facts.policy.rules.version}`,
        );
      }
      return { ok: true, value: { hlc, rules: r.value as unknown as JsonObject } };
    }
    case 'capacity':
      return {
        ok: true,
        value: {
          hlc,
          cpu_millis: payload['cpu_millis'] as number,
          memory_mb: payload['memory_mb'] as number,
          slots: payload['slots'] as number,
          known: true,
        },
      };
    case 'tick':
      return { ok: true, value: { hlc, last_ms: logMs } };
  }
}

/** True when `hlc` is strictly after the kind's last recorded fact HLC. */
export function factIsNewer(facts: FactsSection, kind: FactKind, hlc: string): boolean {
  const prev = facts[kind].hlc;
  if (prev === null) return true;
  const a = parseHlc(hlc);
  const b = parseHlc(prev);
  return a.ok && b.ok && compareHlc(a.hlc, b.hlc) > 0;
}

/**
 * When the grace period of the deployment's revoked licence ends (the revoking fact's log time
 * plus `license_grace_ms`), or null while the licence is not revoked. The licence gate at the
 * network (the HTTP gateway, and feeders through the deployment bucket) shuts from then on.
 */
export function licenceGraceEndOf(deployment: State): number | null {
  const lic = deployment.facts.license;
  if (lic.status !== 'revoked' || lic.since_ms === null) return null;
  return lic.since_ms + deployment.meta.config.license_grace_ms;
}
