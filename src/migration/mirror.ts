/**
 * The WHOOSH mirror's front (docs/migration.md): `POST /webhooks/gitea` as WHOOSH serves it,
 * turned into signed proposals to a (shadow) SWOOSH deployment through the mapping file.
 *
 * Per delivery, in order: the HMAC (401 `bad_signature`, nothing proposed), the delivery id (400
 * `invalid_delivery`), the JSON body (400 `invalid_payload`), the event kind and its map entry —
 * `ignore` answers 200 with the reason, `unmapped` answers 501 (the earlier Go SWOOSH's answer to
 * a request it cannot map) — then the proposal, signed by the mirror's identity, with an idem
 * key made of what it proposes (`whoosh:<transition>:<sha256 of its inputs' JCS, 32 hex>`), not
 * of the delivery id: Gitea gives a manual re-delivery a new id, and the same event mapped
 * again must be the original decision (`duplicate`) within the deployment's idempotency
 * retention. The answer carries SWOOSH's decision and the delivery id.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { SubmitAnswer } from '../sdk/index.js';
import { giteaDeliveryProblem, giteaEventKind, giteaSignatureProblem } from './gitea.js';
import { mapEvent, type WhooshMap } from './map.js';
import { createHash } from 'node:crypto';
import { jcs } from '../core/index.js';

/** Who proposes for the mirror (an SDK `Producer` for its identity, over the shadow's HTTP). */
export interface MirrorProposer {
  propose(
    transition: string,
    inputs: Record<string, string | number | boolean>,
    opts: { readonly idemKey: string },
  ): Promise<SubmitAnswer>;
}

/** Options of the mirror's server. */
export interface MirrorOptions {
  readonly map: WhooshMap;
  /** The Gitea hook's secret (the HMAC key). */
  readonly secret: Uint8Array;
  readonly proposer: MirrorProposer;
  readonly log: Logger;
  /** Largest body accepted (default 1 MiB, Gitea's payloads are far smaller). */
  readonly bodyLimit?: number;
  /**
   * Tee mode: WHOOSH's base URL. Every delivery is forwarded to `<forward>/webhooks/gitea`
   * unchanged (body and Gitea headers) and answered with WHOOSH's answer; the mirror's own
   * outcome goes to its log and counts, never to Gitea.
   */
  readonly forward?: string;
  /** Tee mode: how long WHOOSH may take to answer (default 10 s). */
  readonly forwardTimeoutMs?: number;
}

/** Headers a tee does not forward (hop by hop, or set again by the forwarding request). */
const NOT_FORWARDED = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'te',
  'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'content-length']);
/** How long closing the server waits for deliveries still being mirrored. */
const CLOSE_WAIT_MS = 10_000;

/** What the mirror has done since it started (its `GET /health`). */
export interface MirrorCounts {
  proposed: number;
  ignored: number;
  unmapped: number;
  refused: number;
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The mirror's HTTP server (not listening yet). */
export async function createMirrorServer(o: MirrorOptions): Promise<FastifyInstance> {
  const app = Fastify({ bodyLimit: o.bodyLimit ?? 1024 * 1024, requestTimeout: 30_000 });
  const counts: MirrorCounts = { proposed: 0, ignored: 0, unmapped: 0, refused: 0 };
  /** Deliveries being mirrored in tee mode. */
  const inFlight = new Set<Promise<void>>();
  // The HMAC is over the raw bytes: keep them; parse the JSON here, after the check.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
    done(null, body);
  });
  /** An answer: its HTTP status and body. */
  type Answer = { readonly http: number; readonly body: Record<string, unknown> };
  const refuse = (http: number, code: string, message: string): Answer => {
    counts.refused += 1;
    return { http, body: { code, message, map_hash: o.map.hash } };
  };
  app.get('/health', () => ({
    status: 'ok', map_version: o.map.version, map_hash: o.map.hash, counts,
  }));
  /** One delivery mirrored: its answer. */
  const mirrorOne = async (
    raw: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<Answer> => {
    const sig = giteaSignatureProblem(raw, header(headers['x-gitea-signature']), o.secret);
    if (sig !== null) return refuse(401, 'bad_signature', sig);
    const delivery = header(headers['x-gitea-delivery']);
    const dp = giteaDeliveryProblem(delivery);
    if (dp !== null) return refuse(400, 'invalid_delivery', dp);
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      o.log.debug({ err }, 'mirror: a delivery body that is not JSON');
      return refuse(400, 'invalid_payload', 'body: expected a JSON object');
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      return refuse(400, 'invalid_payload', 'body: expected a JSON object');
    }
    const kind = giteaEventKind(header(headers['x-gitea-event']), payload);
    if (kind === null) {
      return refuse(400, 'invalid_payload', 'X-Gitea-Event: expected an event name');
    }
    const m = mapEvent(o.map, kind, payload);
    const base = { event: kind, delivery, map_hash: o.map.hash };
    switch (m.kind) {
      case 'invalid':
        return refuse(400, 'invalid_payload', m.message);
      case 'ignore':
        counts.ignored += 1;
        return {
          http: 200, body: { ...base, status: 'ignored', reason: m.reason, entry: m.entry },
        };
      case 'unmapped':
        counts.unmapped += 1;
        o.log.info({ event: kind, delivery }, 'mirror: an unmapped WHOOSH event');
        return { http: 501, body: { ...base, code: 'unmapped', reason: m.reason, entry: m.entry } };
      case 'transition':
        break;
    }
    const idemKey = `whoosh:${m.transition}:${createHash('sha256')
      .update(jcs(m.inputs), 'utf8').digest('hex').slice(0, 32)}`;
    let a: SubmitAnswer;
    try {
      a = await o.proposer.propose(m.transition, m.inputs, { idemKey });
    } catch (err) {
      o.log.warn({ err, event: kind, delivery }, 'mirror: proposing to the deployment failed');
      return refuse(502, 'deployment_unavailable', 'proposing to the SWOOSH deployment failed ' +
        '(see the mirror\'s log); a re-delivery of this event is the same proposal');
    }
    const proposal = { transition: m.transition, inputs: m.inputs, idem_key: idemKey };
    if (a.kind === 'accepted') {
      counts.proposed += 1;
      return { http: 202, body: {
        ...base, status: a.duplicate ? 'duplicate' : 'accepted', ...proposal,
        wal_seq: a.wal_seq, dr_id: a.dr_id,
      } };
    }
    if (a.kind === 'rejected') {
      counts.proposed += 1;
      // Decided, and refused by SWOOSH's guards: what the shadow compares with WHOOSH.
      return { http: 202, body: {
        ...base, status: 'rejected', ...proposal, code: a.code, message: a.message,
        failing_guard: a.failing_guard, dr_id: a.dr_id,
      } };
    }
    const code = a.kind === 'timeout' ? 'decision_timeout'
      : a.kind === 'invalid' ? a.code : a.code ?? 'error';
    o.log.warn({ answer: a, event: kind, delivery }, 'mirror: the deployment refused a proposal');
    return refuse(a.kind === 'invalid' ? 422 : 502, code,
      `the deployment answered ${a.httpStatus} ${code} (see the mirror's log)`);
  };
  app.post('/webhooks/gitea', async (req, reply) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (o.forward === undefined) {
      const a = await mirrorOne(raw, req.headers);
      return reply.code(a.http).send(a.body);
    }
    // Tee: WHOOSH answers Gitea; the mirror's outcome is logged, whatever it is.
    const mirrored = mirrorOne(raw, req.headers).then((a) => {
      o.log.info({ http: a.http, ...a.body }, 'mirror: delivery mirrored');
    }, (err: unknown) => {
      o.log.error({ err }, 'mirror: mirroring a delivery failed');
    });
    inFlight.add(mirrored);
    void mirrored.finally(() => inFlight.delete(mirrored));
    return forwardTo(o.forward, o.forwardTimeoutMs ?? 10_000, raw, req.headers, reply, o.log);
  });
  // Mirrors still running when the server closes finish first (nothing is dropped half-way).
  // Bounded: a deployment that does not answer must not hold a shutdown for minutes.
  app.addHook('onClose', async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...inFlight]),
      new Promise((r) => { timer = setTimeout(r, CLOSE_WAIT_MS); }),
    ]);
    clearTimeout(timer);
    if (inFlight.size > 0) {
      o.log.warn({ deliveries: inFlight.size }, 'mirror: closing with deliveries still mirroring');
    }
  });
  return app;
}

/** Forward a delivery to WHOOSH unchanged and relay its answer; 502 when it does not answer. */
async function forwardTo(
  base: string,
  timeoutMs: number,
  raw: Buffer,
  headers: Record<string, string | string[] | undefined>,
  reply: FastifyReply,
  log: Logger,
): Promise<unknown> {
  const out: Record<string, string> = {};
  for (const [h, v] of Object.entries(headers)) {
    if (NOT_FORWARDED.has(h) || v === undefined) continue;
    out[h] = Array.isArray(v) ? v.join(', ') : v;
  }
  try {
    const res = await fetch(`${base.replace(/\/+$/, '')}/webhooks/gitea`, {
      method: 'POST', headers: out, body: raw, signal: AbortSignal.timeout(timeoutMs),
    });
    const body = Buffer.from(await res.arrayBuffer());
    res.headers.forEach((v, h) => {
      if (!NOT_FORWARDED.has(h) && h !== 'content-encoding') void reply.header(h, v);
    });
    return reply.code(res.status).send(body);
  } catch (err) {
    log.warn({ err }, 'mirror: WHOOSH did not answer a forwarded delivery');
    return reply.code(502).send({
      code: 'whoosh_unavailable', message: `WHOOSH (${base}) did not answer the delivery`,
    });
  }
}
