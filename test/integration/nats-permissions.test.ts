/**
 * Least privilege, shipped and tested (docs/security.md, "NATS permissions"): a real
 * nats-server runs the `authorization` block `swoosh nats-config` writes, one nkey user per
 * role. A SWOOSH instance runs under the `instance` user end to end (a producer's proposal and
 * a feeder's fact are decided, a reader follows the records), and for every role every
 * forbidden subject and API call in the table below is refused by the server, with nothing
 * stored and no stream lost.
 *
 * This suite always starts its own nats-server (the server's configuration is what it tests),
 * also when NATS_URL points the other suites elsewhere.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { nkeyAuthenticator, type NatsConnection } from '@nats-io/nats-core';
import { createUser } from '@nats-io/nkeys';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type EmbeddedNats } from '../../src/proving/harness/nats-server.js';
import { NATS_ROLES, renderAuthorization, type NatsRole } from '../../src/server/process/nats-permissions.js';
import { applyStreams, assertNoDrift } from '../../src/server/process/apply-streams.js';
import { streamDefinitions, subjectsFor } from '../../streams/definitions.js';
import { NatsClient, ProducerClock, buildFact, buildProposal, identityFromSeed, signProposal } from '../../src/sdk/index.js';
import { CAST, castGenesis } from '../../src/proving/sim/world.js';
import { spawnInstance, writeInstanceFiles, type Proc } from '../support/proc.js';
import type { InstanceStatus } from '../../src/server/process/instance.js';
import { DEPLOYMENT_LICENCE_KEY } from '../../src/server/process/deployment.js';
import { startBackbeatFeeder } from '../../src/feeders/backbeat.js';
import { FactPublisher } from '../../src/feeders/common.js';
import { createNodeSigner } from '../../src/crypto/node-sign.js';
import { createLogger } from '../../src/server/observability/log.js';

const PREFIX = 'perm';
/** Where BACKBEAT publishes beat frames on this server (`swoosh nats-config --backbeat-subject`). */
const BACKBEAT_SUBJECT = 'backbeat.cluster-a.beat';
const s = subjectsFor(PREFIX);

/** What each role tries and must be refused (subject or API, and a label for the report). */
const FORBIDDEN: Record<Exclude<NatsRole, 'admin'>, readonly string[]> = {
  instance: ['facts', 'delete-wal', 'purge-decisions', 'delete-leases', 'foreign-stream'],
  producer: ['dr', 'transitions', 'facts', 'control', 'delete-wal', 'purge-decisions', 'lease', 'read-wal', 'foreign-stream'],
  operator: ['dr', 'transitions', 'facts', 'delete-wal', 'purge-decisions', 'lease', 'update-wal', 'foreign-stream'],
  feeder: ['dr', 'transitions', 'proposal', 'control', 'delete-wal', 'purge-decisions', 'lease', 'read-decisions', 'foreign-stream'],
  reader: ['dr', 'transitions', 'facts', 'proposal', 'control', 'delete-wal', 'purge-decisions', 'lease', 'read-wal', 'foreign-stream'],
};

const enc = new TextEncoder();

/** One attempt by `nc`: resolves to the server's refusal message, or throws if it went through. */
async function attempt(nc: NatsConnection, what: string): Promise<string> {
  const js = jetstream(nc, { timeout: 2000 });
  const req = (subject: string, body = '{}'): Promise<unknown> => nc.request(subject, body, { timeout: 2000 });
  const ops: Record<string, () => Promise<unknown>> = {
    dr: () => js.publish(s.dr('_deployment'), enc.encode('{}')),
    transitions: () => js.publish(s.transitions('default', 'boot', 'Boot_ConfigOk'), enc.encode('{}')),
    facts: () => js.publish(s.facts('tick'), enc.encode('{}')),
    proposal: () => js.publish(s.proposals('Boot_ConfigOk', 'default'), enc.encode('{}')),
    control: () => js.publish(s.control('Project_Create'), enc.encode('{}')),
    'delete-wal': () => req(`$JS.API.STREAM.DELETE.${s.walName}`, ''),
    'purge-decisions': () => req(`$JS.API.STREAM.PURGE.${s.decisionsName}`),
    'delete-leases': () => req(`$JS.API.STREAM.DELETE.KV_${s.leasesBucket}`, ''),
    lease: () => js.publish(`$KV.${s.leasesBucket}.writer`, enc.encode('{}')),
    'read-wal': () => req(`$JS.API.STREAM.MSG.GET.${s.walName}`, '{"seq":1}'),
    'read-decisions': () => req(`$JS.API.STREAM.MSG.GET.${s.decisionsName}`, '{"seq":1}'),
    'update-wal': () => req(`$JS.API.STREAM.UPDATE.${s.walName}`, JSON.stringify({ name: s.walName })),
    'foreign-stream': () => req('$JS.API.STREAM.CREATE.OTHER', JSON.stringify({ name: 'OTHER', subjects: ['other.>'] })),
  };
  const op = ops[what];
  if (op === undefined) throw new Error(`no attempt named ${what}`);
  try {
    await op();
  } catch (err) {
    const m = (err as Error).message;
    if (/Permissions Violation/.test(m)) return m;
    throw new Error(`${what}: failed, but not as a permissions violation: ${m}`, { cause: err });
  }
  throw new Error(`${what}: the server allowed it`);
}

describe('NATS permissions per role (swoosh nats-config)', () => {
  let server: EmbeddedNats;
  let dir: string;
  const conns = new Map<NatsRole, NatsConnection>();
  const seeds = new Map<NatsRole, { seed: Uint8Array; file: string }>();
  let proc: Proc | null = null;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swoosh-perm-'));
    const users = NATS_ROLES.map((role) => {
      const u = createUser();
      const file = join(dir, `${role}.nk`);
      writeFileSync(file, `${new TextDecoder().decode(u.getSeed())}\n`, { mode: 0o600 });
      seeds.set(role, { seed: u.getSeed(), file });
      return { role, nkey: u.getPublicKey() };
    });
    const admin = seeds.get('admin')?.seed ?? new Uint8Array();
    server = await startNatsServer({
      storeDir: join(dir, 'nats'),
      extraConfig: renderAuthorization(PREFIX, users, { backbeatSubjects: [BACKBEAT_SUBJECT] }),
      probeOptions: { authenticator: nkeyAuthenticator(admin) },
    });
    for (const role of NATS_ROLES) {
      const seed = seeds.get(role)?.seed ?? new Uint8Array();
      conns.set(role, await connect({ servers: server.url, authenticator: nkeyAuthenticator(seed), noAsyncTraces: true, name: role }));
    }
    // The admin (a person, not a service) creates the streams; the instance only checks them.
    const adminNc = conns.get('admin') as NatsConnection;
    assertNoDrift(await applyStreams(adminNc, streamDefinitions({ prefix: PREFIX, replicas: 1 }), { mode: 'apply' }));
    jsm = await jetstreamManager(adminNc);
  }, 30_000);

  afterAll(async () => {
    await proc?.stop();
    for (const nc of conns.values()) await nc.close();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('Given the instance user, a producer, a feeder and a reader, Then SWOOSH runs end to end under them; an anonymous client cannot connect', async () => {
    const files = writeInstanceFiles(castGenesis());
    proc = await spawnInstance({
      natsUrl: server.url, prefix: PREFIX, name: 'perm-1', genesisFile: files.genesisFile,
      keyFile: files.keyFile('perm-1'), env: { NATS_NKEY: seeds.get('instance')?.file ?? '' },
    });
    // The HTTP gateway answers a proposal with its record as soon as it sees it on `dr.>`,
    // over the instance's connection: the instance user may subscribe there.
    const instanceNc = conns.get('instance') as NatsConnection;
    const drSeen: string[] = [];
    const drSub = instanceNc.subscribe(`${PREFIX}.dr.>`, {
      callback: (err, m) => {
        drSeen.push(err === null ? m.subject : `error: ${err.message}`);
      },
    });
    await instanceNc.flush();
    const clock = new ProducerClock();
    const feeder = NatsClient.fromConnection(conns.get('feeder') as NatsConnection, { prefix: PREFIX });
    const fact = await feeder.publishFact(
      buildFact({ kind: 'tick', signer: CAST.feeder.signer, hlc: clock.next(), payload: {} }),
      identityFromSeed(CAST.feeder.secretKey),
    );
    const producer = NatsClient.fromConnection(conns.get('producer') as NatsConnection, { prefix: PREFIX });
    // (Proc.status() connects anonymously, which this server refuses: ask as the admin.)
    const reply = await (conns.get('admin') as NatsConnection).request(`${PREFIX}.admin.perm-1.status`, '', { timeout: 2000 });
    const st = JSON.parse(reply.string()) as InstanceStatus;
    const proposal = await producer.submit(signProposal(buildProposal({
      project: 'default', transition: 'Boot_ConfigOk', inputs: { config_hash: `sha256-${'a'.repeat(64)}` },
      signer: CAST.operator.signer, hlc: clock.next(), currentStateHash: st.state_hash,
    }), identityFromSeed(CAST.operator.secretKey)));
    expect(proposal.wal_seq).toBe(fact.wal_seq + 1);
    // The reader follows the records the instance stored.
    const reader = NatsClient.fromConnection(conns.get('reader') as NatsConnection, { prefix: PREFIX });
    const stop = new AbortController();
    const seen: { wal_seq: number; outcome: string }[] = [];
    const timer = setTimeout(() => stop.abort(), 20_000);
    for await (const r of reader.follow({ signal: stop.signal })) {
      seen.push({ wal_seq: r.wal_seq, outcome: r.outcome });
      if (seen.length === 2) break;
    }
    clearTimeout(timer);
    expect(seen).toEqual([
      { wal_seq: fact.wal_seq, outcome: 'fact' },
      { wal_seq: proposal.wal_seq, outcome: 'accepted' },
    ]);
    // The feeder reads the licence gate the instance keeps in the deployment bucket.
    const feederJsm = await jetstreamManager(conns.get('feeder') as NatsConnection);
    const gateKey = { last_by_subj: `$KV.${s.deploymentBucket}.${DEPLOYMENT_LICENCE_KEY}` };
    await expect.poll(async () => (await feederJsm.streams.getMessage(`KV_${s.deploymentBucket}`, gateKey))?.subject, { timeout: 10_000 })
      .toBe(gateKey.last_by_subj);
    await expect.poll(() => drSeen.length).toBeGreaterThanOrEqual(2);
    drSub.unsubscribe();
    expect(drSeen.filter((x) => x.startsWith('error:'))).toEqual([]);
    expect(proc.output.join('\n')).not.toMatch(/Permissions Violation/);
    const anonymous = await connect({ servers: server.url, reconnect: false, timeout: 2000 }).then(
      async (nc) => {
        await nc.close();
        return 'connected';
      },
      (err: unknown) => (err as Error).message,
    );
    expect(anonymous).toMatch(/Authorization Violation/i);
  }, 60_000);

  it('Given BACKBEAT on the same server, When the backbeat feeder runs as the feeder user, Then a frame becomes a backbeat fact; another subject is refused', async () => {
    const feederNc = conns.get('feeder') as NatsConnection;
    const quiet = createLogger({ level: 'silent' });
    const signer = createNodeSigner(CAST.feeder.secretKey.slice(0, 32));
    const ctx = {
      nc: feederNc, js: jetstream(feederNc), prefix: PREFIX, signer, log: quiet,
      publisher: new FactPublisher(jetstream(feederNc), PREFIX, signer, quiet),
    };
    const bridge = await startBackbeatFeeder(ctx, { source: feederNc, subject: BACKBEAT_SUBJECT, ownsSource: false });
    try {
      const before = (await jsm.streams.info(s.walName)).state.last_seq;
      // BACKBEAT's own user is not SWOOSH's to give: the admin stands in for it here.
      const frame = {
        type: 'backbeat.beatframe.v1', cluster_id: 'cluster-a', beat_index: 1, downbeat: true,
        phase: 'plan', hlc: '7fa3:0001:00a0', deadline_at: new Date(Date.now() + 60_000).toISOString(),
        tempo_bpm: 2, window_id: 'b'.repeat(32),
      };
      (conns.get('admin') as NatsConnection).publish(BACKBEAT_SUBJECT, enc.encode(JSON.stringify(frame)));
      await expect.poll(async () => (await jsm.streams.getMessage(s.walName, { last_by_subj: s.facts('backbeat') }))?.seq ?? 0, { timeout: 10_000 })
        .toBeGreaterThan(before);
      expect(bridge.stats()).toMatchObject({ published: 1 });
    } finally {
      await bridge.stop();
    }
    // The feeder may subscribe to BACKBEAT's subject only.
    const other = feederNc.subscribe('backbeat.cluster-b.beat');
    const refused = await Promise.race([
      other.closed.then((e) => String(e)),
      new Promise<string>((r) => setTimeout(() => r('not refused'), 5000)),
    ]);
    expect(refused).toMatch(/Permissions Violation/);
  }, 30_000);

  it('Given each role, When it tries every subject and API call outside its job, Then the server refuses each one and nothing is stored', async () => {
    const before = new Map<string, number>();
    for (const name of [s.walName, s.decisionsName, s.transitionsName]) {
      before.set(name, (await jsm.streams.info(name)).state.messages);
    }
    const refusals: string[] = [];
    for (const [role, list] of Object.entries(FORBIDDEN) as [Exclude<NatsRole, 'admin'>, readonly string[]][]) {
      const nc = conns.get(role) as NatsConnection;
      for (const what of list) {
        const m = await attempt(nc, what);
        refusals.push(`${role} ${what}: ${m}`);
      }
    }
    const total = Object.values(FORBIDDEN).reduce((n, l) => n + l.length, 0);
    console.log(`[nats permissions] ${refusals.length} of ${total} forbidden attempts refused by the server`);
    expect(refusals).toHaveLength(total);
    for (const name of [s.walName, s.decisionsName, s.transitionsName]) {
      expect((await jsm.streams.info(name)).state.messages, name).toBe(before.get(name));
    }
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    expect(names).not.toContain('OTHER');
    expect(names).toEqual(expect.arrayContaining([s.walName, s.decisionsName, s.transitionsName]));
    // The lease key was never written by anyone but an instance.
    const lease = await jsm.streams.getMessage(`KV_${s.leasesBucket}`, { last_by_subj: `$KV.${s.leasesBucket}.writer` });
    expect(lease === null || new TextDecoder().decode(lease.data) !== '{}').toBe(true);
  }, 60_000);
});
