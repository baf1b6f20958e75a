/**
 * The SDK against a real nats-server and an in-process Instance: proposals and facts built,
 * signed and published with NatsClient are decided by the writer; follow() reads the decision
 * records from a sequence with subject filters, waits for new ones and ends on abort; and
 * verifyChain checks what was followed (signatures with the portable verifier, links from
 * genesis). Then the Producer and the HttpClient against the real HTTP gateway on the same
 * instance: a stale read is retried with the same idem key, and every route's answer parses.
 */
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { bytesToHex, keyPairFromSeed } from '../../src/crypto/keys.js';
import { createHttpServer } from '../../src/http/server.js';
import { Instance } from '../../src/server/process/instance.js';
import { createLogger } from '../../src/server/observability/log.js';
import {
  HttpClient,
  NatsClient,
  Producer,
  ProducerClock,
  buildFact,
  buildProposal,
  hashFor,
  identityFromSecretHex,
  signProposal,
  verifyChain,
  type DecisionRecord,
  type FollowOptions,
  type Identity,
  type JsonObject,
  type ProducerTransport,
  type SignedProposal,
} from '../../src/sdk/index.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { CAST, castGenesis, h, parseFixtureGenesis, type Actor } from '../../src/proving/sim/world.js';

const quiet = createLogger({ level: process.env['SWOOSH_TEST_LOG'] ?? 'warn' });

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function idOf(a: Actor): Identity {
  return identityFromSecretHex(bytesToHex(a.secretKey));
}

/** Read up to `n` records (or until `ms` passes), then stop following. */
async function take(
  client: NatsClient,
  n: number,
  opts: FollowOptions = {},
  ms = 10_000,
): Promise<DecisionRecord[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const out: DecisionRecord[] = [];
  try {
    for await (const r of client.follow({ ...opts, signal: ac.signal })) {
      out.push(r);
      if (out.length >= n) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

describe('SDK over NATS', () => {
  let fx: NatsFixture;
  let inst: Instance;
  let client: NatsClient;
  let app: FastifyInstance;
  let http: HttpClient;
  const writerSeed = new Uint8Array(randomBytes(32));
  const writer = keyPairFromSeed(writerSeed).signer;
  const core = createCore(nodeHasher);
  const genesis = parseFixtureGenesis(castGenesis(), core);
  const genesisHash = core.genesis(genesis).meta.genesis_hash;
  const clock = new ProducerClock();
  const feeder = idOf(CAST.feeder);
  /** What was published, in WAL order, and how it must be decided. */
  const sent: { seq: number; transition: string; outcome: string }[] = [];

  beforeAll(async () => {
    fx = await natsFixture();
    inst = new Instance({
      natsUrl: fx.url, prefix: fx.prefix, name: 'sdk1', genesis, signerSeed: writerSeed, log: quiet,
    });
    await inst.start();
    await waitFor('the writer role', () => inst.status().role === 'writer');
    client = await NatsClient.connect(fx.url, { prefix: fx.prefix });
    app = await createHttpServer({ instance: inst, log: quiet });
    http = new HttpClient(await app.listen({ port: 0, host: '127.0.0.1' }));
  });

  afterAll(async () => {
    await app?.close();
    await client?.close();
    await inst?.stop();
    await fx?.close();
  });

  /** A proposal against the instance's current state (what GET /state would answer). */
  function proposal(
    a: Actor,
    transition: string,
    inputs: JsonObject,
    hash?: string,
  ): SignedProposal {
    const s = inst.status();
    clock.observe(s.hlc_last);
    // Control transitions name the deployment's hash (GET /deployment), others the project's.
    const dep = inst.currentDeployment();
    const control = transition.startsWith('Identity_') && dep !== null;
    const currentStateHash = hash ?? (control
      ? core.hashes(dep).head
      : hashFor(transition, { hash: s.state_hash, region_hashes: s.region_hashes }));
    const hlc = clock.next();
    const p = buildProposal({ transition, inputs, signer: a.signer, hlc, currentStateHash });
    return signProposal(p, idOf(a));
  }

  /** Note what `seq` must be decided as, and wait until the writer has decided it. */
  async function decided(seq: number, transition: string, outcome: string): Promise<void> {
    sent.push({ seq, transition, outcome });
    await waitFor(`decision ${seq}`, () => inst.status().wal_seq >= seq);
  }

  it('Given NatsClient proposals and facts, Then each is logged once and decided', async () => {
    const boot = proposal(CAST.operator, 'Boot_ConfigOk', { config_hash: h('config') });
    expect(await client.submit(boot)).toEqual({ wal_seq: 1, duplicate: false });
    expect(await client.submit(boot)).toEqual({ wal_seq: 1, duplicate: true }); // exact re-send
    await decided(1, 'Boot_ConfigOk', 'accepted');
    const lic = buildFact({
      kind: 'license', signer: feeder.signer, hlc: clock.next(), payload: { status: 'active' },
    });
    await decided((await client.publishFact(lic, feeder)).wal_seq, 'license', 'fact');
    const licensed = await client.submit(proposal(CAST.operator, 'Boot_Licensed', {}));
    await decided(licensed.wal_seq, 'Boot_Licensed', 'accepted');
    const grant = { identity: CAST.c3.signer, roles: ['council'] };
    const stale = await client.submit(proposal(CAST.admin, 'Identity_Grant', grant, genesisHash));
    await decided(stale.wal_seq, 'Identity_Grant', 'rejected');
    const fresh = await client.submit(proposal(CAST.admin, 'Identity_Grant', grant));
    await decided(fresh.wal_seq, 'Identity_Grant', 'accepted');
    const records = await take(client, sent.length);
    expect(records.map((r) => [r.wal_seq, r.transition, r.outcome]))
      .toEqual(sent.map((s) => [s.seq, s.transition, s.outcome]));
    expect(records[3]?.code).toBe('stale_state_hash');
    expect(records[0]?.idem_key).toBe(boot.idem_key);
  });

  it('Given all from genesis, Then verifyChain passes; a filtered run does not link', async () => {
    const all = await take(client, sent.length);
    expect(verifyChain(all, genesisHash, { writers: [writer] }))
      .toEqual({ ok: true, problems: [] });
    expect(verifyChain(all, genesisHash, { writers: [CAST.admin.signer] }).ok).toBe(false);
    const accepted = await take(client, 3, { outcome: 'accepted' });
    expect(accepted.map((r) => r.transition))
      .toEqual(['Boot_ConfigOk', 'Boot_Licensed', 'Identity_Grant']);
    expect(verifyChain(accepted, genesisHash).problems.join('\n'))
      .toMatch(/chain _deployment #3 is not the chain's first record/);
  });

  it('Given a start sequence and filters, Then follow reads only those, in order', async () => {
    const fromThird = await take(client, sent.length - 2, { fromSeq: 3 });
    expect(fromThird.map((r) => r.wal_seq)).toEqual([3, 4, 5]);
    const firstTwo = await take(client, 2);
    expect(verifyChain(fromThird, genesisHash, { previous: firstTwo }).ok).toBe(true);
    const grants = await take(client, 2, { transition: 'Identity_Grant' });
    expect(grants.map((r) => r.outcome)).toEqual(['rejected', 'accepted']);
    const rejectedGrants =
      await take(client, 1, { transition: 'Identity_Grant', outcome: 'rejected', fromSeq: 2 });
    expect(rejectedGrants.map((r) => r.wal_seq)).toEqual([4]);
    const facts = await take(client, 1, { outcome: 'fact' });
    expect(facts.map((r) => r.transition)).toEqual(['license']);
    expect(() => client.follow({ fromSeq: 0 })).toThrow(TypeError);
    expect(() => client.follow({ transition: 'a.b' })).toThrow(TypeError);
  });

  it('Given a follower at the head, Then it waits for the next record, ends on abort', async () => {
    const next = sent.length + 1;
    const ac = new AbortController();
    const seen: DecisionRecord[] = [];
    const following = (async () => {
      for await (const r of client.follow({ fromSeq: next, signal: ac.signal })) seen.push(r);
    })();
    const cap = buildFact({
      kind: 'capacity', signer: feeder.signer, hlc: clock.next(),
      payload: { cpu_millis: 4000, memory_mb: 8192, slots: 4 },
    });
    expect((await client.publishFact(cap, feeder)).wal_seq).toBe(next);
    // Positive signal first (the new record arrived), then the negative: nothing else came,
    // so the follower waited at the head instead of yielding anything before it.
    await waitFor('the followed record', () => seen.length >= 1);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ wal_seq: next, outcome: 'fact', transition: 'capacity' });
    ac.abort();
    await following; // the iteration ends; a hang here fails on the test timeout
    expect(seen).toHaveLength(1);
    const none: DecisionRecord[] = [];
    for await (const r of client.follow({ signal: ac.signal })) none.push(r); // already aborted
    expect(none).toEqual([]);
  });

  it('Given the HTTP gateway, When a Producer proposes on a stale view, Then it retries once '
    + 'with the same idem key and is accepted', async () => {
    // The first state read is made stale on purpose: the real gateway then answers
    // stale_state_hash, and the producer must re-read and resubmit.
    let reads = 0;
    const staleOnce: ProducerTransport = {
      state: async (projection) => {
        const st = await http.state(projection);
        reads += 1;
        if (reads > 1 || st.kind !== 'ok') return st;
        return { ...st, body: { ...st.body, hash: genesisHash } };
      },
      deployment: async () => {
        const d = await http.deployment();
        reads += 1;
        if (reads > 1 || d.kind !== 'ok') return d;
        return { ...d, body: { ...d.body, hash: genesisHash } };
      },
      submit: (signed) => http.submit(signed),
    };
    const producer = new Producer({ identity: idOf(CAST.admin), http: staleOnce, clock });
    const before = inst.status().wal_seq;
    const grant = { identity: CAST.c2.signer, roles: ['voter'] };
    const answer = await producer.propose('Identity_Grant', grant);
    expect(answer).toMatchObject({ kind: 'accepted', httpStatus: 202, duplicate: false });
    expect(reads).toBe(2);
    const page = await http.decisions({ after_seq: before, transition: 'Identity_Grant' });
    if (page.kind !== 'ok') throw new Error(page.message);
    expect(page.body.records.map((r) => [r.outcome, r.code])).toEqual([
      ['rejected', 'stale_state_hash'], ['accepted', null],
    ]);
    const [first, second] = page.body.records;
    expect(first?.idem_key).toBe(second?.idem_key);
    expect(page.body.next_after_seq).toBe(second?.wal_seq);
  });

  it('Given the HTTP gateway, Then the client parses its real answers to every route', async () => {
    const health = await http.health();
    expect(health).toMatchObject({ kind: 'ok', httpStatus: 200, body: { status: 'ok' } });
    const state = await http.state(['Council', 'meta']);
    if (state.kind !== 'ok') throw new Error(state.message);
    expect(state.body.hash).toBe(inst.status().state_hash);
    expect(state.body.projection).toMatchObject({ meta: { genesis_hash: genesisHash } });
    const one = await http.decision(1);
    expect(one).toMatchObject({ kind: 'ok', body: { wal_seq: 1, transition: 'Boot_ConfigOk' } });
    if (one.kind === 'ok') expect(verifyChain([one.body], genesisHash).ok).toBe(true);
    expect(await http.decision('bubble://dr/test/default/999999'))
      .toMatchObject({ kind: 'error', httpStatus: 404, code: 'not_found' });
    const again = proposal(CAST.operator, 'Boot_ConfigOk', { config_hash: h('x') });
    const replay = await http.submit(again);
    expect(replay).toMatchObject({ kind: 'rejected', httpStatus: 400, code: 'invalid_phase' });
    const unsigned = proposal(CAST.operator, 'Control_Pause', { reason: 'x' });
    const bad = await http.submit({ ...unsigned, signature: 'ab' });
    expect(bad).toMatchObject({ kind: 'invalid', httpStatus: 400, code: 'invalid_proposal' });
  });
});
