/**
 * GET /decisions and GET /decisions/:id read DECISIONS with message gets only: no request makes
 * the server create a consumer (an anonymous reader could otherwise create them at will).
 * Pages across the scan bound, on every chain and on one, and stray messages on record
 * subjects skipped. A real nats-server holds DECISIONS; the records are written straight to the
 * stream (no writer runs), so strays can sit anywhere. Every answer is checked against
 * docs/openapi.yaml.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createCore } from '../../src/core/index.js';
import { DOMAIN } from '../../src/crypto/domains.js';
import { createNodeSigner } from '../../src/crypto/node-sign.js';
import { castGenesis } from '../../src/proving/sim/world.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { LIST_SCAN_MAX } from '../../src/http/decisions.js';
import { createHttpServer, type GatewayInstance } from '../../src/http/server.js';
import { createLogger } from '../../src/server/observability/log.js';
import { createMetrics } from '../../src/server/observability/metrics.js';
import { applyStreams } from '../../src/server/process/apply-streams.js';
import { streamDefinitions, subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { expectConforms } from '../support/openapi.js';

const quiet = createLogger({ level: process.env['SWOOSH_TEST_LOG'] ?? 'warn' });

type J = Record<string, unknown>;

/** The record fields the tests read. */
interface Rec {
  readonly wal_seq: number;
  readonly project: string;
  readonly chain_index: number;
  readonly dr_id: string;
  readonly transition: string | null;
}

interface Page {
  readonly records: Rec[];
  readonly next_after_seq: number;
}

const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0');
const sha = (n: number): string => `sha256-${hex(n, 64)}`;

/** The writer of the suite's records (the registry the stub deployment holds names it). */
const WRITER = createNodeSigner(randomBytes(32));

/**
 * A record with every field docs/openapi.yaml requires, signed by WRITER (the gateway shows only
 * records a writer of the deployment signed; their content it does not check).
 */
function record(walSeq: number, chain: string, index: number, transition: string): J {
  const unsigned = {
    v: 3, dr_id: `bubble://dr/t/${chain}/${index}`, project: chain, chain_index: index,
    ucxl: `ucxl://t/${chain}/${index}`, wal_seq: walSeq, wal_entry_hash: sha(walSeq),
    log_ms: 1_700_000_000_000 + walSeq, outcome: 'accepted', channel: 'proposal',
    transition, region: null, signer: `hmmm:pubkey:${hex(1, 64)}`, idem_key: null,
    hlc: null, window_id: null, inputs_hash: null, evidence: [], code: null, message: null,
    failing_guard: null, guard_outcomes: [], justification: '', original: null,
    applied: [transition], state_pre_hash: sha(1), state_post_hash: sha(2),
    facts_pre_hash: sha(3), facts_post_hash: sha(4), identities_post_hash: sha(5),
    applied_count: 1, prev_dr_hash: sha(6), writer: WRITER.signer,
  };
  return { ...unsigned, signature: WRITER.signObject(DOMAIN.dr, unsigned) };
}

/*
 * The stream: RECORDS_TOTAL records, chain alpha at odd seqs and beta at even ones, so each
 * chain alone also crosses the scan bound. Every RARE_EVERY-th record of beta is `Rare`. The
 * strays sit on alpha's subject at STRAY_SEQS (the last one just before the final record).
 */
const RECORDS_TOTAL = 2 * LIST_SCAN_MAX + 600;
const RARE_EVERY = 700;
const STRAYS = ['not json', '{"no":"wal_seq"}', '[]'];
const STRAY_SEQS = [17, 1000, RECORDS_TOTAL + STRAYS.length - 1];

/** What the suite wrote: every stored message's DECISIONS seq, and which were strays. */
interface Stored {
  readonly recordSeqs: number[];
  readonly straySeqs: number[];
  readonly byChain: Map<string, number[]>;
  readonly rare: number[];
}

describe('GET /decisions over message gets', () => {
  let fx: NatsFixture;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let app: FastifyInstance;
  let instance: GatewayInstance;
  let base = '';
  let decisionsName = '';
  const stored: Stored = { recordSeqs: [], straySeqs: [], byChain: new Map(), rare: [] };

  async function get<T = J>(route: string, url: string): Promise<{ status: number; body: T }> {
    const res = await fetch(`${base}${url}`);
    const body = (await res.json()) as T;
    expectConforms('GET', route, res.status, body);
    return { status: res.status, body };
  }

  /** Every page of `url` (a route's path) from after_seq 0: the records and each cursor. */
  async function walk(
    route: string,
    url: string,
    query: string,
  ): Promise<{ recs: Rec[]; cursors: number[] }> {
    const recs: Rec[] = [];
    const cursors: number[] = [];
    let after = 0;
    for (;;) {
      const r = await get<Page>(route, `${url}?${query}&after_seq=${after}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      recs.push(...r.body.records);
      cursors.push(r.body.next_after_seq);
      if (r.body.next_after_seq === after) return { recs, cursors };
      after = r.body.next_after_seq;
    }
  }

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    jsm = await jetstreamManager(nc);
    const defs = streamDefinitions({ prefix: fx.prefix, replicas: 1 });
    await applyStreams(nc, defs, { mode: 'apply' });
    const subjects = subjectsFor(fx.prefix);
    decisionsName = subjects.decisionsName;
    const js = jsm.jetstream();
    const index = new Map<string, number>();
    // Records are written one at a time: each at the seq its `wal_seq` names.
    for (let seq = 1; seq <= RECORDS_TOTAL + STRAYS.length; seq += 1) {
      const stray = STRAYS[STRAY_SEQS.indexOf(seq)];
      if (stray !== undefined) {
        await js.publish(subjects.dr('alpha'), stray);
        stored.straySeqs.push(seq);
        continue;
      }
      const chain = seq % 2 === 1 ? 'alpha' : 'beta';
      const i = (index.get(chain) ?? 0) + 1;
      index.set(chain, i);
      const rare = chain === 'beta' && i % RARE_EVERY === 0;
      await js.publish(subjects.dr(chain), JSON.stringify(
        record(seq, chain, i, rare ? 'Rare' : 'Execution_PlanLocked')));
      stored.recordSeqs.push(seq);
      const seqs = stored.byChain.get(chain) ?? [];
      seqs.push(seq);
      stored.byChain.set(chain, seqs);
      if (rare) stored.rare.push(seq);
    }
    const core = createCore(nodeHasher);
    const g = core.parseGenesis(castGenesis({ writers: [WRITER.signer] }));
    if (!g.ok) throw new Error(g.error.message);
    const deployment = core.genesis(g.value);
    const fail = (): never => {
      throw new Error('not used by the decision routes');
    };
    instance = {
      nats: { nc, js, jsm, subjects, prefix: fx.prefix },
      reducer: createCore(nodeHasher),
      metrics: createMetrics(),
      status: fail, stateOf: fail, currentDeployment: () => deployment, projectIds: fail,
      leaseHolder: fail, buckets: fail,
    };
    app = await createHttpServer({ instance, log: quiet });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await nc?.close();
    await fx?.close();
  });

  it('Given the suite\'s records, Then the stream holds them and the strays, and no consumer',
    async () => {
      const info = await jsm.streams.info(decisionsName);
      expect(info.state.messages).toBe(RECORDS_TOTAL + STRAYS.length);
      expect(info.state.consumer_count).toBe(0);
      expect(stored.straySeqs).toEqual(STRAY_SEQS);
      expect(stored.rare.length).toBeGreaterThanOrEqual(2);
    });

  it('Given many reads of every kind, Then the server created no consumer', async () => {
    const created: string[] = [];
    const advisories = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.CREATED.${decisionsName}.>`, {
      callback: (_err, m) => {
        created.push(m.subject);
      },
    });
    await nc.flush();
    const before = (await jsm.streams.info(decisionsName)).state.consumer_count;
    const urls: [string, string][] = [
      ['/decisions', '/decisions'],
      ['/decisions', '/decisions?limit=1000&after_seq=500'],
      ['/decisions', '/decisions?transition=Rare'],
      ['/decisions', '/decisions?chain=beta&outcome=rejected'],
      ['/projects/{project}/decisions', '/projects/alpha/decisions?limit=7'],
      ['/deployment/decisions', '/deployment/decisions'],
      ['/decisions/{id}', '/decisions/2'],
      ['/decisions/{id}', `/decisions/${RECORDS_TOTAL + 50}`],
      ['/decisions/{id}', `/decisions/${encodeURIComponent('bubble://dr/t/beta/3')}`],
    ];
    for (let round = 0; round < 3; round += 1) {
      for (const [route, url] of urls) {
        const r = await get(route, url);
        expect([200, 404], `${url}: ${JSON.stringify(r.body)}`).toContain(r.status);
      }
    }
    await nc.flush();
    expect(created).toEqual([]);
    expect((await jsm.streams.info(decisionsName)).state.consumer_count).toBe(before);
    expect(await jsm.consumers.list(decisionsName).next()).toEqual([]);
    // The advisories are seen: a consumer created here is reported.
    const probe = await jsm.consumers.add(decisionsName, { inactive_threshold: 5_000_000_000 });
    await jsm.consumers.delete(decisionsName, probe.name);
    // Advisories are sent from the server's own queue: give this one a moment to arrive.
    for (let i = 0; i < 100 && created.length === 0; i += 1) {
      await new Promise((r) => setTimeout(r, 20));
    }
    advisories.unsubscribe();
    expect(created).toEqual([`$JS.EVENT.ADVISORY.CONSUMER.CREATED.${decisionsName}.${probe.name}`]);
  });

  it('Given pages of every chain, Then they cross the scan bound, no record lost or repeated',
    async () => {
      const all = await walk('/decisions', '/decisions', 'limit=1000');
      expect(all.recs.map((r) => r.wal_seq)).toEqual(stored.recordSeqs);
      const rare = await walk('/decisions', '/decisions', 'transition=Rare&limit=1000');
      expect(rare.recs.map((r) => r.wal_seq)).toEqual(stored.rare);
      // Pages that found too few stop at the bound and say so; the last one is at the end.
      const total = RECORDS_TOTAL + STRAYS.length;
      expect(rare.cursors.slice(0, 2)).toEqual([LIST_SCAN_MAX, 2 * LIST_SCAN_MAX]);
      expect(rare.cursors.slice(-2)).toEqual([total, total]);
      // Records and strays both count as read.
      const none = await get<Page>('/decisions', '/decisions?transition=Nope&after_seq=5');
      expect(none.body).toEqual({ records: [], next_after_seq: 5 + LIST_SCAN_MAX });
      const one = await get<Page>('/decisions', '/decisions?transition=Rare&limit=1');
      expect(one.body.records.map((r) => r.wal_seq)).toEqual(stored.rare.slice(0, 1));
      expect(one.body.next_after_seq).toBe(stored.rare[0]);
    });

  it('Given pages of one chain, Then they cross the scan bound on its subject alone', async () => {
    const beta = stored.byChain.get('beta') ?? [];
    expect(beta.length).toBeGreaterThan(LIST_SCAN_MAX);
    const route = '/projects/{project}/decisions';
    const pages = await walk(route, '/projects/beta/decisions', 'limit=1000');
    expect(pages.recs.map((r) => r.wal_seq)).toEqual(beta);
    expect(pages.recs.map((r) => r.chain_index)).toEqual(beta.map((_, i) => i + 1));
    const viaQuery = await walk('/decisions', '/decisions', 'chain=beta&limit=1000');
    expect(viaQuery.recs).toEqual(pages.recs);
    const rare = await walk(route, '/projects/beta/decisions', 'transition=Rare');
    expect(rare.recs.map((r) => r.wal_seq)).toEqual(stored.rare);
    // The first page read LIST_SCAN_MAX of beta's records (every other seq) and stopped there.
    expect(rare.cursors[0]).toBe(beta[LIST_SCAN_MAX - 1]);
    const byId = await get<Rec>('/decisions/{id}',
      `/decisions/${encodeURIComponent(`bubble://dr/t/beta/${beta.length}`)}`);
    expect(byId.body).toMatchObject({ wal_seq: beta.at(-1), chain_index: beta.length });
  });

  it('Given strays on a record subject, Then pages skip them and move past them; their seqs 404',
    async () => {
      const alpha = stored.byChain.get('alpha') ?? [];
      const route = '/projects/{project}/decisions';
      const pages = await walk(route, '/projects/alpha/decisions', 'limit=1000');
      expect(pages.recs.map((r) => r.wal_seq)).toEqual(alpha);
      const [s1, , s3] = stored.straySeqs as [number, number, number];
      const past = await get<Page>(route, `/projects/alpha/decisions?after_seq=${s1 - 1}&limit=2`);
      expect(past.body.records.map((r) => r.wal_seq)).toEqual([s1 + 2, s1 + 4]);
      // A page that ends on a stray still moves past it.
      const last = await get<Page>(route,
        `/projects/alpha/decisions?after_seq=${s3 - 1}&transition=Nope`);
      expect(last.body).toEqual({ records: [], next_after_seq: s3 + 1 });
      const tail = await get<Page>('/decisions', `/decisions?after_seq=${s3 - 2}`);
      expect(tail.body.records.map((r) => r.wal_seq)).toEqual([s3 - 1, s3 + 1]);
      for (const seq of stored.straySeqs) {
        const r = await get('/decisions/{id}', `/decisions/${seq}`);
        expect(r.status, `${seq}: ${JSON.stringify(r.body)}`).toBe(404);
        expect(r.body).toMatchObject({ code: 'not_found' });
      }
    });

  it('Given a small read bucket, Then the next log read is 429 with Retry-After, other reads are not limited, and the bucket refills', async () => {
    let nowMs = 1_000_000;
    const limited = await createHttpServer({ instance, log: quiet, now: () => nowMs, rateLimits: { reads: { perSecond: 1, burst: 2 } } });
    const at = await limited.listen({ port: 0, host: '127.0.0.1' });
    try {
      const seq = stored.recordSeqs[0] as number;
      // An id lookup takes the whole burst (its cost, 5, is clamped to the burst of 2).
      expect((await fetch(`${at}/decisions/${seq}`)).status).toBe(200);
      for (const url of ['/decisions?limit=1', '/projects/alpha/decisions', '/deployment/decisions', `/decisions/${seq}`]) {
        const res = await fetch(`${at}${url}`);
        const body = (await res.json()) as J;
        expectConforms('GET', url.startsWith('/decisions/') ? '/decisions/{id}' : url.startsWith('/projects') ? '/projects/{project}/decisions' : url.split('?')[0] as string, res.status, body);
        expect(res.status, url).toBe(429);
        // An id lookup waits for its whole cost (2 tokens at 1/s); a page for one token.
        const wait = url.startsWith('/decisions/') ? 2 : 1;
        expect(res.headers.get('retry-after'), url).toBe(String(wait));
        expect(body).toMatchObject({ code: 'rate_limited', retry_after_s: wait });
      }
      // A percent-encoded path reaches the same route, and the same bucket.
      const encoded = await fetch(`${at}/decision%73?limit=1`);
      expect(encoded.status).toBe(429);
      await encoded.text();
      // Not a log read: not limited by the read bucket.
      expect((await fetch(`${at}/openapi.json`)).status).toBe(200);
      nowMs += 1_000;
      expect((await fetch(`${at}/decisions?limit=1`)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('Given a well-formed record whose signature does not verify (a forgery on a record subject), Then no page shows it and its seq is 404', async () => {
    const forged = { ...record(0, 'alpha', 999_999, 'Execution_PlanLocked'), signature: hex(1, 128) };
    const js = jsm.jetstream();
    const ack = await js.publish(subjectsFor(fx.prefix).dr('alpha'), JSON.stringify({ ...forged, wal_seq: 0 }));
    const atSeq = await js.publish(subjectsFor(fx.prefix).dr('alpha'), JSON.stringify({ ...forged, wal_seq: ack.seq + 1 }));
    const page = await get<Page>('/decisions', `/decisions?after_seq=${ack.seq - 1}`);
    expect(page.body.records).toEqual([]);
    const one = await get('/decisions/{id}', `/decisions/${atSeq.seq}`);
    expect(one.status).toBe(404);
  });
});
