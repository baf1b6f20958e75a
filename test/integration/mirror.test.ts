/**
 * The WHOOSH mirror (docs/migration.md) in front of a real SWOOSH deployment on a real
 * nats-server: a Gitea `issues` delivery for a Design Brief, signed with the hook's secret,
 * becomes Project_Create for the issue's project; a re-delivery is the same decision; a bad
 * HMAC is refused and nothing reaches the WAL; other events are ignored or, unmapped, answered
 * 501. Every answer carries the mapping file's hash.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { bytesToHex } from '../../src/crypto/keys.js';
import { createHttpServer } from '../../src/http/server.js';
import { giteaIssueProject } from '../../src/migration/gitea.js';
import { loadWhooshMap, whooshMapFrom, type WhooshMap } from '../../src/migration/map.js';
import { createMirrorServer } from '../../src/migration/mirror.js';
import { Instance } from '../../src/server/process/instance.js';
import { createLogger } from '../../src/server/observability/log.js';
import { HttpClient, Producer, identityFromSecretHex } from '../../src/sdk/index.js';
import { CAST, castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';
import { subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { waitUntil } from '../support/proc.js';

const quiet = createLogger({ level: process.env['SWOOSH_TEST_LOG'] ?? 'silent' });
const SECRET = 'gitea-hook-secret';

describe('swoosh mirror: Gitea webhooks into a SWOOSH deployment', () => {
  let fx: NatsFixture;
  let inst: Instance;
  let gateway: FastifyInstance;
  const mirrors: FastifyInstance[] = [];
  let gatewayUrl = '';
  const core = createCore(nodeHasher);
  const map = loadWhooshMap(core.chart, 'migration/whoosh-map.yaml');

  const startMirror = async (m: WhooshMap, forward?: string): Promise<string> => {
    // The mirror signs as an operator of the deployment (Project_Create's role).
    const producer = new Producer({ identity: identityFromSecretHex(bytesToHex(CAST.operator.secretKey)), http: new HttpClient(gatewayUrl) });
    const app = await createMirrorServer({
      map: m, secret: new TextEncoder().encode(SECRET), proposer: producer, log: quiet,
      ...(forward === undefined ? {} : { forward }),
    });
    mirrors.push(app);
    return app.listen({ port: 0, host: '127.0.0.1' });
  };
  const deliver = async (url: string, event: string, payload: unknown, o: { delivery?: string; secret?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> => {
    const raw = JSON.stringify(payload);
    const res = await fetch(`${url}/webhooks/gitea`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json', 'x-gitea-event': event, 'x-gitea-delivery': o.delivery ?? randomUUID(),
        'x-gitea-signature': createHmac('sha256', o.secret ?? SECRET).update(raw).digest('hex'),
      },
      body: raw,
    });
    return { status: res.status, body: await res.json() as Record<string, unknown> };
  };
  const walLast = async (): Promise<number> => (await inst.nats.jsm.streams.info(subjectsFor(fx.prefix).walName)).state.last_seq;
  const brief = (n: number, labels = ['chorus-entrypoint'], action = 'opened'): Record<string, unknown> => ({
    action, number: n,
    issue: { id: 100 + n, number: n, title: `Design Brief ${n}`, body: '', labels: labels.map((name) => ({ name })), user: { login: 'ana' } },
    repository: { full_name: 'chorus/briefs' }, sender: { login: 'ana' },
  });

  beforeAll(async () => {
    fx = await natsFixture();
    inst = new Instance({
      natsUrl: fx.url, prefix: fx.prefix, name: 'm1', genesis: parseFixtureGenesis(castGenesis(), core),
      signerSeed: randomBytes(32), log: quiet,
    });
    await inst.start();
    await waitUntil('the instance writes', () => Promise.resolve((inst.status().buckets_held ?? []).length > 0 || inst.status().role === 'writer'), 20_000);
    gateway = await createHttpServer({ instance: inst, log: quiet });
    gatewayUrl = await gateway.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    for (const m of mirrors) await m.close();
    await gateway?.close();
    await inst?.stop();
    await fx?.close();
  });

  it('Given a signed delivery of a labelled issue, Then Project_Create for its project is accepted; a re-delivery (Gitea gives it a new id) and a later label change are the same decision', async () => {
    const url = await startMirror(map);
    const delivery = randomUUID();
    const a = await deliver(url, 'issues', brief(1), { delivery });
    const project = giteaIssueProject(brief(1));
    expect(a.status, JSON.stringify(a.body)).toBe(202);
    expect(a.body).toMatchObject({
      status: 'accepted', event: 'gitea.issues.opened', transition: 'Project_Create', inputs: { project },
      delivery, map_hash: map.hash,
    });
    expect(String(a.body['idem_key'])).toMatch(/^whoosh:Project_Create:[0-9a-f]{32}$/);
    expect(inst.projectIds()).toContain(project);
    const again = await deliver(url, 'issues', brief(1));
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ status: 'duplicate', wal_seq: a.body['wal_seq'], dr_id: a.body['dr_id'], idem_key: a.body['idem_key'] });
    const labelled = await deliver(url, 'issues', brief(1, ['chorus-entrypoint'], 'label_updated'));
    expect(labelled.body).toMatchObject({ status: 'duplicate', event: 'gitea.issues.label_updated', wal_seq: a.body['wal_seq'] });
    // Another issue, another project.
    const two = await deliver(url, 'issues', brief(8));
    expect(two.body).toMatchObject({ status: 'accepted', inputs: { project: giteaIssueProject(brief(8)) } });
    expect(two.body['idem_key']).not.toBe(a.body['idem_key']);
  });

  it('Given a bad HMAC, a missing delivery id, or a body that is not JSON, Then refused with a stable code and nothing reaches the WAL', async () => {
    const url = await startMirror(map);
    const before = await walLast();
    const forged = await deliver(url, 'issues', brief(2), { secret: 'wrong' });
    expect(forged).toMatchObject({ status: 401, body: { code: 'bad_signature' } });
    // The HMAC is over the bytes as sent: the same JSON with other whitespace is another body.
    const spaced = JSON.stringify(brief(2), null, 2);
    const resigned = await fetch(`${url}/webhooks/gitea`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gitea-event': 'issues', 'x-gitea-delivery': randomUUID(), 'x-gitea-signature': createHmac('sha256', SECRET).update(JSON.stringify(brief(2))).digest('hex') },
      body: spaced,
    });
    expect(resigned.status).toBe(401);
    const raw = 'not json';
    const res = await fetch(`${url}/webhooks/gitea`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gitea-event': 'issues', 'x-gitea-delivery': randomUUID(), 'x-gitea-signature': createHmac('sha256', SECRET).update(raw).digest('hex') },
      body: raw,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'invalid_payload' });
    const noDelivery = await fetch(`${url}/webhooks/gitea`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gitea-event': 'issues', 'x-gitea-signature': createHmac('sha256', SECRET).update('{}').digest('hex') },
      body: '{}',
    });
    expect(noDelivery.status).toBe(400);
    expect(await noDelivery.json()).toMatchObject({ code: 'invalid_delivery' });
    expect(await walLast()).toBe(before);
  });

  it('Given tee mode in front of WHOOSH, Then WHOOSH gets every delivery unchanged and answers Gitea, and the deployment gets the proposal; a forged delivery still reaches WHOOSH only', async () => {
    const seen: { body: string; headers: Record<string, unknown> }[] = [];
    const whoosh = Fastify();
    whoosh.removeAllContentTypeParsers();
    whoosh.addContentTypeParser('*', { parseAs: 'string' }, (_r, body, done) => done(null, body));
    whoosh.post('/webhooks/gitea', (req, reply) => {
      seen.push({ body: String(req.body), headers: req.headers });
      return reply.code(200).send({ whoosh: 'ok', n: seen.length });
    });
    mirrors.push(whoosh);
    const whooshUrl = await whoosh.listen({ port: 0, host: '127.0.0.1' });
    const url = await startMirror(map, whooshUrl);
    const delivery = randomUUID();
    const a = await deliver(url, 'issues', brief(5), { delivery });
    expect(a).toEqual({ status: 200, body: { whoosh: 'ok', n: 1 } });
    expect(seen[0]?.body).toBe(JSON.stringify(brief(5)));
    expect(seen[0]?.headers).toMatchObject({ 'x-gitea-event': 'issues', 'x-gitea-delivery': delivery });
    const project = giteaIssueProject(brief(5)) as string;
    await waitUntil('the mirrored project', () => Promise.resolve(inst.projectIds().includes(project)), 10_000);
    const before = await walLast();
    const forged = await deliver(url, 'issues', brief(6), { secret: 'wrong' });
    expect(forged).toEqual({ status: 200, body: { whoosh: 'ok', n: 2 } });
    // (WHOOSH checks its own HMAC; the mirror refused it and proposed nothing.)
    await new Promise((r) => setTimeout(r, 300));
    expect(await walLast()).toBe(before);
    expect(inst.projectIds()).not.toContain(giteaIssueProject(brief(6)));
    // WHOOSH down: Gitea is told so (502), and it re-delivers.
    await whoosh.close();
    const down = await deliver(url, 'issues', brief(7));
    expect(down).toMatchObject({ status: 502, body: { code: 'whoosh_unavailable' } });
    // The mirror still mirrored it (a re-delivery would be the same decision, by its idem key).
    const seven = giteaIssueProject(brief(7)) as string;
    await waitUntil('the delivery WHOOSH missed, mirrored', () => Promise.resolve(inst.projectIds().includes(seven)), 10_000);
  });

  it('Given events WHOOSH does not act on, Then ignored with the reason; with a map that leaves them unmapped, Then 501; nothing reaches the WAL', async () => {
    const url = await startMirror(map);
    const before = await walLast();
    const unlabelled = await deliver(url, 'issues', brief(3, ['bug']));
    expect(unlabelled).toMatchObject({ status: 200, body: { status: 'ignored', reason: 'the issue is not labelled chorus-entrypoint' } });
    expect(await deliver(url, 'push', { ref: 'refs/heads/main' })).toMatchObject({ status: 200, body: { status: 'ignored', entry: 'gitea.push' } });
    const narrow = whooshMapFrom(core.chart, { version: 1, events: { 'gitea.issues.opened': { ignore: 'not yet' } } });
    const narrowUrl = await startMirror(narrow);
    const unmapped = await deliver(narrowUrl, 'release', { action: 'published' });
    expect(unmapped).toMatchObject({ status: 501, body: { code: 'unmapped', event: 'gitea.release.published', map_hash: narrow.hash } });
    const health = await (await fetch(`${narrowUrl}/health`)).json() as { counts: Record<string, number> };
    expect(health.counts).toMatchObject({ unmapped: 1, proposed: 0 });
    expect(await walLast()).toBe(before);
  });
});
