/**
 * The HTTP Transition API over a real nats-server and an in-process writer: a full walk
 * (BOOT → lifecycle regions → EXECUTION → one PLAN → WORK → REVIEW → REVERB loop) driven by
 * signed proposals POSTed over HTTP, every rejection a caller can cause, and every GET route.
 * Every response received is checked against docs/openapi.yaml (expectConforms).
 */
import {
  jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REJECTION_CODES, createCore, type Genesis, type State, type WalEntry } from '../../src/core/index.js';
import { formatHlc, formatIsoUtcMs } from '../../src/core/model/hlc.js';
import type { JsonObject } from '../../src/core/encoding/json.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { HTTP_ERRORS } from '../../src/http/errors.js';
import { createHttpServer, type GatewayInstance } from '../../src/http/server.js';
import { Instance, type InstanceStatus } from '../../src/server/process/instance.js';
import { createLogger } from '../../src/server/observability/log.js';
import { createMetrics } from '../../src/server/observability/metrics.js';
import { applyStreams } from '../../src/server/process/apply-streams.js';
import { streamDefinitions, subjectsFor } from '../../streams/definitions.js';
import { natsFixture, uniquePrefix, type NatsFixture } from '../support/nats.js';
import { OPENAPI, expectConforms } from '../support/openapi.js';
import { publishEntries } from '../../src/proving/sim/publish.js';
import { COUNCIL_INPUTS } from '../../src/proving/sim/walk.js';
import { CAST, World, castGenesis, h, type Actor, type ProposeOpts } from '../../src/proving/sim/world.js';

const quiet = createLogger({ level: process.env['SWOOSH_TEST_LOG'] ?? 'warn' });

type J = Record<string, unknown>;

/** One HTTP answer: status, parsed body (JSON or text) and content type. */
interface Res<T = J> {
  readonly status: number;
  readonly body: T;
  readonly type: string;
}

/** GET /state's body (after expectConforms has checked it). */
interface StateBody {
  readonly hash: string;
  readonly facts_hash: string;
  readonly hlc_last: string | null;
  readonly wal_seq: number;
  readonly region_hashes: Record<string, string>;
  readonly projection: Record<string, J>;
}

/** The decision record fields the tests read. */
interface Rec {
  readonly wal_seq: number;
  readonly dr_id: string;
  readonly outcome: string;
  readonly transition: string | null;
}

/** GET /decisions's body. */
interface Page {
  readonly records: Rec[];
  readonly next_after_seq: number;
}

/** One HTTP exchange; every answer is checked against docs/openapi.yaml. */
async function call<T = J>(
  base: string,
  method: string,
  route: string,
  url: string,
  init: RequestInit = {},
): Promise<Res<T>> {
  const res = await fetch(`${base}${url}`, { ...init, method });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const body = (type.includes('json') ? JSON.parse(text) : text) as T;
  expectConforms(method, route, res.status, body);
  return { status: res.status, body, type };
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The suite's world: NATS, the writer instance, its HTTP server and a producer. */
class Harness {
  fx!: NatsFixture;
  nc!: NatsConnection;
  js!: JetStreamClient;
  jsm!: JetStreamManager;
  inst!: Instance;
  app!: FastifyInstance;
  base = '';
  readonly core = createCore(nodeHasher);
  readonly genesis: Genesis;
  readonly w = new World(castGenesis(), undefined, { baseMs: Date.now() });
  /** Answers and bodies remembered across tests. */
  readonly saved: { first?: Res; last?: Res; lastBody?: J; stale?: Res; staleBody?: J } = {};
  private beatIndex = 0;

  constructor() {
    const g = this.core.parseGenesis(castGenesis());
    if (!g.ok) throw new Error(g.error.message);
    this.genesis = g.value;
  }

  async start(): Promise<void> {
    this.fx = await natsFixture();
    this.nc = await connect({ servers: this.fx.url, noAsyncTraces: true });
    this.js = jetstream(this.nc);
    this.jsm = await jetstreamManager(this.nc);
    this.inst = this.instance('w1');
    await this.inst.start();
    await waitFor('writer role', () => Promise.resolve(this.inst.status().role === 'writer'));
    this.app = await createHttpServer({ instance: this.inst, log: quiet });
    this.base = await this.app.listen({ port: 0, host: '127.0.0.1' });
  }

  async stop(): Promise<void> {
    await this.app?.close();
    await this.inst?.stop();
    await this.nc?.close();
    await this.fx?.close();
  }

  instance(name: string): Instance {
    return new Instance({
      natsUrl: this.fx.url, prefix: this.fx.prefix, name, genesis: this.genesis,
      signerSeed: randomBytes(32), log: quiet,
    });
  }

  get<T = J>(route: string, url: string, base = this.base): Promise<Res<T>> {
    return call<T>(base, 'GET', route, url);
  }

  post(body: J | string, base = this.base): Promise<Res> {
    return call(base, 'POST', '/transition', '/transition', {
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  async state(projection = 'facts,council'): Promise<StateBody> {
    const r = await this.get<StateBody>('/state', `/state?projection=${projection}`);
    expect(r.status).toBe(200);
    return r.body;
  }

  async walLast(): Promise<number> {
    return (await this.jsm.streams.info(subjectsFor(this.fx.prefix).walName)).state.last_seq;
  }

  /** Wait until the decision record of `seq` is stored (404 until then). */
  async decided(seq: number): Promise<Rec> {
    let rec: Rec | null = null;
    await waitFor(`decision ${seq}`, async () => {
      const r = await this.get<Rec>('/decisions/{id}', `/decisions/${seq}`);
      if (r.status === 200) rec = r.body;
      return r.status === 200;
    });
    if (rec === null) throw new Error(`no record ${seq}`);
    return rec;
  }

  /** Publish a fact to the WAL directly (as feeders do) and wait for its record. */
  async fact(kind: string, payload: JsonObject): Promise<void> {
    const [ack] = await publishEntries(this.js, this.fx.prefix, this.w, [
      this.w.factEntry(kind, payload),
    ]);
    expect((await this.decided(ack?.seq ?? 0)).outcome).toBe('fact');
  }

  beat(windowId: string, phase: 'plan' | 'review'): Promise<void> {
    return this.fact('backbeat', {
      type: 'backbeat.beatframe.v1', cluster_id: 'c1', beat_index: ++this.beatIndex,
      downbeat: phase === 'plan', phase, hlc: formatHlc({ ms: Date.now(), logical: 0 }),
      deadline_at: formatIsoUtcMs(Date.now() + 60_000), tempo_bpm: 120, window_id: windowId,
    });
  }

  /** A signed proposal (JSON form) against the hashes and window GET /state shows now. */
  async build(by: Actor, transition: string, inputs: JsonObject = {}, o: ProposeOpts = {}) {
    const st = await this.state();
    this.w.observeHlc(st.hlc_last);
    const spec = this.core.chart.transitions.find((t) => t.name === transition);
    const hash = spec?.scope === 'region' ? st.region_hashes[spec.region] : st.hash;
    const beat = (st.projection['facts']?.['backbeat'] ?? {}) as { window_id?: string | null };
    const entry = this.w.proposalEntry(by, transition, inputs, {
      ...(hash === undefined ? {} : { hash }), window: beat.window_id ?? '', ...o,
    });
    return this.signed(entry);
  }

  /** The JSON form of a signed entry the world built: its body plus the hex signature. */
  signed(e: WalEntry): J {
    if (e.type !== 'signed') throw new Error('expected a signed entry');
    const sig = this.w.sigs.get(e.body);
    if (sig === undefined) throw new Error('no signature recorded');
    return { ...(JSON.parse(e.body) as J), signature: Buffer.from(sig).toString('hex') };
  }

  /** POST a proposal that must be accepted. */
  async accept(by: Actor, transition: string, inputs: JsonObject = {}, o: ProposeOpts = {}) {
    const body = await this.build(by, transition, inputs, o);
    const r = await this.post(body);
    expect(r.status, `${transition}: ${JSON.stringify(r.body)}`).toBe(202);
    expect(r.body).toMatchObject({ status: 'accepted', duplicate: false, hlc: body['hlc'] });
    this.saved.last = r;
    this.saved.lastBody = body;
    return r;
  }

  /** POST a proposal the writer must reject with `code` at `guard`. */
  async reject(body: J, code: string, guard: string): Promise<Res> {
    const r = await this.post(body);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body).toMatchObject({ status: 'rejected', code, failing_guard: guard });
    expect(String(r.body['message'])).not.toBe('');
    const st = await this.state();
    expect(r.body['head']).toEqual({ state_hash: st.hash, hlc_last: st.hlc_last });
    return r;
  }

  /** POST a proposal the gateway must refuse before writing: `code`, 403, the WAL unchanged. */
  async refuse(body: J | string, code: string, status = 403, headers: Record<string, string> = {}): Promise<Res> {
    const before = await this.walLast();
    const r = await call(this.base, 'POST', '/transition', '/transition', {
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body).toMatchObject({ status: 'rejected', code });
    expect(String(r.body['message'])).toContain('nothing was published');
    expect(await this.walLast()).toBe(before);
    return r;
  }
}

/*
 * Order: one nats-server, one writer and one walk serve the whole file (a walk to EXECUTION
 * over HTTP is ~30 signed round trips, too costly per case). The cases therefore run in file
 * order (vitest's default within a file; nothing here is concurrent) and build on each other:
 * 'POST /transition: decisions' walks and saves what later cases re-send. A case run alone
 * (-t) must not pass on missing setup, so each takes what it builds on through `need`, which
 * fails loudly, and every later describe checks the walk ran first.
 */
const t = new Harness();
beforeAll(() => t.start());
afterAll(() => t.stop());

/** What a case builds on, or a failure naming the earlier case that provides it. */
function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`this case builds on ${what}: run the whole file, in order`);
  return v;
}

const walked = (): void => {
  need(t.saved.first, "the walk of 'Given the cast, When a whole walk is POSTed'");
};

/** BOOT → PROJECT_LIFECYCLE → every region READY → EXECUTION, over HTTP. */
async function toExecution(): Promise<void> {
  t.saved.first = await t.accept(CAST.operator, 'Boot_ConfigOk', { config_hash: h('config') },
    { idem: 'boot-config-1' });
  await t.fact('license', { status: 'active', license_id: 'lic-1' });
  await t.accept(CAST.operator, 'Boot_Licensed');
  await t.accept(CAST.ingest, 'Ingestion_SourcesResolved',
    { sources: [{ uri: 'git://repo/a', kind: 'git' }] });
  const ing = CAST.ingest;
  await t.accept(ing, 'Ingestion_BytesOk', { manifest_hash: h('manifest'), bytes_total: 1 });
  await t.accept(ing, 'Ingestion_SchemaOk', { schema_version: 's1', checked: 1, failed: 0 });
  await t.accept(ing, 'Ingestion_CorpusBuilt', { content_hash: h('corpus'), version: 'v1' });
  await t.accept(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS);
  await t.fact('mcp', { tools: [{ name: 'repo-tools', reachable: true, version: '1.2.0' }] });
  const members = [CAST.c1.signer, CAST.c2.signer].sort();
  const msh = t.core.hash(members);
  const term = (await t.state()).projection['council']?.['term'] as number;
  const votes = [t.w.vote(CAST.v1, msh, term), t.w.vote(CAST.v2, msh, term)];
  await t.accept(CAST.c1, 'Council_QuorumCert', { members, member_set_hash: msh, term, votes });
  await t.accept(CAST.c1, 'Council_McpGreen');
  await t.fact('capacity', { cpu_millis: 8000, memory_mb: 16384, slots: 4 });
  const env = CAST.env;
  await t.accept(env, 'Environment_CapacityOk', { cpu_millis: 2000, memory_mb: 4096, slots: 1 });
  await t.accept(env, 'Environment_Installed', { assets: ['runner'], env_version: 'e1' });
  await t.accept(env, 'Environment_Green', { checks_passed: 3 });
  const p = (await t.state('Ingestion,Council,Environment')).projection;
  const pin = (section: string, field: string): string => p[section]?.[field] as string;
  await t.accept(CAST.operator, 'Lifecycle_AllReady', { pins: {
    content_hash: pin('ingestion', 'content_hash'), ingestion_version: pin('ingestion', 'version'),
    member_set_hash: pin('council', 'member_set_hash'),
    env_version: pin('environment', 'env_version'),
  } });
}

/** One PLAN → WORK → REVIEW → REVERB → PLAN loop in window W-1, over HTTP. */
async function loopOnce(): Promise<Res> {
  await t.beat('backbeat:W-1', 'plan');
  await t.accept(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('plan-1') });
  await t.beat('backbeat:W-1', 'review');
  await t.accept(CAST.c1, 'Execution_BeatReviewGate', { work_hash: h('work-1') });
  await t.accept(CAST.c1, 'Execution_SubmitApproval', { work_hash: h('work-1') });
  await t.accept(CAST.c2, 'Execution_SubmitApproval', { work_hash: h('work-1') });
  await t.accept(CAST.c1, 'Execution_ApprovalsThreshold');
  await t.beat('backbeat:W-1b', 'plan');
  return t.accept(CAST.c2, 'Execution_NextWindow');
}

describe('POST /transition: decisions', () => {
  it('Given the cast, When a whole walk is POSTed, Then every step is 202 and EXECUTION loops once',
    async () => {
      await toExecution();
      const last = await loopOnce();
      const st = await t.state('execution,control');
      expect(st.projection['control']?.['top']).toBe('EXECUTION');
      expect(st.projection['execution']).toMatchObject({ state: 'PLAN', loop: 1 });
      expect(st.hash).toBe(last.body['state_hash']);
    });

  it('Given proposals the writer refuses, Then 400 with code, guard, record and HEAD', async () => {
    walked();
    const plan = { plan_hash: h('plan-2') };
    const good = await t.build(CAST.c1, 'Execution_PlanLocked', plan);
    const sig = good['signature'] as string;
    const flipped = `${sig.startsWith('0') ? '1' : '0'}${sig.slice(1)}`;
    // Refused by the gateway before anything reaches the WAL (the writer would refuse them too).
    await t.refuse({ ...good, signature: flipped }, 'bad_signature');
    await t.refuse(await t.build(CAST.stranger, 'Execution_PlanLocked', plan), 'unknown_signer');
    const role = await t.refuse(await t.build(CAST.ingest, 'Execution_PlanLocked', plan), 'unauthorized_role');
    expect(role.body['message']).toContain('Execution_PlanLocked needs one of [council]');
    // Only application/json is parsed: a text/plain POST (no CORS preflight) is 415.
    const plain = await t.refuse(JSON.stringify(good), 'unsupported_media_type', 415, { 'content-type': 'text/plain' });
    expect(plain.body['message']).toBe('content-type: text/plain is not accepted; send the body as application/json; nothing was published');
    await t.refuse(JSON.stringify(good), 'unsupported_media_type', 415, { 'content-type': 'application/x-www-form-urlencoded' });
    t.saved.staleBody = await t.build(CAST.c1, 'Execution_PlanLocked', plan, { hash: h('stale') });
    t.saved.stale = await t.reject(t.saved.staleBody, 'stale_state_hash', 'concurrency');
    const old = formatHlc({ ms: Date.now() - 3_600_000, logical: 0 });
    await t.reject(await t.build(CAST.c1, 'Execution_PlanLocked', plan, { hlc: old }),
      'hlc_regression', 'hlc');
    const wrong = await t.reject(
      await t.build(CAST.c1, 'Execution_PlanLocked', plan, { window: 'backbeat:W-999' }),
      'window_mismatch', 'window');
    expect(wrong.body['message']).toContain('W-999');
    const id = encodeURIComponent(wrong.body['dr_id'] as string);
    const rec = await t.get<Rec>('/decisions/{id}', `/decisions/${id}`);
    expect(rec.body).toMatchObject({
      outcome: 'rejected', dr_id: wrong.body['dr_id'], transition: 'Execution_PlanLocked',
    });
  });

  it('Given an accepted idem key, Then 202 duplicate:true naming the original', async () => {
    const before = await t.walLast();
    const again = await t.build(CAST.operator, 'Boot_ConfigOk', { config_hash: h('config') },
      { idem: 'boot-config-1' });
    const r = await t.post(again);
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ ...need(t.saved.first, 'the walk').body, duplicate: true });
    expect(await t.walLast()).toBe(before + 1); // a new WAL entry, decided as a duplicate
    expect((await t.decided(before + 1)).outcome).toBe('duplicate');
  });

  it('Given an exact re-send, Then JetStream drops it and the original answers', async () => {
    const before = await t.walLast();
    const r = await t.post(need(t.saved.lastBody, 'the walk'));
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ ...need(t.saved.last, 'the walk').body, duplicate: true });
    const again = await t.post(need(t.saved.staleBody, "the stale proposal of 'Given proposals the writer refuses'"));
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({
      code: 'stale_state_hash', dr_id: need(t.saved.stale, 'the stale rejection').body['dr_id'],
    });
    expect(await t.walLast()).toBe(before);
  });

});

describe('POST /transition: malformed bodies', () => {
  beforeAll(walked);
  it('Given malformed bodies, Then 400 invalid_proposal or 413 naming the field, nothing published',
    async () => {
      const before = await t.walLast();
      const good = await t.build(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('plan-3') });
      const bad = async (body: J | string, reason: string, path: string): Promise<void> => {
        const r = await t.post(body);
        expect(r.status, JSON.stringify(r.body)).toBe(400);
        expect(r.body).toMatchObject({
          status: 'rejected', code: 'invalid_proposal', reason, path,
        });
        expect(String(r.body['message']).startsWith(`${path === '' ? 'body' : path}:`)).toBe(true);
      };
      await bad('{"transition": "Execution_PlanLocked",', 'invalid_proposal', '');
      await bad('[1, 2]', 'invalid_proposal', '');
      await bad('', 'invalid_proposal', '');
      const { idem_key: _i, ...noIdem } = good;
      await bad(noIdem, 'invalid_proposal', 'idem_key');
      const { signature: _s, ...unsigned } = good;
      await bad(unsigned, 'invalid_proposal', 'signature');
      await bad({ ...good, signature: 'ABCD' }, 'invalid_proposal', 'signature');
      await bad({ ...good, transition: 'Nope_Nothing' }, 'unknown_transition', 'transition');
      await bad({ ...good, inputs: { plan_hash: 'nope' } }, 'invalid_inputs', 'inputs.plan_hash');
      await bad({ ...good, inputs_hash: h('other') }, 'inputs_hash_mismatch', 'inputs_hash');
      await bad({ ...good, extra: 1 }, 'invalid_proposal', 'extra');
      const big = await t.post({ ...good, evidence: ['x'.repeat(300 * 1024)] });
      expect(big.status).toBe(413);
      expect(big.body).toMatchObject({ status: 'rejected', code: 'body_too_large' });
      expect(big.body['message']).toMatch(/^body: larger than the limit of 262144 bytes/);
      expect(await t.walLast()).toBe(before);
    });
});

describe('GET /state, /health, /metrics, /openapi.json', () => {
  beforeAll(walked);
  it('Given GET /state, Then hashes, HLC, seq, projections; unknown sections 400', async () => {
    const all = await t.get<StateBody>('/state', '/state');
    expect(Object.keys(all.body.projection).sort()).toEqual([
      'boot', 'clock', 'control', 'council', 'environment', 'epochs', 'execution', 'facts', 'idem',
      'identities', 'ingestion', 'meta', 'policy', 'projects',
    ]);
    const idem = all.body.projection['idem'] ?? {};
    expect(Object.keys(idem).sort()).toEqual(['base', 'count', 'head']);
    const st = t.inst.status();
    expect(all.body).toMatchObject({ hash: st.state_hash, wal_seq: st.wal_seq });
    const two = await t.get<StateBody>('/state', '/state?projection=Council,INGESTION');
    expect(Object.keys(two.body.projection).sort()).toEqual(['council', 'ingestion']);
    expect(two.body.region_hashes['council']).toBe(st.region_hashes['council']);
    for (const q of ['Bogus', 'council,', 'council,bogus']) {
      const bad = await t.get('/state', `/state?projection=${q}`);
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({
        status: 'rejected', code: 'invalid_projection', path: 'projection',
      });
      expect(bad.body['message']).toMatch(/^projection: /);
    }
  });

  it('Given /health, /metrics and /openapi.json, Then ready, Prometheus text, the document',
    async () => {
      const hl = await t.get('/health', '/health');
      expect(hl.status).toBe(200);
      expect(hl.body).toMatchObject({ status: 'ok', consensus: { role: 'writer', leader: 'w1' } });
      expect(hl.body['walLag']).toBeGreaterThanOrEqual(0);
      const m = await t.get<string>('/metrics', '/metrics');
      expect(m.status).toBe(200);
      expect(m.type).toBe(t.inst.metrics.contentType);
      expect(m.body).toContain('swoosh_decisions_total');
      const doc = await t.get('/openapi.json', '/openapi.json');
      expect(doc.status).toBe(200);
      expect(doc.body).toEqual(JSON.parse(JSON.stringify(OPENAPI)));
    });

});

describe('GET /decisions', () => {
  beforeAll(walked);
  it('Given GET /decisions/:id, Then by seq or dr_id; unknown is 404, malformed 400', async () => {
    const one = await t.get<Rec>('/decisions/{id}', '/decisions/1');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      wal_seq: 1, outcome: 'accepted', transition: 'Boot_ConfigOk',
    });
    const enc = encodeURIComponent(one.body.dr_id);
    const byId = await t.get<Rec>('/decisions/{id}', `/decisions/${enc}`);
    expect(byId.body).toEqual(one.body);
    for (const id of ['999999', encodeURIComponent('bubble://dr/elsewhere/default/1')]) {
      const r = await t.get('/decisions/{id}', `/decisions/${id}`);
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ code: 'not_found' });
      expect(r.body['message']).toMatch(/^id: /);
    }
    for (const id of ['abc', '0', '-1', '1.5', encodeURIComponent('bubble://dr/x/y')]) {
      const r = await t.get('/decisions/{id}', `/decisions/${id}`);
      expect(r.status, id).toBe(400);
      expect(r.body).toMatchObject({ status: 'rejected', code: 'invalid_parameter', path: 'id' });
    }
  });

  it('Given GET /decisions, Then filters, pages and cursors; bad params are 400 naming them',
    async () => {
      const q = (query: string): Promise<Res<Page>> =>
        t.get<Page>('/decisions', `/decisions?${query}`);
      const acc = await q('transition=Ingestion_SourcesResolved&outcome=accepted');
      expect(acc.body.records.map((r) => r.transition)).toEqual(['Ingestion_SourcesResolved']);
      const rej = await q('outcome=rejected&limit=1000');
      // stale_state_hash, hlc_regression and window_mismatch at least (signature and role
      // refusals never reach the WAL: the gateway refuses them).
      expect(rej.body.records.length).toBeGreaterThanOrEqual(3);
      expect(new Set(rej.body.records.map((r) => r.outcome))).toEqual(new Set(['rejected']));
      const p1 = await q('limit=2');
      expect(p1.body).toMatchObject({ next_after_seq: 2 });
      expect(p1.body.records.map((r) => r.wal_seq)).toEqual([1, 2]);
      const p2 = await q('limit=3&after_seq=2');
      expect(p2.body.records.map((r) => r.wal_seq)).toEqual([3, 4, 5]);
      const last = await t.walLast();
      expect((await q(`after_seq=${last}`)).body).toEqual({ records: [], next_after_seq: last });
      const cases: [string, string][] = [
        ['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=abc', 'limit'],
        ['after_seq=-1', 'after_seq'], ['outcome=bogus', 'outcome'],
        ['transition=a.b', 'transition'],
        ['transition=*', 'transition'], ['limit=1&limit=2', 'limit'], ['foo=1', 'foo'],
      ];
      for (const [query, param] of cases) {
        const r = await t.get('/decisions', `/decisions?${query}`);
        expect(r.status, query).toBe(400);
        expect(r.body).toMatchObject({
          status: 'rejected', code: 'invalid_parameter', path: param,
        });
        expect(r.body['message']).toMatch(new RegExp(`^${param}: `));
      }
    });
});

describe('other instances', () => {
  beforeAll(walked);
  it('Given a follower, Then it serves every route and relays proposals', async () => {
    const f = t.instance('f1');
    await f.start();
    const fapp = await createHttpServer({ instance: f, log: quiet });
    const fbase = await fapp.listen({ port: 0, host: '127.0.0.1' });
    try {
      await waitFor('follower caught up', async () => {
        const r = await t.get('/health', '/health', fbase);
        return r.status === 200 && f.status().wal_seq === t.inst.status().wal_seq;
      });
      const hl = await t.get('/health', '/health', fbase);
      expect(hl.body).toMatchObject({
        status: 'ok', consensus: { role: 'follower', leader: 'w1' },
      });
      const body = await t.build(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('plan-2') });
      const r = await t.post(body, fbase);
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const rec = await t.get<Rec>('/decisions/{id}', `/decisions/${r.body['wal_seq'] as number}`,
        fbase);
      expect(rec.body.outcome).toBe('accepted');
    } finally {
      await fapp.close();
      await f.stop();
    }
  });

  it('Given no writer and an instance not started, Then 504 with wal_seq, /health and /state 503; with no registry yet a proposal is 503 and nothing is published',
    async () => {
      const prefix = uniquePrefix();
      await applyStreams(t.nc, streamDefinitions({ prefix, replicas: 1 }), { mode: 'apply' });
      const status: InstanceStatus = {
        name: 'idle', role: 'starting', wal_seq: 0, state_hash: '', facts_hash: '', hlc_last: null,
        region_hashes: {}, wal_lag: 0, diverged: null, degraded: null, last_snapshot_hlc: null,
        last_snapshot_seq: 0, term: 0,
      };
      // The registry the gateway verifies signers against (the writer's, of another prefix).
      let registry: State | null = t.inst.currentDeployment();
      const idle: GatewayInstance = {
        status: () => status, stateOf: () => Promise.resolve(null), currentDeployment: () => registry,
        projectIds: () => [], buckets: () => 64, reducer: t.core, metrics: createMetrics(),
        nats: { nc: t.nc, js: t.js, jsm: t.jsm, subjects: subjectsFor(prefix), prefix },
        leaseHolder: () => Promise.resolve(null),
      };
      const iapp = await createHttpServer({ instance: idle, decisionTimeoutMs: 150 });
      const ibase = await iapp.listen({ port: 0, host: '127.0.0.1' });
      try {
        const body = await t.build(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('plan-x') });
        registry = null;
        const early = await t.post(body, ibase);
        expect(early.status).toBe(503);
        expect(early.body).toMatchObject({ code: 'not_ready' });
        expect((await t.jsm.streams.info(subjectsFor(prefix).walName)).state.last_seq).toBe(0);
        registry = t.inst.currentDeployment();
        const r = await t.post(body, ibase);
        expect(r.status).toBe(504);
        expect(r.body).toMatchObject({ status: 'timeout', code: 'decision_timeout', wal_seq: 1 });
        const hl = await t.get('/health', '/health', ibase);
        expect(hl.status).toBe(503);
        expect(hl.body).toMatchObject({
          status: 'starting', consensus: { role: 'starting', leader: null },
        });
        const st = await t.get('/state', '/state', ibase);
        expect(st.status).toBe(503);
        expect(st.body).toMatchObject({ code: 'not_ready' });
      } finally {
        await iapp.close();
      }
    });
});

describe('docs/openapi.yaml', () => {
  it('Given the document, Then its code lists match the core and the gateway catalogue', () => {
    const schemas = OPENAPI.components.schemas as Record<string, {
      enum?: string[];
      properties?: { code?: { enum?: string[] } };
    }>;
    expect([...(schemas['RejectionCode']?.enum ?? [])].sort())
      .toEqual(Object.keys(REJECTION_CODES).sort());
    expect([...(schemas['Error']?.properties?.code?.enum ?? []), 'decision_timeout'].sort())
      .toEqual(Object.keys(HTTP_ERRORS).sort());
  });
});

describe('the gateway locked down: tokens and rate limits', () => {
  beforeAll(walked);
  it('Given read and admin tokens, Then GETs need one (401 with WWW-Authenticate otherwise), /health stays open, and only the admin token sees the identities', async () => {
    const app = await createHttpServer({ instance: t.inst, readToken: 'r3ad-token', adminToken: 'adm1n-token' });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const as = (token: string | null, route: string, url: string): Promise<Res<StateBody>> =>
        call<StateBody>(base, 'GET', route, url, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
      const none = await as(null, '/state', '/state');
      expect(none.status).toBe(401);
      expect(none.body).toMatchObject({ code: 'unauthorized' });
      expect((await as('wrong', '/state', '/state')).status).toBe(401);
      expect((await as(null, '/decisions', '/decisions')).status).toBe(401);
      expect((await as(null, '/metrics', '/metrics')).status).toBe(401);
      expect((await as(null, '/health', '/health')).status).toBe(200);
      expect((await fetch(`${base}/state`, { method: 'HEAD' })).status).toBe(401);
      const raw = await fetch(`${base}/state`);
      expect(raw.headers.get('www-authenticate')).toBe('Bearer realm="swoosh"');
      const reader = await as('r3ad-token', '/state', '/state?projection=identities');
      expect(reader.status).toBe(200);
      const summary = reader.body.projection['identities'] as { count: number; hash: string };
      expect(summary).toEqual({ count: Object.keys(castGenesis()['identities'] as object).length, hash: t.core.hashes(t.inst.currentDeployment() as State).identities });
      const admin = await as('adm1n-token', '/state', '/state?projection=identities');
      expect(Object.keys(admin.body.projection['identities'] ?? {})).toContain(CAST.admin.signer);
      // Without tokens configured (the main app), reads are open but the registry is summarized.
      const open = await t.get<StateBody>('/state', '/state?projection=identities');
      expect(open.body.projection['identities']).toEqual(summary);
    } finally {
      await app.close();
    }
  });

  it('Given small per-signer and per-client buckets, Then the next proposal is 429 with Retry-After, nothing more published, and the bucket refills; bad signatures never spend a signer\'s budget', async () => {
    let nowMs = 1_000_000;
    const app = await createHttpServer({
      instance: t.inst, now: () => nowMs,
      rateLimits: { signer: { perSecond: 1, burst: 2 }, client: { perSecond: 4, burst: 6 } },
    });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      // Verified proposals the writer refuses (a stale HEAD, a wrong phase): recorded, nothing
      // changes.
      const stale = (): Promise<J> => t.build(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('plan-rl') }, { hash: h('stale-rl') });
      const good = await stale();
      const sig = good['signature'] as string;
      const bad = { ...good, signature: `${sig.startsWith('0') ? '1' : '0'}${sig.slice(1)}` };
      const before = await t.walLast();
      const post = (body: J): Promise<Res> => call(base, 'POST', '/transition', '/transition', {
        headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      // A stranger's forged bodies naming c1 are refused without spending c1's budget.
      for (let i = 0; i < 3; i++) expect((await post(bad)).body).toMatchObject({ code: 'bad_signature' });
      // Two tokens for c1: two verified proposals go through (and are recorded), the third waits.
      const recorded = (r: Res): void => {
        expect(r.status, JSON.stringify(r.body)).toBe(400);
        expect(typeof r.body['dr_id']).toBe('string');
      };
      recorded(await post(await stale()));
      recorded(await post(await stale()));
      const limited = await post(await stale());
      expect(limited.status).toBe(429);
      expect(limited.body).toMatchObject({ status: 'rejected', code: 'rate_limited', retry_after_s: 1 });
      expect(String(limited.body['message'])).toMatch(/^signer: too many proposals/);
      expect(await t.walLast()).toBe(before + 2);
      // The client's seventh request in the same instant is limited before its body is read.
      const res = await fetch(`${base}/transition`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as { message: string }).message).toMatch(/^client: too many proposals/);
      expect(await t.walLast()).toBe(before + 2);
      nowMs += 1_000; // one token back for each
      recorded(await post(await stale()));
    } finally {
      await app.close();
    }
  });
});

describe('the licence gate at the network', () => {
  beforeAll(walked);
  it('Given a licence revoked and its grace over, Then POST is 503 license_expired with nothing published; within the grace, and for reads, the gateway carries on', async () => {
    const d = t.inst.currentDeployment() as State;
    const sinceMs = 1_000_000;
    const revoked: State = { ...d, facts: { ...d.facts, license: { ...d.facts.license, status: 'revoked', since_ms: sinceMs } } };
    let nowMs = sinceMs + d.meta.config.license_grace_ms;
    const gw: GatewayInstance = {
      status: () => t.inst.status(), stateOf: (p) => t.inst.stateOf(p), currentDeployment: () => revoked,
      projectIds: () => t.inst.projectIds(), buckets: () => t.inst.buckets(), reducer: t.inst.reducer,
      metrics: t.inst.metrics, nats: t.inst.nats, leaseHolder: () => t.inst.leaseHolder(),
    };
    const app = await createHttpServer({ instance: gw, now: () => nowMs });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const body = await t.build(CAST.c1, 'Execution_PlanLocked', { plan_hash: h('plan-lic') });
      const sig = body['signature'] as string;
      const bad = { ...body, signature: `${sig.startsWith('0') ? '1' : '0'}${sig.slice(1)}` };
      const before = await t.walLast();
      const post = (b: J): Promise<Res> => call(base, 'POST', '/transition', '/transition', {
        headers: { 'content-type': 'application/json' }, body: JSON.stringify(b),
      });
      const r = await post(body);
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ code: 'license_expired' });
      expect(String(r.body['message'])).toContain('grace ended');
      expect(await t.walLast()).toBe(before);
      expect((await call(base, 'GET', '/health', '/health')).status).toBe(200);
      expect((await call(base, 'GET', '/state', '/state')).status).toBe(200);
      // One millisecond earlier the grace still runs: the gate lets the proposal on to the
      // signature check (a bad one here, so nothing is published either way).
      // Termination is still what the writer applies after the grace: it passes the gate.
      const term = await t.build(CAST.operator, 'Control_Terminate', { reason: 'licence gone' });
      const tsig = term['signature'] as string;
      const badTerm = { ...term, signature: `${tsig.startsWith('0') ? '1' : '0'}${tsig.slice(1)}` };
      expect((await post(badTerm)).body).toMatchObject({ code: 'bad_signature' });
      nowMs -= 1;
      expect((await post(bad)).body).toMatchObject({ code: 'bad_signature' });
    } finally {
      await app.close();
    }
  });
});
