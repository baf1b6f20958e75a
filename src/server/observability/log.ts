/**
 * Structured logs: one JSON object per line (pino). Secrets never reach the output: known
 * secret keys are redacted by path, and errors are reduced to a fixed set of fields so an
 * error object cannot smuggle its own properties (a key, a token) into a line.
 */
import { pino } from 'pino';
import type { Decision, Outcome } from '../../core/index.js';

/**
 * Paths whose values are replaced by `[redacted]`. A pino wildcard matches exactly one level,
 * so each secret key is listed at the top level and one level down, and key material (keys,
 * seeds, passwords, tokens) two levels down as well. Deeper values are not covered: logging
 * code passes a config's parts, never the whole tree, and keeps keys under `keys.*`.
 */
export const REDACT_PATHS: readonly string[] = [
  'secret_key', 'secretKey', '*.secret_key', '*.secretKey', '*.*.secret_key', '*.*.secretKey',
  'private_key', 'privateKey', '*.private_key', '*.privateKey',
  '*.*.private_key', '*.*.privateKey',
  'seed', '*.seed', '*.*.seed',
  'keys.*', '*.keys.*',
  'password', '*.password', '*.*.password',
  'token', '*.token', '*.*.token',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
  'cookie', '*.cookie', 'headers.cookie', 'req.headers.cookie',
  'creds', '*.creds',
];

/** What replaces a redacted value. */
export const REDACTED = '[redacted]';

/**
 * How many causes an error serialization follows. Cause chains are short in practice; the
 * limit keeps a cyclic or runaway chain from producing an unbounded line.
 */
const CAUSE_DEPTH_MAX = 8;

/** An error as it appears in a log line. */
export interface SerializedError {
  readonly type: string;
  readonly message: string;
  readonly code?: string | number;
  readonly retryable?: boolean;
  readonly stack?: string;
  readonly cause?: SerializedError;
}

/** Options of createLogger. */
export interface LoggerOptions {
  /** pino level name; `info` unless given. */
  readonly level?: string;
  /** Where lines go; stdout unless given (tests pass an in-memory stream). */
  readonly destination?: pino.DestinationStream;
  /** The `name` field of every line. */
  readonly name?: string;
}

/** A SWOOSH logger. */
export type Logger = pino.Logger;

/** Creates a JSON-lines logger with secret redaction and the error serializer. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    serializers: { err: serializeError, error: serializeError },
    // Level names rather than numbers: readable in a terminal, matched by name in queries.
    formatters: { level: (label) => ({ level: label }) },
  };
  if (opts.name !== undefined) options.name = opts.name;
  return opts.destination === undefined ? pino(options) : pino(options, opts.destination);
}

/**
 * Reduces an error to type, message, code, retryable, stack and its cause chain. Other own
 * properties are dropped on purpose: they are not covered by redaction. A thrown non-Error
 * keeps only its type, and a string its text.
 */
export function serializeError(err: unknown): SerializedError {
  return serializeAt(err, 0, new Set());
}

function serializeAt(err: unknown, depth: number, seen: Set<unknown>): SerializedError {
  if (!(err instanceof Error)) {
    const message = typeof err === 'string' ? err : `non-error value of type ${typeOf(err)}`;
    return { type: typeOf(err), message };
  }
  seen.add(err);
  const fields = err as Error & { code?: unknown; retryable?: unknown };
  const out: {
    type: string;
    message: string;
    code?: string | number;
    retryable?: boolean;
    stack?: string;
    cause?: SerializedError;
  } = { type: err.name, message: err.message };
  if (typeof fields.code === 'string' || typeof fields.code === 'number') out.code = fields.code;
  if (typeof fields.retryable === 'boolean') out.retryable = fields.retryable;
  if (err.stack !== undefined) out.stack = err.stack;
  if (err.cause !== undefined) {
    if (seen.has(err.cause)) out.cause = { type: 'cycle', message: 'cause already serialized' };
    else if (depth + 1 >= CAUSE_DEPTH_MAX) {
      out.cause = { type: 'truncated', message: `cause chain longer than ${CAUSE_DEPTH_MAX}` };
    } else out.cause = serializeAt(err.cause, depth + 1, seen);
  }
  return out;
}

function typeOf(v: unknown): string {
  return v === null ? 'null' : typeof v;
}

/** The hashes around one decision, computed by the shell. */
export interface DecisionHashes {
  readonly state_pre_hash: string;
  readonly state_post_hash: string;
  readonly facts_post_hash: string;
}

/** The fields every decision log line carries (snake_case, as in the decision record). */
export interface DecisionLogFields {
  readonly state_pre_hash: string;
  readonly state_post_hash: string;
  readonly facts_post_hash: string;
  readonly transition: string | null;
  readonly hlc: string | null;
  readonly window_id: string | null;
  readonly wal_seq: number;
  readonly outcome: Outcome;
  readonly code: string | null;
  readonly failing_guard: string | null;
  readonly applied: readonly string[];
  readonly region: string | null;
  readonly signer: string | null;
  /** The decision record's id, once it is known. */
  readonly dr_id?: string;
}

/** The keys every decision log line carries, whatever the outcome. */
export const DECISION_LOG_KEYS = [
  'state_pre_hash', 'state_post_hash', 'transition', 'hlc', 'window_id', 'wal_seq', 'outcome',
  'code', 'failing_guard', 'applied', 'region', 'signer',
] as const satisfies readonly (keyof DecisionLogFields)[];

/**
 * The log fields of one decision. Null fields stay (as null) so every line has the same keys
 * and queries need no existence checks; inputs, evidence and messages stay out: they are in
 * the decision record, and a log line should not copy producer-supplied text.
 */
export function decisionLogFields(
  d: Decision,
  hashes: DecisionHashes,
  extra: { readonly dr_id?: string } = {},
): DecisionLogFields {
  const fields: DecisionLogFields = {
    state_pre_hash: hashes.state_pre_hash,
    state_post_hash: hashes.state_post_hash,
    facts_post_hash: hashes.facts_post_hash,
    transition: d.transition,
    hlc: d.hlc,
    window_id: d.window_id,
    wal_seq: d.seq,
    outcome: d.outcome,
    code: d.code,
    failing_guard: d.failing_guard,
    applied: [...d.applied],
    region: d.region,
    signer: d.signer,
  };
  return extra.dr_id === undefined ? fields : { ...fields, dr_id: extra.dr_id };
}
