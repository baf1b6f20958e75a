/**
 * BACKBEAT's published message formats, as SWOOSH speaks them (docs/feeders.md, "BACKBEAT
 * formats"). One versioned place: what is known of INT-A comes from BACKBEAT's public
 * documentation (JSON Schema `…/backbeat/beatframe/v1.0.0`, `additionalProperties: false`);
 * where the documentation names a field without its type (the `metadata` members), the type
 * here is SWOOSH's reading of it, marked so, and is corrected here alone. The feeder checks
 * every frame against this schema with ajv (a well-kept JSON Schema validator; never on the
 * deterministic path: the core checks the fields it records with its own code).
 */
import Ajv2020Module, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/** The version of this file's reading of the BACKBEAT formats. */
export const BACKBEAT_FORMATS_VERSION = '1.0.0';

/** INT-A beat frame v1.0.0. */
export const INT_A_BEATFRAME_SCHEMA = {
  $id: 'https://chorus.services/schemas/backbeat/beatframe/v1.0.0',
  type: 'object',
  additionalProperties: false,
  required: [
    'type', 'cluster_id', 'beat_index', 'downbeat', 'phase', 'hlc', 'deadline_at', 'tempo_bpm',
    'window_id',
  ],
  properties: {
    type: { const: 'backbeat.beatframe.v1' },
    cluster_id: { type: 'string', minLength: 1 },
    beat_index: { type: 'integer', minimum: 0 },
    downbeat: { type: 'boolean' },
    phase: { enum: ['plan', 'execute', 'review'] },
    // wall:logical:node, each four hex digits.
    hlc: { type: 'string', pattern: '^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$' },
    // RFC 3339 as SWOOSH reads it (ajv's date-time also takes `+0200`, `+02` and a space).
    deadline_at: {
      type: 'string', format: 'date-time',
      pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?' +
        '([Zz]|[+-][0-9]{2}:[0-9]{2})$',
    },
    tempo_bpm: { type: 'number', minimum: 0.1, maximum: 1000, default: 2.0 },
    // Changes every bar.
    window_id: { type: 'string', pattern: '^[0-9a-fA-F]{32}$' },
    metadata: {
      type: 'object',
      // The documentation names these three; their types are SWOOSH's reading of it.
      properties: {
        pulse_version: { type: 'string' },
        cluster_health: { type: 'string' },
        expected_agents: { type: 'integer', minimum: 0 },
      },
    },
  },
} as const;

/** INT-B status claim (read by nothing yet; kept with INT-A so both change in one place). */
export const INT_B_STATUSCLAIM_SCHEMA = {
  $id: 'https://chorus.services/schemas/backbeat/statusclaim/v1.0.0',
  type: 'object',
  required: ['type', 'agent_id', 'beat_index', 'state', 'hlc'],
  properties: {
    type: { const: 'backbeat.statusclaim.v1' },
    agent_id: { type: 'string', minLength: 1 },
    task_id: { type: 'string' },
    beat_index: { type: 'integer', minimum: 0 },
    state: {
      enum: ['idle', 'planning', 'executing', 'reviewing', 'completed', 'failed', 'blocked',
        'helping'],
    },
    beats_left: { type: 'integer', minimum: 0 },
    progress: { type: 'number', minimum: 0, maximum: 1 },
    notes: { type: 'string', maxLength: 256 },
    hlc: { type: 'string', pattern: '^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$' },
  },
} as const;

// ajv and ajv-formats are CommonJS; under NodeNext their default export is the module object.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;
const ajv = new Ajv2020({ allErrors: false, strict: true, useDefaults: false });
addFormats(ajv);
const beatFrame: ValidateFunction = ajv.compile(INT_A_BEATFRAME_SCHEMA);
const statusClaim: ValidateFunction = ajv.compile(INT_B_STATUSCLAIM_SCHEMA);

/** The first problem of `v` as an INT-A beat frame (`field`, `message`), or null. */
export function intABeatFrameProblem(v: unknown): { field: string; message: string } | null {
  return problemOf(beatFrame, v);
}

/** The first problem of `v` as an INT-B status claim, or null. */
export function intBStatusClaimProblem(v: unknown): { field: string; message: string } | null {
  return problemOf(statusClaim, v);
}

type Problem = { field: string; message: string } | null;

function problemOf(validate: ValidateFunction, v: unknown): Problem {
  if (validate(v)) return null;
  const e: ErrorObject | undefined = validate.errors?.[0];
  if (e === undefined) return { field: 'frame', message: 'does not match the schema' };
  const extra = e.keyword === 'additionalProperties'
    ? `/${String((e.params as { additionalProperty?: unknown }).additionalProperty)}`
    : e.keyword === 'required'
      ? `/${String((e.params as { missingProperty?: unknown }).missingProperty)}`
      : '';
  const path = `${e.instancePath}${extra}`.split('/').filter((x) => x !== '').join('.');
  const what = e.keyword === 'additionalProperties' ? 'is not a field of the format'
    : e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid');
  return { field: path === '' ? 'frame' : `frame.${path}`, message: what };
}
