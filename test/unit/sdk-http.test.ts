/**
 * The HTTP client's answer parsing against hand-built bodies (through an injected fetch, so
 * nothing here is a mock of NATS or of the server's logic), its network-failure errors against
 * a closed port, and the Producer's read–build–sign–submit loop with its stale-state retries.
 */
import { describe, expect, it } from 'vitest';
import { compareHlc, parseHlc, type Hlc } from '../../src/core/model/hlc.js';
import {
  HttpClient,
  HttpNetworkError,
  Producer,
  ProducerClock,
  generateIdentity,
  verifyProposal,
  type FetchFn,
  type SignedProposal,
} from '../../src/sdk/index.js';
import { h } from '../../src/proving/sim/world.js';

const T0 = Date.UTC(2025, 9, 19, 1, 0, 0);

interface Call {
  readonly url: string;
  readonly init: RequestInit;
}

/** A fetch answering every request with `status` and `body`, recording what it was asked. */
function canned(status: number, body: unknown): { fetch: FetchFn; calls: Call[] } {
  const calls: Call[] = [];
  const fetchFn: FetchFn = (url, init) => {
    calls.push({ url, init });
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return Promise.resolve(new Response(text, { status }));
  };
  return { fetch: fetchFn, calls };
}

/** A client whose every request gets `status` and `body`. */
function client(status: number, body: unknown): HttpClient {
  return new HttpClient('http://x.test', { fetch: canned(status, body).fetch });
}

const REJECTED = {
  status: 'rejected', code: 'stale_state_hash', message: 'current_state_hash is not the HEAD',
  failing_guard: 'concurrency',
  guard_outcomes: [{ guard: 'schema', ok: true, code: null, reasons: [] }],
  dr_id: 'bubble://dr/test/7',
  head: { state_hash: h('head'), hlc_last: '2025-10-19T01:00:00.000+00:00#3' },
};

const ACCEPTED = {
  status: 'accepted', duplicate: false, dr_id: 'bubble://dr/t/5', wal_seq: 5,
  state_hash: h('s'), hlc: '2025-10-19T01:00:00.000+00:00#4',
};

describe('HttpClient answers', () => {
  const signed = {} as SignedProposal;

  it('Given 202 accepted, Then an accepted answer, after a JSON POST to /transition', async () => {
    const f = canned(202, ACCEPTED);
    const a = await new HttpClient('http://x.test/api/', { fetch: f.fetch }).submit(signed);
    const { status: _s, ...wire } = ACCEPTED;
    expect(a).toEqual({ kind: 'accepted', httpStatus: 202, ...wire });
    expect(f.calls[0]?.url).toBe('http://x.test/api/transition');
    expect(f.calls[0]?.init).toMatchObject({
      method: 'POST', body: '{}', headers: { 'content-type': 'application/json' },
    });
  });

  it('Given 400 rejected with a record, Then a rejected answer: code, outcomes, head', async () => {
    const a = await client(400, REJECTED).submit(signed);
    expect(a).toMatchObject({
      kind: 'rejected', httpStatus: 400, code: 'stale_state_hash', failing_guard: 'concurrency',
    });
    if (a.kind !== 'rejected') throw new Error(a.kind);
    expect(a.head.hlc_last).toBe(REJECTED.head.hlc_last);
    expect(a.guard_outcomes).toHaveLength(1);
  });

  it('Given 400 invalid_proposal or 413 (not logged), Then an invalid answer, path', async () => {
    const body = {
      status: 'rejected', code: 'invalid_proposal', reason: 'invalid_inputs',
      message: 'inputs.sources: expected an array', path: 'inputs.sources',
    };
    expect(await client(400, body).submit(signed)).toEqual({
      kind: 'invalid', httpStatus: 400, code: 'invalid_proposal', reason: 'invalid_inputs',
      message: body.message, path: 'inputs.sources',
    });
    const big = { status: 'rejected', code: 'body_too_large', message: 'body: over 256 KiB' };
    expect(await client(413, big).submit(signed)).toMatchObject({
      kind: 'invalid', httpStatus: 413, code: 'body_too_large', reason: 'body_too_large', path: '',
    });
  });

  it('Given 504, Then a timeout answer carrying the WAL sequence', async () => {
    const body = { status: 'timeout', code: 'decision_timeout', wal_seq: 9, message: 'wal_seq: 9' };
    expect(await client(504, body).submit(signed))
      .toEqual({ kind: 'timeout', httpStatus: 504, wal_seq: 9, message: 'wal_seq: 9' });
  });

  it('Given a 503, a 500 page, or a 202 missing a field, Then an error answer, why', async () => {
    const busy = { code: 'log_unavailable', message: 'nats: JetStream did not answer' };
    expect(await client(503, busy).submit(signed)).toEqual({
      kind: 'error', httpStatus: 503, code: 'log_unavailable',
      message: 'unexpected HTTP 503 answer: nats: JetStream did not answer', body: busy,
    });
    expect(await client(500, '<html>oops</html>').submit(signed)).toEqual({
      kind: 'error', httpStatus: 500, code: null, message: 'unexpected HTTP 500 answer',
      body: '<html>oops</html>',
    });
    expect(await client(202, { status: 'accepted', dr_id: 'd' }).submit(signed)).toMatchObject({
      kind: 'error', httpStatus: 202,
      message: 'unexpected HTTP 202 answer: wal_seq: expected an integer',
    });
  });

  it('Given GET /state with a projection, Then the URL carries it, the body parses', async () => {
    const state = {
      hash: h('head'), facts_hash: h('f'), hlc_last: null, wal_seq: 0,
      region_hashes: { council: h('c') }, projection: {},
    };
    const s = canned(200, state);
    const http = new HttpClient('http://x.test', { fetch: s.fetch });
    expect(await http.state(['Council', 'Ingestion']))
      .toEqual({ kind: 'ok', httpStatus: 200, body: state });
    expect(s.calls[0]?.url).toBe('http://x.test/state?projection=Council%2CIngestion');
    expect(await client(200, { ...state, hash: 1 }).state())
      .toMatchObject({
        kind: 'error', message: 'unexpected HTTP 200 answer: hash: expected a string',
      });
  });

  it('Given GET /health answering 503, Then the health body with httpStatus 503', async () => {
    const health = {
      status: 'starting', consensus: { role: 'follower', term: 0, leader: null },
      lastSnapshotHLC: null, walLag: 3,
    };
    expect(await client(503, health).health())
      .toEqual({ kind: 'ok', httpStatus: 503, body: health });
  });

  it('Given decision lookups and queries, Then URLs are encoded and records checked', async () => {
    const d = canned(404, { code: 'not_found', message: 'id: no such record' });
    expect(await new HttpClient('http://x.test', { fetch: d.fetch }).decision('bubble://dr/t/3'))
      .toMatchObject({
        kind: 'error', httpStatus: 404, code: 'not_found', message: 'HTTP 404: id: no such record',
      });
    expect(d.calls[0]?.url).toBe('http://x.test/decisions/bubble%3A%2F%2Fdr%2Ft%2F3');
    const rec = {
      dr_id: 'bubble://dr/t/4', wal_seq: 4, writer: 'w', signature: 's', prev_dr_hash: 'p',
      outcome: 'fact',
    };
    const q = canned(200, { records: [rec], next_after_seq: 4 });
    const http = new HttpClient('http://x.test', { fetch: q.fetch });
    expect(await http.decisions({ outcome: 'fact', after_seq: 3, limit: 10 }))
      .toEqual({ kind: 'ok', httpStatus: 200, body: { records: [rec], next_after_seq: 4 } });
    expect(q.calls[0]?.url).toBe('http://x.test/decisions?outcome=fact&after_seq=3&limit=10');
    expect(await client(200, { records: [rec, {}], next_after_seq: 5 }).decisions()).toMatchObject({
      kind: 'error', message: 'unexpected HTTP 200 answer: records[1].dr_id: expected a string',
    });
  });

  it('Given no server, or no answer in time, Then HttpNetworkError (timedOut: which)', async () => {
    const refused = new HttpClient('http://127.0.0.1:1').health();
    await expect(refused).rejects.toBeInstanceOf(HttpNetworkError);
    await expect(refused).rejects.toMatchObject({
      timedOut: false,
      message: expect.stringMatching(/^GET http:\/\/127\.0\.0\.1:1\/health: no answer/) as string,
    });
    const hang: FetchFn = (_url, init) => new Promise((_resolve, reject) => {
      init.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error));
    });
    await expect(new HttpClient('http://x.test', { fetch: hang, timeoutMs: 20 }).state())
      .rejects.toMatchObject({ name: 'HttpNetworkError', timedOut: true });
    expect(() => new HttpClient('not a url')).toThrow(TypeError);
    expect(() => new HttpClient('http://x.test', { timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});

type Answer = object & { readonly status: string };

/** A fake server: HEAD and region hashes change with `version`; answers come from `answers`. */
class FakeServer {
  version = 0;
  hlcLast: string | null = '2025-10-19T01:00:09.000+00:00#2';
  stateStatus = 200;
  readonly submitted: SignedProposal[] = [];

  constructor(private readonly answers: (p: SignedProposal, fresh: boolean) => Answer) {}

  hashOf(section: string): string {
    return h(`${section}-${this.version}`);
  }

  readonly fetch: FetchFn = (url, init) => {
    if (url.endsWith('/state?projection=clock')) {
      const body = {
        hash: this.hashOf('head'), facts_hash: h('f'), hlc_last: this.hlcLast,
        wal_seq: this.version, projection: null,
        region_hashes: { council: this.hashOf('council'), ingestion: this.hashOf('ingestion') },
      };
      return Promise.resolve(Response.json(body, { status: this.stateStatus }));
    }
    const p = JSON.parse(init.body as string) as SignedProposal;
    this.submitted.push(p);
    const fresh = [this.hashOf('head'), this.hashOf('council')].includes(p.current_state_hash);
    const answer = this.answers(p, fresh);
    const status = answer.status === 'accepted' ? 202 : 400;
    return Promise.resolve(Response.json(answer, { status }));
  };

  producer(retries?: number): Producer {
    const http = new HttpClient('http://x.test', { fetch: this.fetch });
    const clock = new ProducerClock({ now: () => T0 });
    return new Producer({ identity, http, clock, ...(retries === undefined ? {} : { retries }) });
  }
}

const identity = generateIdentity();

function hlcOf(text: string): Hlc {
  const p = parseHlc(text);
  if (!p.ok) throw new Error(p.message);
  return p.hlc;
}

describe('Producer', () => {
  it('Given the state moves twice under it, Then it resubmits with the same idem key', async () => {
    const server: FakeServer = new FakeServer((_p, fresh) => {
      if (server.submitted.length <= 2) server.version += 1; // someone else wrote first
      return fresh && server.submitted.length > 2 ? ACCEPTED : REJECTED;
    });
    expect((await server.producer().propose('Council_McpGreen', {})).kind).toBe('accepted');
    const sent = server.submitted;
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((p) => p.idem_key)).size).toBe(1);
    expect(sent.map((p) => p.current_state_hash)).toEqual([0, 1, 2].map((v) => h(`council-${v}`)));
    // Each attempt verifies, and is stamped after hlc_last and after the attempt before it.
    let prev = hlcOf(server.hlcLast ?? '');
    for (const p of sent) {
      expect(verifyProposal(p)).toBe(true);
      expect(compareHlc(hlcOf(p.hlc), prev)).toBe(1);
      prev = hlcOf(p.hlc);
    }
  });

  it('Given the state is always stale, Then it stops after the retries, rejected', async () => {
    const server = new FakeServer(() => REJECTED);
    const answer = await server.producer(2)
      .propose('Boot_ConfigOk', { config_hash: h('c') }, { idemKey: 'boot-1' });
    expect(answer).toMatchObject({ kind: 'rejected', code: 'stale_state_hash' });
    expect(server.submitted.map((p) => [p.idem_key, p.current_state_hash]))
      .toEqual(Array(3).fill(['boot-1', h('head-0')]));
  });

  it('Given a rejection a fresh state cannot fix, or a failed read, Then no retry', async () => {
    const server = new FakeServer(() => ({ ...REJECTED, code: 'unauthorized_role' }));
    const producer = server.producer();
    expect(await producer.propose('Boot_Licensed'))
      .toMatchObject({ kind: 'rejected', code: 'unauthorized_role' });
    expect(server.submitted).toHaveLength(1);
    server.stateStatus = 503;
    expect(await producer.propose('Boot_Licensed'))
      .toMatchObject({ kind: 'error', httpStatus: 503 });
    expect(server.submitted).toHaveLength(1);
    await expect(producer.propose('Nope_Nothing')).rejects.toThrow(RangeError);
    expect(() => new Producer({ identity, http: producer.http, retries: -1 })).toThrow(RangeError);
  });
});
