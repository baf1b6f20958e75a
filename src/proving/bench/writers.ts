/**
 * Writers end to end at scale (issue "many projects"): decisions/s through a real nats-server
 * and writer child processes, for one writer (`lease`), writers by bucket deciding every chain
 * (`buckets`) and writers by bucket deciding only the chains they hold (`held`), at
 * 1, 100 and 10,000 projects and 1, 2 and 3 processes, with each process's CPU time per
 * decision (from /proc/<pid>/stat) so the per-process cost shows even where this 2-core machine
 * cannot scale the aggregate.
 *
 * The workload holds the decision mix constant whatever the project count: every entry is a
 * signed proposal (verified, routed to its project's chain, decided, recorded, signed,
 * published) that names a stale state hash, so each one is rejected at the same check
 * (`stale_state_hash`), spread round-robin over the projects. What changes with the project
 * count is only what the project count can change: the chain lookups, the copy-on-write map
 * of documents, one decision chain (and, by bucket, one fence) per project.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager, type PubAck } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createCore, formatHlc, jcs } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { DOMAIN } from '../../crypto/domains.js';
import { signObject } from '../../crypto/sign.js';
import { keyPairFromSeed } from '../../crypto/keys.js';
import { encodeEnvelope, msgIdOf } from '../../protocol/envelope.js';
import { applyStreams, assertNoDrift } from '../../server/process/apply-streams.js';
import { streamDefinitions, subjectsFor } from '../../../streams/definitions.js';
import { startNatsServer } from '../harness/nats-server.js';
import { spawnReadyInstance, type ChildInstance } from '../harness/proc.js';
import { CAST, castGenesis, proposalBody } from '../sim/world.js';
import type { WritersMode } from '../../server/process/deployment.js';

/**
 * How the processes write: one writer (`lease`), writers by bucket each deciding every chain
 * (`buckets`), or each deciding only the chains it holds (`held`, SWOOSH_DECIDE=held).
 */
export type WritersBenchMode = WritersMode | 'held';

/** One measured case. */
export interface WritersCase {
  readonly writers: WritersBenchMode;
  readonly projects: number;
  readonly processes: number;
  readonly decisions: number;
  readonly seconds: number;
  readonly decisions_per_s: number;
  /** CPU time (user + system) per decision, each process, in µs. */
  readonly cpu_us_per_decision: readonly number[];
  /** The sum over processes: the whole deployment's CPU per decision. */
  readonly cpu_us_per_decision_total: number;
  readonly rss_mb: readonly number[];
}

/** Options of a run. */
export interface WritersBenchOptions {
  readonly entries: number;
  readonly projects: readonly number[];
  readonly processes: readonly number[];
  readonly modes: readonly WritersBenchMode[];
  readonly log: (line: string) => void;
}

const CLK_TCK = 100;

/** utime + stime of a process in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? 0 : Math.round(Number(m[1]) / 1024);
}

/** `n` entries, round-robin over `projects` projects, each a proposal with a stale state hash. */
function workload(prefix: string, projects: readonly string[], n: number): {
  subject: string; data: Uint8Array; msgId: string;
}[] {
  const core = createCore(nodeHasher);
  const enc = new TextEncoder();
  const base = Date.now();
  const out = [];
  for (let i = 0; i < n; i++) {
    const project = projects[i % projects.length] as string;
    const inputs = { config_hash: core.hash({ i }) };
    const body = proposalBody(core, CAST.operator, 'Boot_ConfigOk', inputs, {}, {
      project,
      hash: () => `sha256-${'0'.repeat(64)}`,
      idem: () => `bench-writers-${i}`,
      hlc: () => formatHlc({ ms: base + Math.floor(i / 1000), logical: i % 1000 }),
      window: '',
    });
    const text = jcs(body);
    const sig = Buffer.from(signObject(DOMAIN.proposal, body, CAST.operator.secretKey), 'hex');
    const bytes = enc.encode(text);
    out.push({
      subject: `${prefix}.proposals.${project}.Boot_ConfigOk`,
      data: encodeEnvelope(bytes, sig),
      msgId: msgIdOf(bytes),
    });
  }
  return out;
}

/** Run one case on `url` with a fresh prefix. */
async function runCase(
  url: string,
  dir: string,
  writers: WritersBenchMode,
  projectCount: number,
  processes: number,
  entries: number,
): Promise<WritersCase> {
  const prefix = `w${writers[0]}${projectCount}x${processes}${randomBytes(2).toString('hex')}`;
  const projects = Array.from({ length: projectCount }, (_, i) => `p${i}`);
  const genesisFile = join(dir, `${prefix}.genesis.json`);
  await writeFile(genesisFile, JSON.stringify({ ...castGenesis(), projects }));
  const nc = await connect({ servers: url, noAsyncTraces: true });
  const children: ChildInstance[] = [];
  try {
    const defs = streamDefinitions({ prefix, replicas: 1 });
    assertNoDrift(await applyStreams(nc, defs, { mode: 'apply' }));
    for (let k = 0; k < processes; k++) {
      const keyFile = join(dir, `${prefix}.${k}.key.json`);
      const seed = randomBytes(32);
      const key = { signer: keyPairFromSeed(seed).signer, secret_key: seed.toString('hex') };
      await writeFile(keyFile, JSON.stringify(key), { mode: 0o600 });
      children.push(await spawnReadyInstance({
        natsUrl: url, prefix, name: `bench-${k}`, genesisFile, keyFile,
        env: writers === 'held'
          ? { SWOOSH_WRITERS: 'buckets', SWOOSH_DECIDE: 'held', SWOOSH_SNAPSHOT_EVERY: '100000' }
          : { SWOOSH_WRITERS: writers, SWOOSH_DECIDE: 'all', SWOOSH_SNAPSHOT_EVERY: '100000' },
        readyTimeoutMs: 60_000,
      }));
    }
    const js = jetstream(nc, { timeout: 30_000 });
    const jsm = await jetstreamManager(nc);
    const s = subjectsFor(prefix);
    // Every process has joined (buckets) or one holds the lease: wait for a first decision.
    const warm = workload(prefix, projects.slice(0, 1), 1);
    for (const e of warm) await js.publish(e.subject, e.data, { msgID: `warm-${e.msgId}` });
    const decided = async (): Promise<number> =>
      (await jsm.streams.info(s.decisionsName)).state.messages;
    const walLast = async (): Promise<number> =>
      (await jsm.streams.info(s.walName)).state.last_seq;
    for (const until = Date.now() + 60_000; (await decided()) < 1;) {
      if (Date.now() > until) throw new Error('bench writers: no decision within 60 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    // Let buckets settle among the processes (a join takes a few lease ticks).
    await new Promise((r) => setTimeout(r, processes > 1 ? 4000 : 500));
    const work = workload(prefix, projects, entries);
    const pids = children.map((c) => c.child.pid as number);
    const cpu0 = pids.map(cpuSeconds);
    const t0 = performance.now();
    let inflight: Promise<PubAck>[] = [];
    for (const e of work) {
      inflight.push(js.publish(e.subject, e.data, { msgID: e.msgId }));
      if (inflight.length >= 64) {
        await Promise.all(inflight);
        inflight = [];
      }
    }
    await Promise.all(inflight);
    const last = await walLast();
    while ((await decided()) < last) await new Promise((r) => setTimeout(r, 5));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = pids.map((p, i) => cpuSeconds(p) - (cpu0[i] ?? 0));
    const perDecision = cpu.map((c) => Math.round((c / entries) * 1e6));
    return {
      writers, projects: projectCount, processes, decisions: entries,
      seconds: +seconds.toFixed(2),
      decisions_per_s: Math.round(entries / seconds),
      cpu_us_per_decision: perDecision,
      cpu_us_per_decision_total: perDecision.reduce((a, b) => a + b, 0),
      rss_mb: pids.map(rssMb),
    };
  } finally {
    for (const c of children) {
      c.child.kill('SIGTERM');
      await Promise.race([c.exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    }
    await nc.close();
  }
}

/** Every case of `o`, on one fresh nats-server child. */
export async function writersReport(o: WritersBenchOptions): Promise<WritersCase[]> {
  const dir = await mkdtemp(join(tmpdir(), 'swoosh-bench-writers-'));
  const server = await startNatsServer({ storeDir: dir });
  const out: WritersCase[] = [];
  try {
    for (const writers of o.modes) {
      for (const projects of o.projects) {
        for (const processes of o.processes) {
          if (writers === 'lease' && processes > 1) continue; // one writer, the rest follow
          const c = await runCase(server.url, dir, writers, projects, processes, o.entries);
          o.log(`${writers.padEnd(7)} projects ${String(projects).padStart(5)} ` +
            `processes ${processes}: ${c.decisions_per_s} decisions/s, CPU µs/decision ` +
            `${c.cpu_us_per_decision.join(' + ')} = ` +
            `${c.cpu_us_per_decision_total}, RSS MB ${c.rss_mb.join(' ')}`);
          out.push(c);
        }
      }
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}
