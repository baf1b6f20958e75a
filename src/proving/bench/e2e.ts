/**
 * End to end through a real nats-server child: pre-signed proposals and facts (generated
 * first, excluded from timing) published by NATS producers to the WAL, decided by an
 * in-process Instance (writer: verify every signature, core.step, sign and store the decision
 * record, fenced), until the last decision record is stored; and the valid-mix drain (a WAL
 * pre-loaded closed loop, then decided). Recovery at size is src/proving/bench/recovery.ts.
 */
import { randomBytes } from 'node:crypto';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
} from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { pino } from 'pino';
import type { Genesis } from '../../core/index.js';
import { audit, type AuditReport } from '../../server/replication/audit.js';
import { encodeEnvelope, msgIdOf } from '../../protocol/envelope.js';
import { Instance } from '../../server/process/instance.js';
import { createLogger } from '../../server/observability/log.js';
import { applyStreams, assertNoDrift } from '../../server/process/apply-streams.js';
import { streamDefinitions, subjectsFor, type Subjects } from '../../../streams/definitions.js';
// The seeded world, stream generator and closed-loop producer the tests use: pre-signed entries.
import { publishLive } from '../sim/publish.js';
import { NO_FAULTS, generateStream, streamSteps } from '../sim/stream.js';
import { World, castGenesis, parseFixtureGenesis } from '../sim/world.js';

/** One entry ready to publish: subject, envelope bytes, dedup id. */
export interface Prepared {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly msgId: string;
  readonly channel: 'proposal' | 'fact';
  /** The JSON form POST /transition takes (proposals only). */
  readonly json: string | null;
}

/** A generated workload. */
export interface Workload {
  readonly genesis: Genesis;
  readonly entries: readonly Prepared[];
  readonly generate_seconds: number;
  readonly proposals: number;
  readonly facts: number;
  readonly mean_envelope_bytes: number;
}

// Warnings and errors of the instances on stderr, so `--json` stays one JSON document on stdout.
const quiet = createLogger({ level: 'warn', destination: pino.destination(2) });

/** Happy-path entries from the seeded world (log clock starting now), prepared for `prefix`. */
export function makeWorkload(prefix: string, count: number, seed = 20251019): Workload {
  const t0 = performance.now();
  const raw = castGenesis();
  const stream = generateStream(seed, count, NO_FAULTS, raw, { baseMs: Date.now() });
  const enc = new TextEncoder();
  const entries: Prepared[] = [];
  for (const e of stream.entries) {
    if (e.type !== 'signed') continue;
    const sig = stream.world.sigs.get(e.body);
    if (sig === undefined) throw new Error(`bench: no signature for entry ${e.seq}`);
    const body = enc.encode(e.body);
    const family = e.channel === 'fact' ? 'facts' : 'proposals';
    const json = e.channel === 'proposal'
      ? `${e.body.slice(0, -1)},"signature":"${Buffer.from(sig).toString('hex')}"}`
      : null;
    entries.push({
      subject: `${prefix}.${family}.${e.name}`,
      data: encodeEnvelope(body, sig),
      msgId: msgIdOf(body),
      channel: e.channel,
      json,
    });
  }
  const genesis = parseFixtureGenesis(raw);
  const proposals = entries.filter((e) => e.channel === 'proposal').length;
  return {
    genesis,
    entries,
    generate_seconds: +((performance.now() - t0) / 1000).toFixed(2),
    proposals,
    facts: entries.length - proposals,
    mean_envelope_bytes: Math.round(
      entries.reduce((a, e) => a + e.data.length, 0) / Math.max(1, entries.length),
    ),
  };
}

/** Start an Instance and wait until it is the writer. */
export async function startWriter(
  url: string,
  prefix: string,
  genesis: Genesis,
  name: string,
  snapshotEvery: number,
): Promise<{ inst: Instance; startMs: number; writerMs: number }> {
  const t0 = performance.now();
  const inst = new Instance({
    natsUrl: url,
    prefix,
    name,
    genesis,
    signerSeed: randomBytes(32),
    snapshotEvery,
    log: quiet,
  });
  await inst.start();
  const startMs = performance.now() - t0;
  const until = Date.now() + 30_000;
  while (inst.status().role !== 'writer') {
    if (Date.now() > until) {
      const role = inst.status().role;
      await inst.stop();
      throw new Error(`bench: ${name} did not become the writer in 30 s (role ${role})`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return { inst, startMs, writerMs: performance.now() - t0 };
}

/** RSS samples taken every `everyMs` until stopped. */
export function rssSampler(everyMs: number): { stop(): { samples_mb: number[]; peak_mb: number } } {
  const samples: number[] = [];
  const take = (): void => {
    samples.push(+(process.memoryUsage.rss() / 1_048_576).toFixed(1));
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return { samples_mb: samples, peak_mb: Math.max(...samples) };
    },
  };
}

/** Mean stored message size of the WAL, DECISIONS and TRANSITIONS streams. */
async function meanSizes(
  jsm: JetStreamManager,
  s: Subjects,
): Promise<{ wal: number; dr: number; transition: number }> {
  const mean = async (name: string): Promise<number> => {
    const st = (await jsm.streams.info(name)).state;
    return Math.round(st.bytes / Math.max(1, st.messages));
  };
  return {
    wal: await mean(s.walName),
    dr: await mean(s.decisionsName),
    transition: await mean(s.transitionsName),
  };
}

/** RSS figures of a run: before, peak, last sample, all samples. */
function rssFigures(
  beforeMb: number,
  mem: { samples_mb: number[]; peak_mb: number },
): { before_mb: number; peak_mb: number; after_mb: number; samples_mb: number[] } {
  return {
    before_mb: +beforeMb.toFixed(1),
    peak_mb: mem.peak_mb,
    after_mb: mem.samples_mb[mem.samples_mb.length - 1] ?? 0,
    samples_mb: mem.samples_mb,
  };
}

async function lastSeq(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.last_seq;
}

/** Result of the end-to-end run. */
export interface E2eResult {
  readonly decisions: number;
  readonly proposals: number;
  readonly facts: number;
  readonly producers: number;
  readonly publish_seconds: number;
  readonly seconds: number;
  readonly decisions_per_s: number;
  readonly generate_seconds: number;
  readonly sizes: { wal: number; dr: number; transition: number };
  readonly outcomes: Readonly<Record<string, number>>;
  readonly rss: { before_mb: number; peak_mb: number; after_mb: number; samples_mb: number[] };
  readonly heap_after_mb: number;
}

/**
 * Publish the workload from `producers` concurrent NATS producers (each pipelining 64
 * publishes) to a fresh writer; time from the first publish to the last decision record stored.
 */
export async function runE2e(
  url: string,
  prefix: string,
  w: Workload,
  producers: number,
  snapshotEvery: number,
): Promise<{
  e2e: E2eResult;
  inst: Instance;
  report: AuditReport;
  recoveryInput: { wal: number };
}> {
  const { inst } = await startWriter(url, prefix, w.genesis, 'bench-1', snapshotEvery);
  const nc = await connect({ servers: url, noAsyncTraces: true });
  try {
    const js = jetstream(nc, { timeout: 30_000 });
    const jsm = await jetstreamManager(nc);
    const s = subjectsFor(prefix);
    const n = w.entries.length;
    const rss = rssSampler(250);
    const before = process.memoryUsage.rss() / 1_048_576;
    const t0 = performance.now();
    // Entries keep WAL order only if one producer publishes them; several producers each take a
    // contiguous share, so later shares race earlier ones and more proposals are stale.
    const share = Math.ceil(n / producers);
    const pubs = Array.from({ length: producers }, async (_, p) => {
      let inflight: Promise<PubAck>[] = [];
      for (const e of w.entries.slice(p * share, (p + 1) * share)) {
        inflight.push(js.publish(e.subject, e.data, { msgID: e.msgId }));
        if (inflight.length >= 64) {
          await Promise.all(inflight);
          inflight = [];
        }
      }
      await Promise.all(inflight);
    });
    await Promise.all(pubs);
    const publishSeconds = (performance.now() - t0) / 1000;
    const walLast = await lastSeq(jsm, s.walName);
    while ((await lastSeq(jsm, s.decisionsName)) < walLast) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const seconds = (performance.now() - t0) / 1000;
    const mem = rss.stop();
    const sizes = await meanSizes(jsm, s);
    const report = await audit({
      js,
      jsm,
      genesis: w.genesis,
      walName: s.walName,
      decisionsName: s.decisionsName,
      transitionsName: s.transitionsName,
    });
    return {
      inst,
      report,
      recoveryInput: { wal: walLast },
      e2e: {
        decisions: walLast,
        proposals: w.proposals,
        facts: w.facts,
        producers,
        publish_seconds: +publishSeconds.toFixed(3),
        seconds: +seconds.toFixed(3),
        decisions_per_s: Math.round(walLast / seconds),
        generate_seconds: w.generate_seconds,
        sizes,
        outcomes: report.outcomes,
        rss: rssFigures(before, mem),
        heap_after_mb: +(process.memoryUsage().heapUsed / 1_048_576).toFixed(1),
      },
    };
  } finally {
    await nc.close();
  }
}

/** A connection to the bench server with the streams of `prefix` applied (callers close `nc`). */
export async function benchConnection(
  url: string,
  prefix: string,
): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; s: Subjects }> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  try {
    const js = jetstream(nc, { timeout: 30_000 });
    const jsm = await jetstreamManager(nc);
    assertNoDrift(
      await applyStreams(nc, streamDefinitions({ prefix, replicas: 1, leaseTtlMs: 5000 }), {
        mode: 'apply',
      }),
    );
    return { nc, js, jsm, s: subjectsFor(prefix) };
  } catch (err) {
    await nc.close();
    throw err;
  }
}

/** Result of the drain run (WAL pre-loaded by a closed-loop producer, then decided). */
export interface DrainResult {
  readonly decisions: number;
  readonly preload_seconds: number;
  /** From the writer taking the lease to the last record stored. */
  readonly seconds: number;
  readonly decisions_per_s: number;
  /** The same, counted from the process object's start (connect, streams, recovery included). */
  readonly with_start_seconds: number;
  readonly sizes: { wal: number; dr: number; transition: number };
  readonly outcomes: Readonly<Record<string, number>>;
  readonly rss: { before_mb: number; peak_mb: number; after_mb: number; samples_mb: number[] };
  readonly heap_after_mb: number;
}

/**
 * The closed-loop producer in its own frame, so its world (every state it saw) is garbage after.
 */
async function preloadLive(
  js: JetStreamClient,
  jsm: JetStreamManager,
  prefix: string,
  walName: string,
  raw: Record<string, unknown>,
  count: number,
): Promise<number> {
  const w = new World(raw, undefined, { baseMs: Date.now() });
  return (
    await publishLive(js, jsm, prefix, walName, w, streamSteps(w, 20251019, count, NO_FAULTS))
  ).length;
}

/**
 * The valid-mix run. The state commits to log time, so a stream generated offline goes stale
 * after its first accepted transition; here a closed-loop producer (the tests' publishLive)
 * writes `count` happy-path entries, each planned against what the log actually stored, with
 * no writer running (not timed). Then a writer starts and decides the whole WAL: timed from
 * taking the lease to the last decision record stored.
 */
export async function runDrain(
  url: string,
  prefix: string,
  count: number,
  snapshotEvery: number,
  log: (m: string) => void,
): Promise<{ drain: DrainResult; inst: Instance; report: AuditReport; genesis: Genesis }> {
  const raw = castGenesis();
  const genesis = parseFixtureGenesis(raw);
  const { nc, js, jsm, s } = await benchConnection(url, prefix);
  try {
    const tp = performance.now();
    const loaded = await preloadLive(js, jsm, prefix, s.walName, raw, count);
    const preload = (performance.now() - tp) / 1000;
    log(
      `  pre-loaded ${loaded} entries in ${preload.toFixed(1)} s (closed loop, not timed); ` +
      `draining …`,
    );
    const walLast = await lastSeq(jsm, s.walName);
    const rss = rssSampler(250);
    const before = process.memoryUsage.rss() / 1_048_576;
    const t0 = performance.now();
    const { inst, writerMs } = await startWriter(url, prefix, genesis, 'drain-1', snapshotEvery);
    const tw = t0 + writerMs;
    while ((await lastSeq(jsm, s.decisionsName)) < walLast) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const tEnd = performance.now();
    const mem = rss.stop();
    const sizes = await meanSizes(jsm, s);
    const report = await audit({
      js,
      jsm,
      genesis,
      walName: s.walName,
      decisionsName: s.decisionsName,
      transitionsName: s.transitionsName,
    });
    const seconds = (tEnd - tw) / 1000;
    return {
      inst,
      report,
      genesis,
      drain: {
        decisions: walLast,
        preload_seconds: +preload.toFixed(2),
        seconds: +seconds.toFixed(3),
        decisions_per_s: Math.round(walLast / seconds),
        with_start_seconds: +((tEnd - t0) / 1000).toFixed(3),
        sizes,
        outcomes: report.outcomes,
        rss: rssFigures(before, mem),
        heap_after_mb: +(process.memoryUsage().heapUsed / 1_048_576).toFixed(1),
      },
    };
  } finally {
    await nc.close();
  }
}
