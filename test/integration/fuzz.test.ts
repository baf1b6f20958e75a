/**
 * Fuzzing with figures (docs/security.md, "Fuzzing"): fast-check generators over HTTP bodies
 * (JSON and not, deep, huge, unicode edge cases, duplicate keys, mutated proposals, wrong
 * content types) and over NATS envelopes (msgpack of every shape, random bytes, mutated real
 * envelopes on every WAL subject kind), against a real writer and a follower on a real
 * nats-server. Checked: no HTTP 500, no process failure, no WAL entry from a body the gateway
 * refused, no state change from any invalid entry, and the follower's records equal the
 * writer's. Bounded here (SWOOSH_FUZZ_RUNS, default 250 of each); a long run is
 * `SWOOSH_FUZZ_RUNS=5000 npx vitest run test/integration/fuzz.test.ts`.
 */
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore, jcs } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { createHttpServer } from '../../src/http/server.js';
import { Instance } from '../../src/server/process/instance.js';
import { applyStreams } from '../../src/server/process/apply-streams.js';
import { encodeEnvelope } from '../../src/protocol/envelope.js';
import { createLogger } from '../../src/server/observability/log.js';
import { CAST, castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';
import { ProducerClock, buildProposal, identityFromSeed, signProposal } from '../../src/sdk/index.js';
import { streamDefinitions, subjectsFor } from '../../streams/definitions.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { announceSeed } from '../support/seed.js';
import { waitUntil } from '../support/proc.js';

const RUNS = Number(process.env['SWOOSH_FUZZ_RUNS'] ?? 250);
const seed = announceSeed('fuzz');
const quiet = createLogger({ name: 'fuzz', level: 'silent' });
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const enc = new TextEncoder();

describe('fuzzing the gateway and the WAL', () => {
  let fx: NatsFixture;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let writer: Instance;
  let follower: Instance;
  let app: FastifyInstance;
  let base = '';
  const core = createCore(nodeHasher);
  const genesisRaw = castGenesis();
  const genesis = parseFixtureGenesis(genesisRaw, core);
  const s = (): ReturnType<typeof subjectsFor> => subjectsFor(fx.prefix);
  const walLast = async (): Promise<number> => (await jsm.streams.info(s().walName)).state.last_seq;
  const drCount = async (): Promise<number> => (await jsm.streams.info(s().decisionsName)).state.messages;

  beforeAll(async () => {
    fx = await natsFixture();
    nc = await connect({ servers: fx.url, noAsyncTraces: true });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await applyStreams(nc, streamDefinitions({ prefix: fx.prefix, replicas: 1 }), { mode: 'apply' });
    const mk = (name: string): Instance => new Instance({
      natsUrl: fx.url, prefix: fx.prefix, name, genesis, signerSeed: randomBytes(32), log: quiet,
    });
    writer = mk('fz-w');
    await writer.start();
    await waitUntil('writer', () => Promise.resolve(writer.status().role === 'writer'));
    follower = mk('fz-f');
    await follower.start();
    app = await createHttpServer({ instance: writer, rateLimits: { client: { perSecond: 0, burst: 1 }, signer: { perSecond: 0, burst: 1 } } });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await follower?.stop();
    await writer?.stop();
    await nc?.close();
    await fx?.close();
  });

  /** A valid signed proposal body (the mutation base). */
  const validBody = (): Record<string, unknown> => {
    const st = writer.status();
    return signProposal(buildProposal({
      project: 'default', transition: 'Boot_ConfigOk', inputs: { config_hash: `sha256-${'c'.repeat(64)}` },
      signer: CAST.operator.signer, hlc: new ProducerClock().next(), currentStateHash: st.state_hash,
    }), identityFromSeed(CAST.operator.secretKey)) as unknown as Record<string, unknown>;
  };

  it(`Given ${RUNS} hostile HTTP bodies, Then no 500, and the WAL grows only by the bodies answered with a decision`, async () => {
    const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
    const body = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }).map((t) => ({ text: t, type: 'application/json' })),
      fc.jsonValue({ maxDepth: 6 }).map((v) => ({ text: JSON.stringify(v), type: 'application/json' })),
      fc.integer({ min: 60, max: 3000 }).map((n) => ({ text: deep(n), type: 'application/json' })),
      fc.integer({ min: 1, max: 400_000 }).map((n) => ({ text: JSON.stringify({ transition: 'x'.repeat(n) }), type: 'application/json' })),
      fc.constantFrom('{"a":1,"a":2}', '"\\ud800"', '{"transition":"\\udfff"}', '1e400', '-0', '{"__proto__":{"x":1}}', '\ufeff{}', '{}garbage')
        .map((t) => ({ text: t, type: 'application/json' })),
      // Valid proposals too, so the accounting below counts decided bodies, not only refusals.
      fc.constant(null).map(() => ({ text: JSON.stringify(validBody()), type: 'application/json; charset=utf-8' })),
      fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx')
        .map((type) => ({ text: JSON.stringify(validBody()), type })),
      fc.tuple(fc.constantFrom('project', 'current_state_hash', 'transition', 'inputs', 'inputs_hash', 'signer', 'idem_key', 'hlc', 'window_id', 'evidence', 'signature', 'extra'),
        fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined)))
        .map(([k, v]) => {
          const b = validBody();
          if (v === undefined) delete b[k]; else b[k] = v;
          return { text: JSON.stringify(b), type: 'application/json' };
        }),
    );
    const statuses = new Map<number, number>();
    let decided = 0;
    const before = await walLast();
    await fc.assert(fc.asyncProperty(body, async ({ text, type }) => {
      const res = await fetch(`${base}/transition`, { method: 'POST', headers: { 'content-type': type }, body: text });
      const answer = (await res.json()) as Record<string, unknown>;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, text.slice(0, 200)).not.toBe(500);
      if (typeof answer['dr_id'] === 'string' || res.status === 504) decided += 1;
    }), { numRuns: RUNS, seed, endOnFailure: true });
    const grown = (await walLast()) - before;
    console.log(`[fuzz http] ${RUNS} bodies: statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; ` +
      `WAL +${grown}, answered with a decision ${decided}`);
    expect(grown).toBe(decided);
    expect(decided).toBeGreaterThan(0);
    expect(statuses.get(500) ?? 0).toBe(0);
  }, 300_000);

  it(`Given ${RUNS} hostile NATS envelopes on every WAL subject kind, Then each gets a record, no state changes, and the follower agrees`, async () => {
    const valid = validBody();
    const { signature: _s, ...unsigned } = valid;
    const goodBody = enc.encode(jcs(unsigned));
    const subjects = [s().proposals('Boot_ConfigOk', 'default'), s().proposals('Boot_ConfigOk'), s().control('Project_Create'),
      s().facts('tick'), s().facts('license'), s().proposals('Council_QuorumCert', 'default'), `${fx.prefix}.proposals.nope.Boot_ConfigOk`];
    const envelope = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.anything({ maxDepth: 3 }).map((v) => packr.pack(v)),
      fc.record({ v: fc.anything({ maxDepth: 1 }), body: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.string()), sig: fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.string()) })
        .map((o) => packr.pack(o)),
      fc.uint8Array({ minLength: 64, maxLength: 64 }).map((sig) => encodeEnvelope(goodBody, sig)),
      fc.tuple(fc.nat({ max: goodBody.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
        const m = goodBody.slice();
        m[i] = b;
        return encodeEnvelope(m, new Uint8Array(64));
      }),
    );
    const hashBefore = writer.status().state_hash;
    const depBefore = core.hashes(writer.currentDeployment() ?? core.genesis(genesis)).head;
    const before = await walLast();
    await fc.assert(fc.asyncProperty(fc.constantFrom(...subjects), envelope, async (subject, data) => {
      await js.publish(subject, data);
    }), { numRuns: RUNS, seed, endOnFailure: true });
    const last = await walLast();
    await waitUntil('every entry decided', async () => (await drCount()) === last && writer.status().wal_seq === last, 60_000);
    await waitUntil('the follower caught up', () => Promise.resolve(follower.status().wal_seq === last), 60_000);
    const w = writer.status();
    const f = follower.status();
    expect(w.diverged).toBeNull();
    expect(f.diverged).toBeNull();
    expect(w.role).toBe('writer');
    // Nothing invalid changed a project's state or the deployment's.
    expect(w.state_hash).toBe(hashBefore);
    expect(core.hashes(writer.currentDeployment() as never).head).toBe(depBefore);
    expect(f.state_hash).toBe(w.state_hash);
    console.log(`[fuzz nats] ${last - before} envelopes, ${last - before} records, state unchanged, follower agrees at WAL ${last}`);
  }, 300_000);
});
