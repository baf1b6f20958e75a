/**
 * The v2 HTTP surface (contract v2 §4) on a real nats-server and a real writer: projects
 * created through POST /control/transition, proposals through POST /projects/{p}/transition,
 * GET /projects, GET /projects/{p}/state, GET /deployment and the per-chain decision queries;
 * path and body must agree on the chain. Every answer is checked against docs/openapi.yaml.
 * Run with one writer and with writers by bucket.
 */
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { bytesToHex } from '../../src/crypto/keys.js';
import { createHttpServer } from '../../src/http/server.js';
import { Instance } from '../../src/server/process/instance.js';
import { createLogger } from '../../src/server/observability/log.js';
import {
  HttpClient,
  Producer,
  ProducerClock,
  buildProposal,
  identityFromSecretHex,
  signProposal,
  type Identity,
} from '../../src/sdk/index.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { expectConforms } from '../support/openapi.js';
import { CAST, World, castGenesis, h, parseFixtureGenesis, type Actor } from '../../src/proving/sim/world.js';
import { publishEntries } from '../../src/proving/sim/publish.js';
import { FACTS_REFUSED_WINDOW } from '../../src/server/process/instance.js';
import { jetstream } from '@nats-io/jetstream';

const quiet = createLogger({ level: process.env['SWOOSH_TEST_LOG'] ?? 'warn' });

type J = Record<string, unknown>;

function idOf(a: Actor): Identity {
  return identityFromSecretHex(bytesToHex(a.secretKey));
}

// The same surface with one writer and with writers by bucket (records out of WAL order).
describe.each(['lease', 'buckets'] as const)('HTTP v2: projects (writers %s)', (writers) => {
  let fx: NatsFixture;
  let inst: Instance;
  let app: FastifyInstance;
  let base = '';
  let http: HttpClient;
  const clock = new ProducerClock();
  const core = createCore(nodeHasher);
  const js = (): ReturnType<typeof jetstream> => jetstream(inst.nats.nc);
  /** Every entry up to here has its record stored (by bucket, deciding runs ahead of storing). */
  const storedUpTo = (): number => {
    const st = inst.status();
    return st.stored_seq ?? st.wal_seq;
  };

  /** One exchange, checked against the OpenAPI document for `route`. */
  async function call(method: 'GET' | 'POST', route: string, url: string, body?: unknown): Promise<{ status: number; body: J }> {
    const res = await fetch(`${base}${url}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const parsed = (await res.json()) as J;
    expectConforms(method, route, res.status, parsed);
    return { status: res.status, body: parsed };
  }

  beforeAll(async () => {
    fx = await natsFixture();
    inst = new Instance({
      natsUrl: fx.url, prefix: fx.prefix, name: 'p1', genesis: parseFixtureGenesis(castGenesis(), core),
      signerSeed: randomBytes(32), log: quiet, writers,
    });
    await inst.start();
    const until = Date.now() + 20_000;
    while (inst.status().role !== 'writer' && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    app = await createHttpServer({ instance: inst, log: quiet });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    http = new HttpClient(base);
  });

  afterAll(async () => {
    await app?.close();
    await inst?.stop();
    await fx?.close();
  });

  it('Given an admin, When projects are created over POST /control/transition, Then GET /projects lists them with the default', async () => {
    const admin = new Producer({ identity: idOf(CAST.admin), http, clock });
    for (const project of ['alpha', 'beta']) {
      const a = await admin.propose('Project_Create', { project, quorum_threshold: 1 });
      expect(a, JSON.stringify(a)).toMatchObject({ kind: 'accepted', httpStatus: 202 });
    }
    const again = await admin.propose('Project_Create', { project: 'alpha' });
    expect(again).toMatchObject({ kind: 'rejected', code: 'project_exists' });
    const list = await call('GET', '/projects', '/projects');
    expect(list.status).toBe(200);
    const rows = list.body['projects'] as J[];
    expect(rows.map((r) => r['project'])).toEqual(['alpha', 'beta', 'default']);
    expect(rows.every((r) => r['top'] === 'BOOT' && typeof r['bucket'] === 'number')).toBe(true);
    expect(list.body['next']).toBeNull();
    const page = await call('GET', '/projects', '/projects?limit=2');
    expect((page.body['projects'] as J[]).map((r) => r['project'])).toEqual(['alpha', 'beta']);
    expect(page.body['next']).toBe('beta');
    const rest = await call('GET', '/projects', '/projects?after=beta&limit=2');
    expect((rest.body['projects'] as J[]).map((r) => r['project'])).toEqual(['default']);
    expect((await call('GET', '/projects', '/projects?limit=0')).status).toBe(400);
    expect((await call('GET', '/projects', '/projects?after=Not_An_Id')).status).toBe(400);
  });

  it('Given a producer for project alpha, When it proposes, Then only alpha\'s state and chain move', async () => {
    const beforeBeta = await call('GET', '/projects/{project}/state', '/projects/beta/state');
    const op = new Producer({ identity: idOf(CAST.operator), http, clock, project: 'alpha' });
    const a = await op.propose('Boot_ConfigOk', { config_hash: h('config') });
    expect(a, JSON.stringify(a)).toMatchObject({ kind: 'accepted', httpStatus: 202 });
    const alpha = await call('GET', '/projects/{project}/state', '/projects/alpha/state?projection=boot,meta');
    expect(alpha.body).toMatchObject({ project: 'alpha' });
    expect((alpha.body['projection'] as J)['boot']).toMatchObject({ state: 'LICENSE_CHECK' });
    expect(((alpha.body['projection'] as J)['meta'] as J)['project']).toBe('alpha');
    const beta = await call('GET', '/projects/{project}/state', '/projects/beta/state');
    expect(beta.body['hash']).toBe(beforeBeta.body['hash']);
    const chain = await call('GET', '/projects/{project}/decisions', '/projects/alpha/decisions');
    const recs = chain.body['records'] as J[];
    expect(recs.map((r) => [r['project'], r['chain_index'], r['transition']]))
      .toEqual([['alpha', 1, 'Boot_ConfigOk']]);
    expect(String(recs[0]?.['dr_id'])).toMatch(/\/alpha\/1$/);
    const byId = await call('GET', '/decisions/{id}', `/decisions/${encodeURIComponent(String(recs[0]?.['dr_id']))}`);
    expect(byId.body['wal_seq']).toBe(recs[0]?.['wal_seq']);
    const dep = await call('GET', '/deployment/decisions', '/deployment/decisions?transition=Project_Create');
    expect((dep.body['records'] as J[]).map((r) => [r['outcome'], r['project']]))
      .toEqual([['accepted', '_deployment'], ['accepted', '_deployment'], ['rejected', '_deployment']]);
    // The v1 read is the default project, untouched.
    const v1 = await call('GET', '/state', '/state?projection=boot');
    expect(v1.body['project']).toBe('default');
    expect((v1.body['projection'] as J)['boot']).toMatchObject({ state: 'UNINITIALIZED' });
  });

  it('Given path and body that disagree on the chain, Then 400 with a stable code and nothing is published', async () => {
    const walBefore = inst.status().wal_seq;
    const st = await http.state(['clock'], 'alpha');
    if (st.kind !== 'ok') throw new Error(st.message);
    const sign = (project: string | undefined, transition: string, inputs: J): J => signProposal(buildProposal({
      project, transition, inputs: inputs as never, signer: CAST.operator.signer, hlc: clock.next(),
      currentStateHash: st.body.hash,
    }), idOf(CAST.operator)) as unknown as J;
    const wrongProject = await call('POST', '/projects/{project}/transition', '/projects/beta/transition',
      sign('alpha', 'Control_Pause', { reason: 'x' }));
    expect(wrongProject).toMatchObject({
      status: 400, body: { code: 'invalid_proposal', reason: 'project_mismatch', path: 'project' },
    });
    const noProject = await call('POST', '/projects/{project}/transition', '/projects/alpha/transition',
      sign(undefined, 'Control_Pause', { reason: 'x' }));
    expect(noProject).toMatchObject({ status: 400, body: { reason: 'project_mismatch' } });
    const controlOnProject = await call('POST', '/projects/{project}/transition', '/projects/alpha/transition',
      sign('alpha', 'Project_Create', { project: 'gamma' }));
    expect(controlOnProject).toMatchObject({ status: 400, body: { reason: 'wrong_chain' } });
    const projectOnControl = await call('POST', '/control/transition', '/control/transition',
      sign(undefined, 'Control_Pause', { reason: 'x' }));
    expect(projectOnControl).toMatchObject({ status: 400, body: { reason: 'wrong_chain' } });
    const badId = await call('POST', '/projects/{project}/transition', '/projects/No_Such/transition',
      sign('alpha', 'Control_Pause', { reason: 'x' }));
    expect(badId).toMatchObject({ status: 400, body: { code: 'invalid_parameter' } });
    const v1Control = await call('POST', '/transition', '/transition',
      sign('alpha', 'Project_Create', { project: 'gamma' }));
    expect(v1Control).toMatchObject({ status: 400, body: { reason: 'project_mismatch' } });
    expect(inst.status().wal_seq).toBe(walBefore);
  });

  it('Given a project the registry does not hold, Then its state is 404 and a proposal for it is recorded unknown_project', async () => {
    const missing = await call('GET', '/projects/{project}/state', '/projects/nope/state');
    expect(missing).toMatchObject({ status: 404, body: { code: 'not_found' } });
    const op = new Producer({ identity: idOf(CAST.operator), http, clock, project: 'nope' });
    const a = await op.propose('Boot_ConfigOk', { config_hash: h('c') });
    expect(a.kind).toBe('error'); // the state read fails first: nothing to name a hash of
    const signed = signProposal(buildProposal({
      project: 'nope', transition: 'Boot_ConfigOk', inputs: { config_hash: h('c') },
      signer: CAST.operator.signer, hlc: clock.next(), currentStateHash: h('any'),
    }), idOf(CAST.operator));
    const r = await call('POST', '/projects/{project}/transition', '/projects/nope/transition', signed);
    expect(r).toMatchObject({ status: 400, body: { status: 'rejected', code: 'unknown_project' } });
    expect(String(r.body['dr_id'])).toMatch(/\/_deployment\/\d+$/);
  });

  it('Given facts whose signer the registry does not hold, When 20 in a row are refused, Then /health is degraded with the reason; a recorded fact clears it', async () => {
    const w = new World(castGenesis(), core, { baseMs: Date.now() });
    const refused = Array.from({ length: FACTS_REFUSED_WINDOW }, () => w.factEntry('tick', {}, CAST.stranger));
    const acks = await publishEntries(js(), fx.prefix, w, refused);
    const last = acks.at(-1)?.seq ?? 0;
    const until = Date.now() + 20_000;
    // Decisions are counted once their records are stored, a little after the replica moved on.
    const settle = async (cond: () => boolean): Promise<void> => {
      while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    };
    await settle(() => storedUpTo() >= last && inst.status().degraded !== null);
    const bad = await call('GET', '/health', '/health');
    expect(bad.status).toBe(503);
    expect(bad.body).toMatchObject({ status: 'degraded' });
    expect(String(bad.body['reason'])).toMatch(/facts were refused for their signer \(last: unknown_signer/);
    const [ok] = await publishEntries(js(), fx.prefix, w, [w.factEntry('tick', {})]);
    await settle(() => storedUpTo() >= (ok?.seq ?? 0) && inst.status().degraded === null);
    expect((await call('GET', '/health', '/health')).body).toMatchObject({ status: 'ok' });
  });

  it('Given GET /deployment, Then the genesis, hashes, buckets and project count', async () => {
    const d = await call('GET', '/deployment', '/deployment?projection=projects');
    expect(d.status).toBe(200);
    const dep = inst.currentDeployment();
    if (dep === null) throw new Error('no deployment');
    expect(d.body).toMatchObject({
      genesis_hash: dep.meta.genesis_hash, hash: core.hashes(dep).head, buckets: 64, projects: 3,
      identities_hash: core.hashes(dep).identities,
    });
    expect(Object.keys((d.body['projection'] as J)['projects'] as J)).toEqual(['alpha', 'beta', 'default']);
    const sdk = await http.deployment();
    expect(sdk).toMatchObject({ kind: 'ok', body: { hash: core.hashes(dep).head } });
    const pages = await http.projects({ limit: 1 });
    expect(pages).toMatchObject({ kind: 'ok', body: { next: 'alpha' } });
  });
});
