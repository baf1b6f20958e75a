/**
 * Operating errors: failures of the imperative shell (the NATS server, streams, HTTP,
 * snapshots), as opposed to rejections (values in decision records) and programmer errors
 * (assertions). Every code is listed once in OPERATING_ERRORS; callers match on `code`,
 * never on the message text. The writer's own error classes (FencedError, PublishRefusedError,
 * PublishTimeoutError) carry catalogued codes too, checked by `satisfies OperatingErrorCode`.
 */

/** Operating-error code → one-line description of what went wrong. */
export const OPERATING_ERRORS = {
  nats_server_missing:
    'No nats-server binary was found (NATS_SERVER_BIN, PATH, /usr/sbin/nats-server).',
  nats_server_start_failed:
    'The nats-server child process exited or did not answer before the startup timeout.',
  stream_drift:
    'A live stream, KV bucket or consumer differs from its definition in streams/.',
  stream_apply_failed:
    'Creating or inspecting a stream, KV bucket or consumer failed on the server.',
  wal_tail_lost:
    'DECISIONS holds records for WAL entries the WAL no longer has: its tail was lost.',
  wal_sequence_reused:
    'A verified snapshot names a WAL entry that is not the one now at its sequence.',
  record_format_mismatch:
    'DECISIONS holds records of another format version; this SWOOSH cannot replay them equal.',
  dr_signature_invalid:
    'A stored decision record carries a signature that does not verify for its writer.',
  unknown_writer:
    'A stored decision record is signed by a key the registry did not hold as a writer there.',
  writer_not_registered:
    'This instance\'s writer key is not a writer in the registry, so it does not write.',
  invalid_genesis: 'The genesis file is unreadable or invalid; the message names the field.',
  invalid_key_file: 'The key file is unreadable, malformed, or its signer does not match.',
  genesis_mismatch:
    'The deployment at this prefix was created with another genesis (or chart) than this instance.',
  invalid_config: 'A configuration value (flag or environment variable) is invalid.',
  fenced: 'Another writer holds the log: a fenced publish was refused as wrong last sequence.',
  publish_refused: 'JetStream refused a publish with an API error (err_code names it).',
  publish_timeout: 'No PubAck arrived for a publish within the timeout.',
  project_unavailable:
    'A project evicted from memory could not be loaded: no usable copy in <P>_SNAPSHOTS.',
} as const;

/** A stable operating-error code. */
export type OperatingErrorCode = keyof typeof OPERATING_ERRORS;

/** Options of a SwooshError beyond its code and message. */
export interface SwooshErrorOptions {
  /** True when trying the same operation again may succeed (e.g. a transient outage). */
  readonly retryable?: boolean;
  /** The underlying error, kept for logs and debugging. */
  readonly cause?: unknown;
}

/** An operating error of the shell, with a catalogued code and a retry hint. */
export class SwooshError extends Error {
  /** The catalogued code; match on this, never on the message. */
  readonly code: OperatingErrorCode;
  /** True when retrying may succeed; false when an operator has to act first. */
  readonly retryable: boolean;
  /** The underlying error, if any. */
  override readonly cause: unknown;

  /**
   * @param options the retry hint and cause; a bare boolean is shorthand for `{ retryable }`.
   */
  constructor(
    code: OperatingErrorCode,
    message: string,
    options: SwooshErrorOptions | boolean = {},
  ) {
    const opts = typeof options === 'boolean' ? { retryable: options } : options;
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SwooshError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.cause = opts.cause;
  }
}

/** True when `err` is a SwooshError, optionally with the given code. */
export function isSwooshError(err: unknown, code?: OperatingErrorCode): err is SwooshError {
  return err instanceof SwooshError && (code === undefined || err.code === code);
}
