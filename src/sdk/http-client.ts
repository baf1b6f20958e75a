/**
 * A client of the HTTP API (ARCHITECTURE §4) over the platform's `fetch` (global in Node 20 and
 * browsers). Every answer the server gives — 4xx and 5xx included — is returned as a typed
 * value; only a failure to get an answer at all (connection refused, DNS, reset, timeout)
 * throws, as an {@link HttpNetworkError}. Portable: no node:* imports.
 */
import { CHART, type Outcome, isControlTransition, jcs } from '../core/index.js';
import type { DecisionRecord } from '../protocol/decision-record.js';
import {
  asDecisionRecord,
  asDecisionsPage,
  asDeploymentAnswer,
  asHealthAnswer,
  asProjectsPage,
  asStateAnswer,
  parseRead,
  parseSubmitAnswer,
  type DecisionsPage,
  type DeploymentAnswer,
  type ProjectsPage,
  type HealthAnswer,
  type HttpResult,
  type StateAnswer,
  type SubmitAnswer,
} from './answers.js';
import type { SignedProposal } from './proposal.js';

/**
 * Default per-request timeout. Why 30 s: `POST /transition` waits for the decision and the
 * server answers 504 on its own timeout first; the client's must be longer so a slow decision
 * still gets an answer instead of a network error.
 */
export const HTTP_TIMEOUT_MS_DEFAULT = 30_000;
/** Longest accepted timeout (10 minutes): anything longer is a mistake, not a wait. */
export const HTTP_TIMEOUT_MS_MAX = 600_000;

/** The `fetch` signature this client needs (the global one, or a test double). */
export type FetchFn = (url: string, init: RequestInit) => Promise<Response>;

/** Options of an {@link HttpClient}. */
export interface HttpClientOptions {
  /** Per-request timeout; default {@link HTTP_TIMEOUT_MS_DEFAULT}. */
  readonly timeoutMs?: number;
  /** A `fetch` to use instead of the global one (custom agents, tests). */
  readonly fetch?: FetchFn;
  /** Extra headers sent with every request (e.g. authorization at a proxy). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Query of `GET /decisions` (wire names). */
export interface DecisionsQuery {
  /** One chain: a project id or `_deployment`. */
  readonly chain?: string;
  readonly transition?: string;
  readonly outcome?: Outcome;
  /** Only records with a WAL sequence greater than this. */
  readonly after_seq?: number;
  readonly limit?: number;
}

/** No answer was received: the server is unreachable, the connection broke, or it timed out. */
export class HttpNetworkError extends Error {
  /** True when the request was abandoned after the client's timeout. */
  readonly timedOut: boolean;
  /** The underlying error. */
  override readonly cause: unknown;

  /** @param what `METHOD url` of the request that failed. */
  constructor(readonly what: string, timedOut: boolean, cause: unknown) {
    const why = timedOut ? 'timed out' : cause instanceof Error ? cause.message : String(cause);
    super(`${what}: no answer from the SWOOSH HTTP API (${why})`, { cause });
    this.name = 'HttpNetworkError';
    this.timedOut = timedOut;
    this.cause = cause;
  }
}

/** A typed client of one SWOOSH HTTP endpoint. */
export class HttpClient {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: FetchFn;
  private readonly headers: Readonly<Record<string, string>>;

  /**
   * @param baseUrl e.g. `http://127.0.0.1:8080` (a path prefix is kept). Throws TypeError when
   *   it is not an absolute URL or the timeout is not an integer in 1..HTTP_TIMEOUT_MS_MAX.
   */
  constructor(baseUrl: string, opts: HttpClientOptions = {}) {
    this.base = new URL(baseUrl).href.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? HTTP_TIMEOUT_MS_DEFAULT;
    const t = this.timeoutMs;
    if (!Number.isSafeInteger(t) || t < 1 || t > HTTP_TIMEOUT_MS_MAX) {
      throw new TypeError(`HttpClient: timeoutMs must be an integer in 1..${HTTP_TIMEOUT_MS_MAX}`);
    }
    this.fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));
    this.headers = opts.headers ?? {};
  }

  /**
   * Submit the JSON form to the path its chain takes (contract v2 §4): a control transition to
   * `POST /control/transition`, a proposal naming a project to
   * `POST /projects/{project}/transition`, one naming none to `POST /transition` (the default
   * project). Every answer, 4xx and 5xx too, as a typed value.
   */
  async submit(signed: SignedProposal): Promise<SubmitAnswer> {
    const spec = CHART.transitions.find((t) => t.name === signed.transition);
    const path = spec !== undefined && isControlTransition(spec)
      ? '/control/transition'
      : signed.project === undefined
        ? '/transition'
        : `/projects/${encodeURIComponent(signed.project)}/transition`;
    const r = await this.request('POST', path, jcs(signed));
    return parseSubmitAnswer(r.status, r.body);
  }

  /**
   * A project's state: `GET /projects/{project}/state`, or `GET /state` (the default project)
   * without one; optionally with a projection (e.g. `['Council', 'Ingestion']`).
   */
  async state(
    projection?: string | readonly string[],
    project?: string,
  ): Promise<HttpResult<StateAnswer>> {
    const p = typeof projection === 'string' ? projection : projection?.join(',');
    const q = p === undefined || p === '' ? '' : `?projection=${encodeURIComponent(p)}`;
    const base =
      project === undefined ? '/state' : `/projects/${encodeURIComponent(project)}/state`;
    const r = await this.request('GET', `${base}${q}`);
    return parseRead(r.status, r.body, asStateAnswer);
  }

  /** `GET /deployment`: the hash control proposals name, identities and facts hashes. */
  async deployment(): Promise<HttpResult<DeploymentAnswer>> {
    const r = await this.request('GET', '/deployment');
    return parseRead(r.status, r.body, asDeploymentAnswer);
  }

  /** `GET /projects?after=&limit=`: a page of projects. */
  async projects(
    query: { after?: string; limit?: number } = {},
  ): Promise<HttpResult<ProjectsPage>> {
    const r = await this.request('GET', `/projects${queryOf(query)}`);
    return parseRead(r.status, r.body, asProjectsPage);
  }

  /** `GET /health`: `httpStatus` 200 when ready, 503 otherwise (both carry the body). */
  async health(): Promise<HttpResult<HealthAnswer>> {
    const r = await this.request('GET', '/health');
    return parseRead(r.status, r.body, asHealthAnswer, [200, 503]);
  }

  /** `GET /decisions/:id` by `dr_id` (`bubble://dr/…`) or WAL sequence. */
  async decision(idOrSeq: string | number): Promise<HttpResult<DecisionRecord>> {
    const r = await this.request('GET', `/decisions/${encodeURIComponent(String(idOrSeq))}`);
    return parseRead(r.status, r.body, (b) => asDecisionRecord(b));
  }

  /** `GET /decisions?transition=&outcome=&after_seq=&limit=`. */
  async decisions(query: DecisionsQuery = {}): Promise<HttpResult<DecisionsPage>> {
    const r = await this.request('GET', `/decisions${queryOf(query)}`);
    return parseRead(r.status, r.body, asDecisionsPage);
  }

  /** One request; the body parsed as JSON (its text when it is not JSON, null when empty). */
  private async request(
    method: 'GET' | 'POST',
    path: string,
    body?: string,
  ): Promise<{ status: number; body: unknown }> {
    const url = `${this.base}${path}`;
    const headers: Record<string, string> = { accept: 'application/json', ...this.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const init: RequestInit = { method, headers, signal: AbortSignal.timeout(this.timeoutMs) };
    if (body !== undefined) init.body = body;
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFn(url, init);
      text = await res.text();
    } catch (err) {
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      throw new HttpNetworkError(`${method} ${url}`, timedOut, err);
    }
    return { status: res.status, body: parseBody(text) };
  }
}

function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    void err; // not JSON (a proxy's error page, say): keep the text for the error answer
    return text;
  }
}

/** `?k=v&…` of the defined entries (empty when none), every part URL-encoded. */
function queryOf(query: object): string {
  const params = Object.entries(query)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return params.length > 0 ? `?${params.join('&')}` : '';
}
