/**
 * The production feeders over a real nats-server, with real local HTTP servers standing in
 * for KACHING and the MCP tools. Every fact is read back from `<P>_WAL`, its envelope decoded,
 * its signature verified and its payload checked with the core's own `checkFactPayload`.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { registerFeeder } from '../../src/cli/commands/feeder.js';
import { checkFactPayload } from '../../src/core/facts.js';
import { compareHlc, parseHlc } from '../../src/core/model/hlc.js';
import type { JsonObject } from '../../src/core/encoding/json.js';
import { createCore } from '../../src/core/index.js';
import type { FactKind, SigVerdict, WalEntry, WalSeq } from '../../src/core/model/types.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { DOMAIN } from '../../src/crypto/domains.js';
import { bytesToHex } from '../../src/crypto/keys.js';
import { createNodeSigner } from '../../src/crypto/node-sign.js';
import { createNodeVerifier, verifyObject } from '../../src/crypto/verify.js';
import { startBackbeatFeeder } from '../../src/feeders/backbeat.js';
import { FactPublisher, type Feeder, type FeederContext } from '../../src/feeders/common.js';
import { parseLicenseAnswer, startLicenseFeeder } from '../../src/feeders/license.js';
import { startMcpFeeder, type McpTool } from '../../src/feeders/mcp.js';
import { startPolicyFeeder } from '../../src/feeders/policy.js';
import { startTickFeeder } from '../../src/feeders/tick.js';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import { createLogger } from '../../src/server/observability/log.js';
import { applyStreams } from '../../src/server/process/apply-streams.js';
import { streamDefinitions, subjectsFor } from '../../streams/definitions.js';
import { natsFixture, uniquePrefix, type NatsFixture } from '../support/nats.js';

const signer = createNodeSigner(randomBytes(32));
const verifier = createNodeVerifier();
const core = createCore(nodeHasher);
const TOKEN = `tok-${randomBytes(8).toString('hex')}`;

/** A fact as read back from the WAL. */
interface StoredFact {
  readonly seq: number;
  readonly kind: string;
  readonly signer: string;
  readonly hlc: string;
  readonly payload: JsonObject;
}

/** Log lines in memory (pino writes each line synchronously). */
interface MemoryLog {
  readonly log: ReturnType<typeof createLogger>;
  text(): string;
  lines(): JsonObject[];
}

function memoryLog(): MemoryLog {
  const chunks: string[] = [];
  const destination = { write: (m: string): void => { chunks.push(m); } };
  const log = createLogger({ level: 'debug', destination });
  const text = (): string => chunks.join('');
  const lines = (): JsonObject[] =>
    text().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as JsonObject);
  return { log, text, lines };
}

async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 8_000,
): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 15));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A local HTTP server whose answer the test changes; `hits` records each request. */
interface FakeHttp {
  readonly url: string;
  readonly hits: IncomingMessage[];
  answer: (req: IncomingMessage, res: ServerResponse) => void;
  close(): Promise<void>;
}

async function fakeHttp(answer: FakeHttp['answer']): Promise<FakeHttp> {
  const hits: IncomingMessage[] = [];
  const fake: { answer: FakeHttp['answer'] } = { answer };
  const server: Server = createServer((req, res) => {
    hits.push(req);
    fake.answer(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}/`,
    hits,
    get answer() { return fake.answer; },
    set answer(a) { fake.answer = a; },
    close: async () => {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function json(status: number, body: unknown): FakeHttp['answer'] {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
}

/** A port that refuses connections: a server that listened once and was closed. */
async function deadUrl(): Promise<string> {
  const s = await fakeHttp(json(200, {}));
  await s.close();
  return s.url;
}

// One nats-server for the file; each test gets a fresh prefix with its own streams.
let fx: NatsFixture;
let nc: NatsConnection;
let jsm: JetStreamManager;
const running: Feeder<unknown>[] = [];
const servers: FakeHttp[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  fx = await natsFixture();
  nc = await connect({ servers: fx.url, noAsyncTraces: true });
  jsm = await jetstreamManager(nc);
});

afterEach(async () => {
  for (const f of running.splice(0)) await f.stop();
  for (const s of servers.splice(0)) await s.close();
});

afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await nc?.close();
  await fx?.close();
});

/** A fresh prefix with its streams, and a feeder context publishing to it. */
async function setup(): Promise<{ ctx: FeederContext; mem: MemoryLog }> {
  const prefix = uniquePrefix();
  await applyStreams(nc, streamDefinitions({ prefix, replicas: 1 }), { mode: 'apply' });
  const mem = memoryLog();
  const js = jetstream(nc);
  const publisher = new FactPublisher(js, prefix, signer, mem.log, {
    retries: 2, retryDelayMs: 20,
  });
  return { ctx: { nc, js, prefix, signer, log: mem.log, publisher }, mem };
}

function track<S>(f: Feeder<S>): Feeder<S> {
  running.push(f);
  return f;
}

async function http(answer: FakeHttp['answer']): Promise<FakeHttp> {
  const s = await fakeHttp(answer);
  servers.push(s);
  return s;
}

/** Every `kind` fact on the WAL, each checked: envelope, signature, payload, HLC order. */
async function facts(prefix: string, kind: FactKind, by = signer.signer): Promise<StoredFact[]> {
  const s = subjectsFor(prefix);
  const info = await jsm.streams.info(s.walName);
  const out: StoredFact[] = [];
  // The core itself, over a genesis where `by` is a feeder: every fact must be recorded.
  const identities = { [by]: { roles: ['feeder'] } };
  const g = core.parseGenesis({ instance_id: 'feeders', identities });
  if (!g.ok) throw new Error(g.error.message);
  let state = core.genesis(g.value);
  for (let seq = 1; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(s.walName, { seq });
    if (m === null || m.subject !== s.facts(kind)) continue;
    const env = decodeEnvelope(m.data);
    if (!env.ok) throw new Error(env.message);
    const text = Buffer.from(env.body).toString('utf8');
    const body = JSON.parse(text) as Omit<StoredFact, 'seq'>;
    const signed = { ...body, signature: bytesToHex(env.sig) };
    const sig = verifyObject(verifier, DOMAIN.fact, signed);
    expect(sig).toBe(true);
    expect(body.kind).toBe(kind);
    expect(body.signer).toBe(by);
    expect(checkFactPayload(kind, body.payload)).toBeNull();
    const entry: WalEntry = {
      type: 'signed', seq: seq as WalSeq, log_ms: m.time.getTime(), channel: 'fact', name: kind,
      body: text, sig: sig as SigVerdict, embedded: [],
    };
    const step = core.step(state, entry);
    expect(step.decision.message ?? step.decision.outcome).toBe('fact');
    state = step.state;
    out.push({ seq, ...body });
  }
  for (let i = 1; i < out.length; i++) {
    const a = parseHlc(out[i - 1]?.hlc ?? '');
    const b = parseHlc(out[i]?.hlc ?? '');
    expect(a.ok && b.ok && compareHlc(a.hlc, b.hlc) < 0).toBe(true);
  }
  return out;
}

async function waitForFacts(
  prefix: string,
  kind: FactKind,
  n: number,
  by = signer.signer,
): Promise<StoredFact[]> {
  let got: StoredFact[] = [];
  await waitFor(`${n} ${kind} fact(s)`, async () => {
    got = await facts(prefix, kind, by);
    return got.length >= n;
  });
  return got;
}

const licenseOpts = {
  refreshMs: 20, jitterPct: 0, reaffirmMs: 60_000, maxFailures: 3, timeoutMs: 200,
};

describe('license', () => {
  it('publishes active for a valid licence; sends the id as a query and the token', async () => {
    const { ctx, mem } = await setup();
    const kaching = await http(json(200, { valid: true, license_id: 'LIC-1' }));
    const url = `${kaching.url}v1/validate`;
    const o = { ...licenseOpts, url, licenseId: 'LIC-1', token: TOKEN };
    track(await startLicenseFeeder(ctx, o));
    const [f] = await waitForFacts(ctx.prefix, 'license', 1);
    expect(f?.payload).toEqual({ status: 'active', license_id: 'LIC-1' });
    const req = kaching.hits[0];
    expect(new URL(req?.url ?? '', kaching.url).searchParams.get('license_id')).toBe('LIC-1');
    expect(req?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    // Unchanged status, reaffirmMs not reached: no second fact however many checks run.
    await waitFor('more checks', () => kaching.hits.length >= 5);
    expect(await facts(ctx.prefix, 'license')).toHaveLength(1);
    expect(mem.text()).not.toContain(TOKEN);
  });

  it('re-affirms an unchanged status once reaffirmMs have passed', async () => {
    const { ctx } = await setup();
    const kaching = await http(json(200, { valid: true }));
    const o = { ...licenseOpts, reaffirmMs: 60, url: kaching.url, licenseId: 'LIC-R' };
    track(await startLicenseFeeder(ctx, o));
    const got = await waitForFacts(ctx.prefix, 'license', 3);
    expect(got.every((f) => f.payload['status'] === 'active')).toBe(true);
  });

  it('publishes revoked when KACHING says the licence is invalid', async () => {
    const { ctx, mem } = await setup();
    const kaching = await http(json(200, { valid: true }));
    const o = { ...licenseOpts, url: kaching.url, licenseId: 'LIC-2' };
    track(await startLicenseFeeder(ctx, o));
    await waitForFacts(ctx.prefix, 'license', 1);
    kaching.answer = json(200, { valid: false, license_id: 'LIC-2', reason: 'revoked by admin' });
    const got = await waitForFacts(ctx.prefix, 'license', 2);
    expect(got.map((f) => f.payload['status'])).toEqual(['active', 'revoked']);
    expect(mem.text()).toContain('revoked by admin');
  });

});

describe('license failures', () => {
  it('keeps the last status through failures, publishes revoked after maxFailures', async () => {
    const { ctx, mem } = await setup();
    const kaching = await http(json(200, { valid: true }));
    const o = { ...licenseOpts, url: kaching.url, licenseId: 'LIC-3' };
    const feeder = track(await startLicenseFeeder(ctx, o));
    await waitForFacts(ctx.prefix, 'license', 1);
    kaching.answer = json(200, { valid: 'yes' }); // a malformed answer counts as a failure
    await waitFor('one failure', () => feeder.stats().consecutive_failures === 1);
    expect(await facts(ctx.prefix, 'license')).toHaveLength(1);
    await kaching.close(); // then the server goes away entirely
    const got = await waitForFacts(ctx.prefix, 'license', 2);
    expect(got.map((f) => f.payload['status'])).toEqual(['active', 'revoked']);
    const failures = mem.lines().filter((l) => l['msg'] === 'licence check failed');
    expect(failures.length).toBeGreaterThanOrEqual(3);
    expect(failures[0]?.['reason']).toBe('answer.valid: expected a boolean');
    const reasons = failures.map((l) => l['reason']);
    expect(reasons.some((r) => typeof r === 'string' && r.startsWith('connection failed')))
      .toBe(true);
  });

  it('bounds a hanging request by the timeout and counts it as a failure', async () => {
    const { ctx, mem } = await setup();
    const hang = await http(() => undefined); // accepts the request, never answers
    const o = { ...licenseOpts, timeoutMs: 50, url: hang.url, licenseId: 'LIC-4' };
    track(await startLicenseFeeder(ctx, o));
    const [f] = await waitForFacts(ctx.prefix, 'license', 1);
    expect(f?.payload).toEqual({ status: 'revoked', license_id: 'LIC-4' });
    expect(mem.text()).toContain('timed out after 50 ms');
  });

  it('treats a different licence id or a non-object answer as a failure', () => {
    expect(parseLicenseAnswer({ valid: true, license_id: 'OTHER' }, 'LIC').ok).toBe(false);
    expect(parseLicenseAnswer([true], 'LIC').ok).toBe(false);
    expect(parseLicenseAnswer({ valid: false, extra: 1 }, 'LIC'))
      .toEqual({ ok: true, valid: false, reason: null });
  });
});

describe('backbeat', () => {
  const frame = (beat: number, extra: Record<string, unknown> = {}): Uint8Array =>
    Buffer.from(JSON.stringify({
      type: 'backbeat.beatframe.v1', cluster_id: 'c1', beat_index: beat,
      downbeat: beat % 3 === 0, phase: 'plan', hlc: '7fa3:0001:00a0',
      deadline_at: '2025-10-19T03:23:48.5+02:00', tempo_bpm: 2, window_id: 'a'.repeat(32),
      metadata: { pulse_version: '1.0.0', cluster_health: 'healthy', expected_agents: 4 },
      ...extra,
    }));

  it('bridges INT-A frames as published (fractional tempo, hex hlc), drops invalid (naming the field), stale', async () => {
    const { ctx, mem } = await setup();
    const source = await connect({ servers: fx.url, noAsyncTraces: true });
    const subject = `ext.${ctx.prefix}.beat`;
    const bridge = track(await startBackbeatFeeder(ctx, { source, subject, ownsSource: true }));
    const pub = await connect({ servers: fx.url, noAsyncTraces: true });
    pub.publish(subject, frame(10, { tempo_bpm: 120.4 }));
    pub.publish(subject, frame(11, { phase: 'lunch' }));
    pub.publish(subject, Buffer.from('not json'));
    pub.publish(subject, frame(12, { deadline_at: 'tomorrow' }));
    pub.publish(subject, frame(14, { future_field: 'x' }));
    pub.publish(subject, frame(10));
    pub.publish(subject, frame(13, { phase: 'execute' }));
    await pub.flush();
    await pub.close();
    const got = await waitForFacts(ctx.prefix, 'backbeat', 2);
    await waitFor('all frames handled', () => bridge.stats().received === 7);
    expect(got.map((f) => f.payload['beat_index'])).toEqual([10, 13]);
    expect(got[0]?.payload['tempo_bpm']).toBe(120.4);
    expect(got[0]?.payload['hlc']).toBe('7fa3:0001:00a0');
    expect(got[0]?.payload['deadline_at']).toBe('2025-10-19T03:23:48.5+02:00');
    expect(got[0]?.payload).not.toHaveProperty('metadata');
    expect(got[1]?.payload['phase']).toBe('execute');
    const s = bridge.stats();
    expect(s).toMatchObject({ published: 2, invalid: 4, stale: 1 });
    expect(s.invalid_by_field).toEqual({ 'frame.phase': 1, frame: 1, 'frame.deadline_at': 1, 'frame.future_field': 1 });
    const dropped = mem.lines().filter((l) => l['msg'] === 'dropped an invalid beat frame');
    expect(dropped.map((l) => l['field'])).toEqual(['frame.phase', 'frame', 'frame.deadline_at', 'frame.future_field']);
  });
});

describe('mcp', () => {
  it('reports reachable tools with versions, others as unknown; publishes changes', async () => {
    const { ctx } = await setup();
    const search = await http(json(200, { version: '1.4.0', name: 'ignored' }));
    const broken = await http(json(200, { ver: 'oops' }));
    const erroring = await http(json(503, { version: '9' }));
    const tools: McpTool[] = [
      { name: 'search', url: search.url }, { name: 'gone', url: await deadUrl() },
      { name: 'broken', url: broken.url }, { name: 'erroring', url: erroring.url },
    ];
    const o = { tools, intervalMs: 20, reaffirmMs: 60_000, timeoutMs: 200 };
    const prober = track(await startMcpFeeder(ctx, o));
    const [first] = await waitForFacts(ctx.prefix, 'mcp', 1);
    expect(first?.payload).toEqual({
      tools: [
        { name: 'broken', reachable: false, version: 'unknown' },
        { name: 'erroring', reachable: false, version: 'unknown' },
        { name: 'gone', reachable: false, version: 'unknown' },
        { name: 'search', reachable: true, version: '1.4.0' },
      ],
    });
    await waitFor('unchanged rounds', () => prober.stats().rounds >= 4);
    expect(await facts(ctx.prefix, 'mcp')).toHaveLength(1);
    search.answer = json(200, { version: '1.5.0' });
    const got = await waitForFacts(ctx.prefix, 'mcp', 2);
    const tools2 = got[1]?.payload['tools'] as JsonObject[];
    expect(tools2.find((t) => t['name'] === 'search'))
      .toEqual({ name: 'search', reachable: true, version: '1.5.0' });
  });
});

describe('policy', () => {
  const policyYaml = (version: number | string, size = 5): string =>
    `version: ${version}\n` +
    'denied_source_patterns: ["ucxl://bad/*", "ucxl://bad/*"]\n' +
    `max_council_size: ${size}\n`;

  it('publishes a file on each version increase; refuses the rest naming the field', async () => {
    const { ctx, mem } = await setup();
    const dir = mkdtempSync(join(tmpdir(), 'swoosh-policy-'));
    dirs.push(dir);
    const file = join(dir, 'policy.yaml');
    let t = Math.floor(Date.now() / 1000) - 100;
    const write = (text: string): void => {
      writeFileSync(file, text);
      t += 1;
      utimesSync(file, t, t); // a distinct mtime per write, whatever the file system's resolution
    };
    write(policyYaml(1));
    const o = { source: { type: 'file', path: file } as const, intervalMs: 20 };
    const loader = track(await startPolicyFeeder(ctx, o));
    const [v1] = await waitForFacts(ctx.prefix, 'policy', 1);
    expect(v1?.payload).toEqual({
      version: 1, denied_source_patterns: ['ucxl://bad/*'], max_council_size: 5,
      required_evidence: {},
    });
    write(policyYaml(1, 7));
    await waitFor('refusal of the same version', () => loader.stats().refused === 1);
    write(policyYaml(2, -1));
    await waitFor('refusal of an invalid policy', () => loader.stats().refused === 2);
    write(policyYaml(2));
    const got = await waitForFacts(ctx.prefix, 'policy', 2);
    expect(got.map((f) => f.payload['version'])).toEqual([1, 2]);
    const refusals = mem.lines().filter((l) => l['msg'] === 'refused a policy'
      || l['msg'] === 'refused an invalid policy');
    expect(refusals.map((l) => l['field']))
      .toEqual(['policy.version', 'policy.max_council_size']);
    await loader.stop();
    // A restart reads the last published version from the WAL and does not re-publish it.
    const again = track(await startPolicyFeeder(ctx, o));
    await waitFor('the restarted loader to refuse v2', () => again.stats().refused === 1);
    expect(again.stats().version).toBe(2);
    expect(await facts(ctx.prefix, 'policy')).toHaveLength(2);
  });

  it('publishes from a watched KV key on each version increase', async () => {
    const { ctx } = await setup();
    const bucket = `${ctx.prefix}_policy`;
    const kv = await new Kvm(nc).create(bucket, { history: 1 });
    await kv.put('rules', JSON.stringify({ version: 3 }));
    const o = { source: { type: 'kv', bucket, key: 'rules' } as const, intervalMs: 20 };
    const loader = track(await startPolicyFeeder(ctx, o));
    await waitForFacts(ctx.prefix, 'policy', 1);
    await kv.put('rules', policyYaml(3));
    await waitFor('refusal', () => loader.stats().refused === 1);
    await kv.put('rules', 'version: 4\nunknown_rule: true\n');
    await waitFor('refusal of an unknown field', () => loader.stats().refused === 2);
    await kv.put('rules', policyYaml(4));
    const got = await waitForFacts(ctx.prefix, 'policy', 2);
    expect(got.map((f) => f.payload['version'])).toEqual([3, 4]);
  });
});

describe('tick', () => {
  it('publishes empty tick facts every interval, in HLC order', async () => {
    const { ctx } = await setup();
    track(await startTickFeeder(ctx, { intervalMs: 20 }));
    const got = await waitForFacts(ctx.prefix, 'tick', 4);
    expect(got.every((f) => Object.keys(f.payload).length === 0)).toBe(true);
  });
});

describe('CLI', () => {
  it('registers the five feeders, each with an example and its environment variables', () => {
    const program = new Command().name('swoosh');
    registerFeeder(program);
    const feeder = program.commands.find((c) => c.name() === 'feeder');
    const names = feeder?.commands.map((c) => c.name()).sort();
    expect(names).toEqual(['backbeat', 'license', 'mcp', 'policy', 'tick']);
    for (const c of feeder?.commands ?? []) {
      let help = '';
      c.configureOutput({ writeOut: (s) => { help += s; } });
      c.outputHelp();
      expect(help, c.name()).toContain('Example');
      expect(help, c.name()).toContain(`swoosh feeder ${c.name()}`);
      expect(c.options.every((o) => o.envVar !== undefined)).toBe(true);
    }
  });

  it('runs a feeder process set up by environment: ready line, facts, exit 0', async () => {
    const { ctx } = await setup();
    const dir = mkdtempSync(join(tmpdir(), 'swoosh-feeder-cli-'));
    dirs.push(dir);
    const seed = randomBytes(32);
    const keyFile = join(dir, 'feeder.key.json');
    writeFileSync(keyFile, JSON.stringify({ secret_key: seed.toString('hex') }), { mode: 0o600 });
    const script = [
      "import { Command } from 'commander';",
      "import { registerFeeder } from './src/cli/commands/feeder.ts';",
      "const p = new Command().name('swoosh');",
      'registerFeeder(p);',
      "await p.parseAsync(['feeder', 'tick'], { from: 'user' });",
    ].join('\n');
    const args = ['--import', 'tsx', '--input-type=module', '-e', script];
    const child = spawn(process.execPath, args, {
      env: {
        ...process.env, NATS_URL: fx.url, SWOOSH_PREFIX: ctx.prefix,
        SWOOSH_FEEDER_KEY_FILE: keyFile, SWOOSH_TICK_INTERVAL_MS: '20', SWOOSH_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    try {
      await waitFor('the ready line', () => out.includes('"event":"ready"'), 20_000);
      const line = out.split('\n').find((l) => l.includes('"event":"ready"')) ?? '';
      const ready = JSON.parse(line) as JsonObject;
      const by = createNodeSigner(seed).signer;
      expect(ready).toMatchObject({
        feeder: 'tick', prefix: ctx.prefix, subject: `${ctx.prefix}.facts.tick`, signer: by,
        interval_ms: 20,
      });
      await waitForFacts(ctx.prefix, 'tick', 3, by);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
