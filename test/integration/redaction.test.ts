/**
 * Redaction (issue: lock it down, item 6; docs/security.md "Redaction"). A value the chart
 * marks `sensitive: true` — today a source URI, which may carry a credential — is proposed
 * with a canary in it, accepted, refused by the schema, and quarantined by the SHHH policy;
 * then every HTTP answer (the proposals' own answers, /state of each project, /decisions,
 * /metrics) and every log line (debug level) is scanned: the canary appears nowhere, while the
 * WAL still holds it (the signed inputs are kept as sent; who may read the WAL is a NATS
 * permission) and the projections show `redacted:hmac-sha256-…` of the exact value under the
 * gateway's redaction key (checked here with node:crypto), or `redacted` alone without a key.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore, type State } from '../../src/core/index.js';
import { hashTargetOf } from '../../src/core/decide/hash-target.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { createHttpServer } from '../../src/http/server.js';
import { hasSensitive, parseRedactionKey } from '../../src/http/redact.js';
import { Instance } from '../../src/server/process/instance.js';
import { createLogger } from '../../src/server/observability/log.js';
import { NatsClient, ProducerClock, buildFact, buildProposal, identityFromSeed, signFact, signProposal } from '../../src/sdk/index.js';
import { CAST, castGenesis, type Actor } from '../../src/proving/sim/world.js';
import { subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { waitUntil } from '../support/proc.js';

const CANARY = {
  accepted: `cAnArY${randomBytes(8).toString('hex')}`,
  schema: `cAnArY${randomBytes(8).toString('hex')}`,
  policy: `cAnArY${randomBytes(8).toString('hex')}`,
};
type J = Record<string, unknown>;
type JsonInputs = NonNullable<Parameters<typeof buildProposal>[0]['inputs']>;

describe('redaction of sensitive inputs', () => {
  let fx: NatsFixture;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let inst: Instance;
  let app: FastifyInstance;
  let base = '';
  /** A second gateway on the same instance, without a redaction key. */
  let plain: FastifyInstance;
  let plainBase = '';
  const KEY_HEX = randomBytes(32).toString('hex');
  const hmac = (v: string): string => `redacted:hmac-sha256-${createHmac('sha256', Buffer.from(KEY_HEX, 'hex')).update(v, 'utf8').digest('hex')}`;
  const logChunks: string[] = [];
  const answers: string[] = [];
  const core = createCore(nodeHasher);
  const clock = new ProducerClock();

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    jsm = await jetstreamManager(nc);
    const g = core.parseGenesis(castGenesis({
      policy: { version: 1, denied_source_patterns: ['*evil.example*'] },
    }));
    if (!g.ok) throw new Error(g.error.message);
    const log = createLogger({ level: 'debug', destination: { write: (m: string): void => { logChunks.push(m); } } });
    inst = new Instance({
      natsUrl: fx.url, prefix: fx.prefix, name: 'w1', genesis: g.value, signerSeed: randomBytes(32), log,
    });
    await inst.start();
    await waitUntil('writer role', () => Promise.resolve(inst.status().role === 'writer'));
    const key = parseRedactionKey(KEY_HEX);
    if (typeof key === 'string') throw new Error(key);
    app = await createHttpServer({ instance: inst, log, redactionKey: key });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    plain = await createHttpServer({ instance: inst, log });
    plainBase = await plain.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await plain?.close();
    await inst?.stop();
    await nc?.close();
    await fx?.close();
  });

  async function http(method: string, path: string, body?: unknown, at = base): Promise<{ status: number; body: J }> {
    const res = await fetch(`${at}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    answers.push(text);
    const json = (res.headers.get('content-type') ?? '').includes('json');
    return { status: res.status, body: json ? (JSON.parse(text) as J) : { text } };
  }

  async function propose(by: Actor, project: string | null, transition: string, inputs: JsonInputs): Promise<J> {
    const spec = core.chart.transitions.find((t) => t.name === transition);
    if (spec === undefined) throw new Error(transition);
    const state = (project === null ? inst.currentDeployment() : inst.currentState(project)) as State;
    const hs = core.hashes(state);
    const target = hashTargetOf(spec);
    const signed = signProposal(buildProposal({
      ...(project === null ? {} : { project }), transition, inputs, signer: by.signer, hlc: clock.next(),
      currentStateHash: target === 'head' ? hs.head : hs.sections[target],
    }), identityFromSeed(by.secretKey.slice(0, 32)));
    const path = project === null ? '/control/transition' : `/projects/${project}/transition`;
    return (await http('POST', path, signed)).body;
  }

  it('Given a canary in a sensitive input, When it is accepted, refused by the schema and quarantined, Then no answer, projection, record, metric or log line shows it; the WAL keeps it', async () => {
    // The chart marks at least the source URI sensitive (else this test would prove nothing).
    const sensitive = core.chart.transitions.filter((t) => hasSensitive(t.inputs)).map((t) => t.name);
    expect(sensitive).toEqual(['Ingestion_SourcesResolved']);

    const feeder = NatsClient.fromConnection(nc, { prefix: fx.prefix });
    await feeder.submitFact(signFact(buildFact({ kind: 'license', signer: CAST.feeder.signer, hlc: clock.next(), payload: { status: 'active', license_id: 'l1' } }), identityFromSeed(CAST.feeder.secretKey.slice(0, 32))));
    await expect.poll(() => inst.currentDeployment()?.facts.license.status, { timeout: 10_000 }).toBe('active');
    expect(await propose(CAST.admin, null, 'Project_Create', { project: 'p2' })).toMatchObject({ status: 'accepted' });
    for (const p of ['default', 'p2']) {
      expect(await propose(CAST.operator, p, 'Boot_ConfigOk', { config_hash: `sha256-${'c'.repeat(64)}` })).toMatchObject({ status: 'accepted' });
      expect(await propose(CAST.operator, p, 'Boot_Licensed', {})).toMatchObject({ status: 'accepted' });
    }
    const uriAccepted = `https://oauth2:${CANARY.accepted}@git.example.org/team/repo.git`;
    const uriPolicy = `https://oauth2:${CANARY.policy}@evil.example/x.git`;
    const ok = await propose(CAST.ingest, 'default', 'Ingestion_SourcesResolved', { sources: [{ uri: uriAccepted, kind: 'git' }] });
    expect(ok).toMatchObject({ status: 'accepted' });
    const tooLong = await propose(CAST.ingest, 'p2', 'Ingestion_SourcesResolved', { sources: [{ uri: `https://x:${CANARY.schema}@h/${'a'.repeat(2000)}` }] });
    expect(tooLong).toMatchObject({ code: 'invalid_proposal', reason: 'invalid_inputs' });
    const q = await propose(CAST.ingest, 'p2', 'Ingestion_SourcesResolved', { sources: [{ uri: uriPolicy }] });
    expect(q).toMatchObject({ status: 'rejected', code: 'policy_breach' });
    expect(inst.currentState('p2')?.control.top).toBe('QUARANTINED');
    expect(JSON.stringify(q)).toContain('sources[0].uri matches denied pattern *evil.example*');

    // Projections show the HMAC of the exact value under the gateway's key: one who holds the
    // key checks a value; a reader without it has nothing to test guesses against.
    type Ingestion = { ingestion: { sources: { uri: string }[] } };
    type Policy = { policy: { quarantine: { rationale: string; breach: { inputs: { uris: string[] } } } } };
    const d = await http('GET', '/state');
    expect(d.status).toBe(200);
    expect((d.body['projection'] as Ingestion).ingestion.sources[0]?.uri).toBe(hmac(uriAccepted));
    const p2 = await http('GET', '/projects/p2/state');
    const policy = (p2.body['projection'] as Policy).policy;
    expect(policy.quarantine.breach.inputs.uris).toEqual([hmac(uriPolicy)]);
    expect(policy.quarantine.rationale).toContain('sources[0].uri matches denied pattern');
    // Without a key: `redacted`, no digest.
    const dPlain = await http('GET', '/state', undefined, plainBase);
    expect((dPlain.body['projection'] as Ingestion).ingestion.sources[0]?.uri).toBe('redacted');
    const p2Plain = await http('GET', '/projects/p2/state', undefined, plainBase);
    expect((p2Plain.body['projection'] as Policy).policy.quarantine.breach.inputs.uris).toEqual(['redacted']);
    await http('GET', '/decisions?limit=1000');
    await http('GET', '/projects/p2/decisions?limit=1000');
    await http('GET', '/metrics');

    const everything = [...answers, logChunks.join('')].join('\n');
    for (const c of Object.values(CANARY)) expect(everything.includes(c), c).toBe(false);
    // The scan would have seen it: the WAL holds the signed inputs as sent.
    const s = subjectsFor(fx.prefix);
    const last = (await jsm.streams.info(s.walName)).state.last_seq;
    let wal = '';
    for (let seq = 1; seq <= last; seq++) wal += Buffer.from((await jsm.streams.getMessage(s.walName, { seq }))?.data ?? []).toString('latin1');
    for (const c of [CANARY.accepted, CANARY.policy]) expect(wal.includes(c), c).toBe(true);
  });
});
