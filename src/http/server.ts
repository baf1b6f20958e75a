/**
 * The HTTP Transition API (ARCHITECTURE §4, described in docs/openapi.yaml) on Fastify. Any
 * instance, writer or follower, serves every route: proposals are published to the WAL and
 * answered from their decision record, whoever the writer is. The server is returned ready
 * but not listening; the caller calls `listen`.
 *
 *   POST /projects/{p}/transition  signed proposal → 202 accepted | 400 rejected | 413 | 504
 *   POST /control/transition       a control proposal (identities, projects), same answers
 *   POST /transition               v1 alias: routed by the body's project (none: default)
 *   GET  /projects                 a page of projects: top, hash, hlc_last, bucket, writer
 *   GET  /projects/{p}/state       hashes, HLC, WAL seq and a projection of a project
 *   GET  /state?project=           v1 alias (default project)
 *   GET  /deployment               genesis, chart, facts and identities hashes, buckets, writers
 *   GET  /health                   role, term, leader; 200 when writer or follower, not diverged
 *   GET  /decisions/:id            one decision record, by WAL seq or dr_id
 *   GET  /decisions                a filtered page of records across chains (chain= for one)
 *   GET  /projects/{p}/decisions   a page of one project's chain
 *   GET  /deployment/decisions     a page of the deployment chain (facts, control)
 *   GET  /metrics           Prometheus text
 *   GET  /openapi.json      docs/openapi.yaml as JSON
 */
import {
  type State,
  DEFAULT_PROJECT,
  DEPLOYMENT_CHAIN,
  describeJsonProblem,
  licenceGraceEndOf,
  writerAllowed,
  scanJson,
} from '../core/index.js';
import { bucketOf } from '../server/replication/buckets.js';
import Fastify, {
  type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest,
} from 'fastify';
import { pino, type Logger } from 'pino';
import { timingSafeEqual } from 'node:crypto';
import type { Instance } from '../server/process/instance.js';
import { decisionById, listDecisions, parseListQuery } from './decisions.js';
import { HttpError, invalidParameter, invalidProposal, sendError } from './errors.js';
import { isSwooshError } from '../protocol/errors.js';
import { loadOpenApi } from './openapi.js';
import {
  healthOf,
  parseProjection,
  project,
  projectParam,
  projectsPage,
  stateBody,
  type ProjectRow,
} from './read-routes.js';
import {
  handleTransition,
  verifyAdmitted,
  type AdmittedProposal,
  type TransitionPath,
} from './transition.js';
import { createNodeVerifier } from '../crypto/verify.js';
import { verifyDrSignature } from '../protocol/decision-record.js';
import { RateLimiter, type Rate } from './rate-limit.js';
import { DecisionWaiter } from './waiter.js';

/** What the gateway uses of an instance (an `Instance` satisfies it). */
export type GatewayInstance = Pick<
  Instance,
  | 'status' | 'stateOf' | 'currentDeployment' | 'projectIds' | 'reducer' | 'nats'
  | 'leaseHolder' | 'metrics' | 'buckets'
>;

/** Options of createHttpServer. */
export interface HttpServerOptions {
  readonly instance: GatewayInstance;
  /** Request and gateway logs; silent when absent. */
  readonly log?: Logger;
  /** Largest request body, in bytes (default 256 KiB). */
  readonly bodyLimitBytes?: number;
  /** How long POST /transition waits for the decision record (default 5 s). */
  readonly decisionTimeoutMs?: number;
  /** Proposals per client address and per signer (token buckets; 0 per second: no limit). */
  readonly rateLimits?: { readonly client?: Rate; readonly signer?: Rate; readonly reads?: Rate };
  /** The limiters' clock (tests); default Date.now. */
  readonly now?: () => number;
  /**
   * Bearer tokens. With either set, every GET but /health and /openapi.json needs
   * `Authorization: Bearer <read or admin token>` (401 otherwise); the registry's identities
   * in GET /state and /deployment are shown only to the admin token (a `{count, hash}`
   * summary otherwise). POST routes are authenticated by the proposals' signatures.
   */
  readonly readToken?: string;
  readonly adminToken?: string;
  /**
   * The key sensitive values are shown under in projections (`redacted:hmac-sha256-<hex>`);
   * absent, they show as `redacted` (docs/security.md, "Redaction").
   */
  readonly redactionKey?: Uint8Array;
}

/** Constant-time equality of a presented token with a configured one. */
function tokenIs(presented: string | null, expected: string | undefined): boolean {
  if (presented === null || expected === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The bearer token of a request, or null. */
function bearerOf(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m?.[1] ?? null;
}

/**
 * The licence gate at the network (brief §9): once a revoked licence's grace period is over,
 * the gateway writes nothing more (`503 license_expired`); reads and /health stay up, and a
 * licence fact from the licence feeder (NATS) can still restore it. The writer refuses the
 * same proposals from the log (`license_expired`); this keeps them out of the WAL.
 */
function licenceGate(d: State, nowMs: number): void {
  const until = licenceGraceEndOf(d);
  if (until === null || nowMs < until) return;
  const since = d.facts.license.since_ms ?? until;
  throw new HttpError('license_expired',
    `license: revoked at ${new Date(since).toISOString()}, grace ended ` +
    `${new Date(until).toISOString()}; writes resume when the licence is active again; ` +
    'nothing was published');
}

/**
 * The routes that read DECISIONS (rate-limited per client as log reads), by the route matched,
 * so a percent-encoded path reaches the same bucket as the plain one.
 */
const LOG_READ_ROUTES = new Set([
  '/decisions', '/decisions/:id', '/projects/:project/decisions', '/deployment/decisions',
]);

/** Tokens a lookup by id takes from the log-read bucket (it may read 5× a page's records). */
const ID_LOOKUP_COST = 5;

/** Reads that stay open with tokens configured: liveness and the API description. */
const OPEN_READS = new Set(['/health', '/openapi.json']);

/** Defaults, each with why. */
export const HTTP_DEFAULTS = {
  /** A proposal is a few KiB; 256 KiB leaves room for large inputs, far below max_payload. */
  bodyLimitBytes: 256 * 1024,
  /**
   * The writer decides within a batch (milliseconds); 5 s rides out a slow batch or snapshot.
   * A writer failover (lease TTL 5 s) may exceed it: the 504 names the WAL seq to read later.
   */
  decisionTimeoutMs: 5000,
  /**
   * Proposals per second (and burst) per client address and per signer. Far above one
   * producer's honest rate (a council step every few seconds; the bench drives 300/s), low
   * enough that one key or client cannot fill the WAL unnoticed.
   */
  rateClient: { perSecond: 1000, burst: 2000 },
  rateSigner: { perSecond: 500, burst: 1000 },
  /**
   * Log reads (the /decisions routes) per client address: each may cost up to 2,000 JetStream
   * message gets, so a client is held to about 100,000 gets a second at the burst.
   */
  rateReads: { perSecond: 50, burst: 100 },
  /** Time to receive a whole request; a proposal is a few KiB, so 10 s is generous. */
  requestTimeoutMs: 10_000,
  /** /health must answer even when the lease bucket does not: the leader is then unknown. */
  leaderLookupMs: 1000,
} as const;

const internalError = (): HttpError =>
  new HttpError('internal_error', 'request: the gateway failed; see its log');

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;

/** Wrap a handler so every failure becomes a catalogued answer, never a rejection. */
function guarded(log: Logger, fn: Handler): Handler {
  return async (req, reply) => {
    try {
      return await fn(req, reply);
    } catch (err) {
      if (err instanceof HttpError) return sendError(reply, err);
      log.error({ err, url: req.url }, 'http: handler failed');
      return sendError(reply, internalError());
    }
  };
}

/** The leader's name, or null when the lease bucket does not answer in time. */
async function leaderOf(instance: GatewayInstance, log: Logger): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), HTTP_DEFAULTS.leaderLookupMs);
  });
  try {
    return await Promise.race([instance.leaseHolder(), late]);
  } catch (err) {
    log.debug({ err }, 'http: lease holder lookup failed');
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Body parsing: only `application/json` (any parameters, e.g. a charset) is parsed; any other
 * type is `unsupported_media_type` (415), so a browser page cannot POST a proposal as
 * `text/plain` without a CORS preflight. Parse failures are `invalid_proposal`.
 */
function installParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  const json = /^application\/json(\s*;.*)?$/i;
  app.addContentTypeParser(json, { parseAs: 'string' }, (_req, text, done) => {
    if (text === '') {
      done(null, undefined);
      return;
    }
    // SWOOSH's own scanner judges the grammar and nesting depth first, so the answer is worded
    // the same on every runtime and nothing deeper than the WAL accepts is ever published.
    const scan = scanJson(text as string);
    if (!scan.ok) {
      done(
        invalidProposal(
          'invalid_proposal',
          '',
          `body: ${describeJsonProblem(text as string, scan)}`,
        ),
      );
      return;
    }
    done(null, JSON.parse(text as string) as unknown);
  });
}

/** Errors raised outside handlers (parsing, limits, bad URLs) and unknown routes. */
function installErrors(app: FastifyInstance, log: Logger, bodyLimit: number): void {
  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
    if (err instanceof HttpError) return sendError(reply, err);
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const type = String(req.headers['content-type'] ?? 'none');
      return sendError(reply, new HttpError('unsupported_media_type',
        `content-type: ${type.slice(0, 100)} is not accepted; send the body as ` +
        'application/json; nothing was published'));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(reply, new HttpError('body_too_large',
        `body: larger than the limit of ${bodyLimit} bytes`));
    }
    const s = err.statusCode ?? 500;
    if (s >= 400 && s < 500) {
      return sendError(reply, req.url.startsWith('/transition')
        ? invalidProposal('invalid_proposal', '', `body: ${err.message}`)
        : invalidParameter('request', err.message));
    }
    log.error({ err, url: req.url }, 'http: request failed');
    return sendError(reply, internalError());
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new HttpError('not_found',
      `route: no route ${req.method} ${req.url.split('?')[0] ?? ''}`)));
}

/** Build the API over `opts.instance`. */
export async function createHttpServer(opts: HttpServerOptions): Promise<FastifyInstance> {
  const log = opts.log ?? pino({ level: 'silent' });
  const bodyLimit = opts.bodyLimitBytes ?? HTTP_DEFAULTS.bodyLimitBytes;
  const timeoutMs = opts.decisionTimeoutMs ?? HTTP_DEFAULTS.decisionTimeoutMs;
  const loggerInstance: FastifyBaseLogger = log;
  const app = Fastify({
    loggerInstance,
    bodyLimit,
    // A client has this long to send its whole request (no slow-loris connections held open).
    requestTimeout: HTTP_DEFAULTS.requestTimeoutMs,
    frameworkErrors: (err, _req, reply) => {
      void sendError(reply, invalidParameter('url', err.message));
    },
  });
  const { instance } = opts;
  const recordVerifier = createNodeVerifier();
  // A record answers a client only if a writer of this deployment signed it (strays on record
  // subjects are expected with writers by bucket: members set them aside, so does the gateway).
  const waiter = new DecisionWaiter(() => instance.nats, log, (r) => {
    const d = instance.currentDeployment();
    return d !== null && typeof r.writer === 'string' && writerAllowed(d.identities, r.writer) &&
      verifyDrSignature(r, recordVerifier);
  });
  const openapi = await loadOpenApi();
  installParser(app);
  installErrors(app, log, bodyLimit);
  const core = instance.reducer;
  const redactionKey = opts.redactionKey ?? null;
  /** A project's state, also one out of this member's memory (loaded for the read). */
  const projectState = async (id: string): Promise<State | null> => {
    try {
      return await instance.stateOf(id);
    } catch (err) {
      if (!isSwooshError(err, 'project_unavailable')) throw err;
      log.warn({ err, project: id }, 'http: an evicted project could not be loaded');
      // (A message SWOOSH composed: which copy was refused and why, or the replay's position.)
      throw new HttpError('project_unavailable', `${err.message}; ask another member, or see ` +
        'docs/operations.md "Evicted projects"');
    }
  };
  type Head = { state_hash: string; hlc_last: string | null };
  const headOf = async (chain: string): Promise<Head> => {
    const s = chain === DEPLOYMENT_CHAIN ? instance.currentDeployment()
      : await projectState(chain);
    return s === null
      ? { state_hash: '', hlc_last: null }
      : { state_hash: core.hashes(s).head, hlc_last: s.clock.hlc_last };
  };
  const verifier = createNodeVerifier();
  const verify = (p: AdmittedProposal): void => {
    const d = instance.currentDeployment();
    if (d === null) throw new HttpError('not_ready', 'deployment: not recovered yet');
    // Termination is what the writer still applies after the grace (the license_expired gate).
    if (p.transition !== 'Control_Terminate') licenceGate(d, now());
    verifyAdmitted(core, verifier, d.identities, p, now());
  };
  const now = opts.now ?? Date.now;
  const byClient = new RateLimiter(opts.rateLimits?.client ?? HTTP_DEFAULTS.rateClient, now);
  const bySigner = new RateLimiter(opts.rateLimits?.signer ?? HTTP_DEFAULTS.rateSigner, now);
  const byReader = new RateLimiter(opts.rateLimits?.reads ?? HTTP_DEFAULTS.rateReads, now);
  const limited = (who: string, wait: number): HttpError => new HttpError('rate_limited',
    `${who}: too many proposals; retry in ${wait} s; nothing was published`,
    { retry_after_s: wait });
  const post = (path: (req: FastifyRequest) => TransitionPath): Handler =>
    guarded(log, async (req, reply) => {
      // The signer's bucket is charged only once the signature verifies, so a stranger
      // naming someone else's key cannot spend that key's budget.
      const verifyLimited = (p: AdmittedProposal): void => {
        verify(p);
        const wait = bySigner.take(String(p.signed['signer']));
        if (wait > 0) throw limited('signer', wait);
      };
      const a = await handleTransition({ ...deps, verify: verifyLimited }, req.body, path(req));
      return reply.code(a.http).send(a.body);
    });
  const isAdmin = (req: FastifyRequest): boolean => tokenIs(bearerOf(req), opts.adminToken);
  const tokens = opts.readToken !== undefined || opts.adminToken !== undefined;
  app.addHook('onRequest', async (req, reply) => {
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (!tokens || !read || OPEN_READS.has(req.url.split('?')[0] ?? '')) {
      return undefined;
    }
    const t = bearerOf(req);
    if (tokenIs(t, opts.readToken) || tokenIs(t, opts.adminToken)) return undefined;
    void reply.header('www-authenticate', 'Bearer realm="swoosh"');
    return sendError(reply, new HttpError('unauthorized', t === null
      ? 'authorization: this route needs Authorization: Bearer <read token>'
      : 'authorization: the bearer token is not a read or admin token of this gateway'));
  });
  // Per client, before the body is parsed: a flood costs one map lookup per request. Reads of
  // the log have their own bucket: each costs the server up to a page of message gets.
  app.addHook('onRequest', async (req, reply) => {
    if (req.method === 'POST') {
      const wait = byClient.take(req.ip);
      if (wait > 0) return sendError(reply, limited('client', wait));
    } else if (LOG_READ_ROUTES.has(req.routeOptions.url ?? '')) {
      // A lookup by id may scan five times a page's reads (ID_SCAN_MAX vs LIST_SCAN_MAX).
      const cost = req.routeOptions.url === '/decisions/:id' ? ID_LOOKUP_COST : 1;
      const wait = byReader.take(req.ip, cost);
      if (wait > 0) {
        return sendError(reply, new HttpError('rate_limited',
          `client: too many reads of the decision log; retry in ${wait} s`,
          { retry_after_s: wait }));
      }
    }
    return undefined;
  });
  const deps = { core, waiter, headOf, timeoutMs, verify };
  app.post('/transition', post(() => ({ kind: 'v1' })));
  app.post('/control/transition', post(() => ({ kind: 'control' })));
  app.post('/projects/:project/transition', post((req) => ({
    kind: 'project', project: projectParam((req.params as { project: string }).project),
  })));
  const stateOf = async (
    req: FastifyRequest, id: string, projection: unknown,
  ): Promise<Record<string, unknown>> =>
    stateBody(core, instance.status(), id, await projectState(id), projection, isAdmin(req),
      redactionKey);
  app.get('/state', guarded(log, async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const id = q['project'] === undefined ? DEFAULT_PROJECT : projectParam(q['project']);
    return reply.send(await stateOf(req, id, q['projection']));
  }));
  app.get('/projects/:project/state', guarded(log, async (req, reply) => {
    const id = projectParam((req.params as { project: string }).project);
    return reply.send(
      await stateOf(req, id, (req.query as Record<string, unknown>)['projection']),
    );
  }));
  app.get('/projects', guarded(log, async (req, reply) => {
    const writer = await leaderOf(instance, log);
    const buckets = instance.buckets();
    const row = async (id: string): Promise<ProjectRow | null> => {
      const s = await projectState(id);
      if (s === null) return null;
      return {
        project: id, top: s.control.top, hash: core.hashes(s).head, hlc_last: s.clock.hlc_last,
        bucket: bucketOf(id, buckets), writer,
      };
    };
    const q = req.query as Record<string, unknown>;
    return reply.send(await projectsPage(instance.projectIds(), row, q));
  }));
  app.get('/deployment', guarded(log, async (req, reply) => {
    const d = instance.currentDeployment();
    if (d === null) throw new HttpError('not_ready', 'deployment: not recovered yet');
    const q = req.query as Record<string, unknown>;
    const names = q['projection'] === undefined ? [] : parseProjection(q['projection']);
    const hs = core.hashes(d);
    const st = instance.status();
    const writer = await leaderOf(instance, log);
    return reply.send({
      genesis_hash: d.meta.genesis_hash,
      chart_hash: d.meta.chart_hash,
      hash: hs.head,
      facts_hash: hs.facts,
      identities_hash: hs.identities,
      hlc_last: d.clock.hlc_last,
      buckets: instance.buckets(),
      projects: Object.keys(d.projects).length,
      writers: writer === null ? [] : [{
        name: writer, buckets: Array.from({ length: instance.buckets() }, (_, i) => i),
        lag: writer === st.name ? st.wal_lag : null,
      }],
      projection: project(core.chart, d, names, hs.identities, isAdmin(req), redactionKey),
    });
  }));
  app.get('/health', guarded(log, async (_req, reply) => {
    const h = healthOf(instance.status(), await leaderOf(instance, log));
    return reply.code(h.http).send(h.body);
  }));
  app.get('/decisions/:id', guarded(log, async (req, reply) =>
    reply.send(await decisionById(waiter, (req.params as { id: string }).id, log))));
  app.get('/decisions', guarded(log, async (req, reply) => {
    const q = parseListQuery(req.query as Record<string, unknown>);
    return reply.send(await listDecisions(waiter, q, log));
  }));
  app.get('/projects/:project/decisions', guarded(log, async (req, reply) => {
    const chain = projectParam((req.params as { project: string }).project);
    const q = parseListQuery(req.query as Record<string, unknown>, { chain });
    return reply.send(await listDecisions(waiter, q, log));
  }));
  app.get('/deployment/decisions', guarded(log, async (req, reply) => {
    const q = parseListQuery(req.query as Record<string, unknown>, { chain: DEPLOYMENT_CHAIN });
    return reply.send(await listDecisions(waiter, q, log));
  }));
  app.get('/metrics', guarded(log, async (_req, reply) =>
    reply.type(instance.metrics.contentType).send(await instance.metrics.metricsText())));
  app.get('/openapi.json', guarded(log, async (_req, reply) => {
    if (openapi === null) {
      throw new HttpError('not_found', 'openapi: docs/openapi.yaml is not installed');
    }
    return reply.send(openapi);
  }));
  app.addHook('onClose', (_app, done) => {
    waiter.close();
    done();
  });
  return app;
}
