/**
 * The HTTP gateway's error catalogue: every error answer the gateway itself produces, with its
 * HTTP status and the `status` field its body carries. Rejections decided by the writer are not
 * here: they are decision records and carry the core's rejection codes (src/core/model/codes.ts).
 * Clients match on `code`, never on `message`; every message starts with the field it names.
 */
import type { FastifyReply } from 'fastify';

/** Code → HTTP status, the body's `status` field (if any) and a one-line meaning. */
export const HTTP_ERRORS = {
  invalid_proposal: {
    http: 400, status: 'rejected',
    meaning: 'The POST /transition body is not a valid signed proposal; nothing was published.',
  },
  bad_signature: {
    http: 403, status: 'rejected',
    meaning: 'The gateway checked the signature before writing: it does not verify for the ' +
      'signer. Nothing was published.',
  },
  unknown_signer: {
    http: 403, status: 'rejected',
    meaning: 'The signer is not in the registry (as this instance last saw it). Nothing was ' +
      'published.',
  },
  unauthorized_role: {
    http: 403, status: 'rejected',
    meaning: 'The signer holds none of the roles the transition allows (in that project). ' +
      'Nothing was published.',
  },
  identity_expired: {
    http: 403, status: 'rejected',
    meaning: "The signer's not_after_ms has passed (by this instance's clock). Nothing was " +
      'published.',
  },
  unsupported_media_type: {
    http: 415, status: 'rejected',
    meaning: 'A POST body must be sent as Content-Type: application/json. Nothing was published.',
  },
  rate_limited: {
    http: 429, status: 'rejected',
    meaning: 'Too many proposals from this client or signer, or reads of the decision log from ' +
      'this client; retry after `retry_after_s` (also the Retry-After header). Nothing was ' +
      'published.',
  },
  body_too_large: {
    http: 413, status: 'rejected',
    meaning: 'The request body is larger than the configured limit; nothing was published.',
  },
  invalid_projection: {
    http: 400, status: 'rejected',
    meaning: 'GET /state: the projection names a section the state does not have.',
  },
  invalid_parameter: {
    http: 400, status: 'rejected',
    meaning: 'A path or query parameter is malformed, out of range or unknown.',
  },
  unauthorized: {
    http: 401, status: null,
    meaning: 'A read route needs Authorization: Bearer with the read or admin token.',
  },
  not_found: { http: 404, status: null, meaning: 'No such decision record (or route).' },
  decision_timeout: {
    http: 504, status: 'timeout',
    meaning: 'The proposal is in the WAL but its decision was not seen within the timeout.',
  },
  not_ready: {
    http: 503, status: null,
    meaning: 'The instance has not recovered its state or connected to NATS yet.',
  },
  license_expired: {
    http: 503, status: null,
    meaning: 'The licence was revoked and its grace period is over: the gateway writes ' +
      'nothing until it is active again. Reads and /health stay up.',
  },
  log_unavailable: {
    http: 503, status: null,
    meaning: 'NATS JetStream did not answer (publishing to the WAL or reading DECISIONS).',
  },
  project_unavailable: {
    http: 503, status: null,
    meaning: 'The project\'s document is out of this member\'s memory (evicted while idle) and ' +
      'no usable copy of it could be loaded from <P>_SNAPSHOTS; ask another member, or see ' +
      'docs/operations.md "Evicted projects".',
  },
  internal_error: { http: 500, status: null, meaning: 'A bug in the gateway; logged.' },
} as const satisfies Record<string, {
  readonly http: number;
  readonly status: 'rejected' | 'timeout' | null;
  readonly meaning: string;
}>;

/** A code of the gateway's catalogue. */
export type HttpErrorCode = keyof typeof HTTP_ERRORS;

/** Extra body fields an error may carry (`path`, `reason`, `wal_seq`). */
export type HttpErrorExtra = Readonly<Record<string, string | number>>;

/** An error answer: thrown by parsers and helpers, turned into a body by `sendError`. */
export class HttpError extends Error {
  /**
   * @param code the catalogued code
   * @param message what is wrong, starting with the field it names
   * @param extra further body fields (`path`, `reason`, `wal_seq`)
   */
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    readonly extra: HttpErrorExtra = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  /** The HTTP status of this error. */
  get http(): number {
    return HTTP_ERRORS[this.code].http;
  }

  /** The JSON body: `{status?, code, message, ...extra}`. */
  body(): Record<string, string | number> {
    const status = HTTP_ERRORS[this.code].status;
    return {
      ...(status === null ? {} : { status }),
      code: this.code,
      message: this.message,
      ...this.extra,
    };
  }
}

/** Invalid proposal: `reason` is the core's specific code, `path` the field. */
export function invalidProposal(reason: string, path: string, message: string): HttpError {
  return new HttpError('invalid_proposal', message, { reason, path });
}

/** A bad path or query parameter, named by `path`. */
export function invalidParameter(path: string, message: string): HttpError {
  return new HttpError('invalid_parameter', `${path}: ${message}`, { path });
}

/** Send an error answer. */
export function sendError(reply: FastifyReply, err: HttpError): FastifyReply {
  const wait = err.extra['retry_after_s'];
  if (typeof wait === 'number') void reply.header('retry-after', String(wait));
  return reply.code(err.http).type('application/json; charset=utf-8').send(err.body());
}
