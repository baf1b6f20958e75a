/**
 * Memory over a long run: the writer alone in a child process (src/server/process/main.ts), fed
 * `decisions` entries from this process (the walk to EXECUTION.REVIEW, then approvals with
 * distinct idem keys, so the idempotency memory fills to `idem_max` and then evicts), with its
 * RSS read from /proc/<pid>/status every second together with how many decisions are stored.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { GENESIS_DEFAULTS } from '../../core/index.js';
import { applyStreams, assertNoDrift } from '../../server/process/apply-streams.js';
import { streamDefinitions, subjectsFor } from '../../../streams/definitions.js';
import { castGenesis } from '../sim/world.js';
import {
  procMemory,
  startChildWriter,
  stopChild,
  writeChildFiles,
  type StartedChild,
} from './child.js';
import { approvalStream, publishStream, waitDecided, walkToReview } from './workload.js';

/** One sample: seconds since the writer started serving, decisions stored, RSS. */
export interface MemorySample {
  readonly t_s: number;
  readonly decided: number;
  readonly rss_mb: number;
}

/** What the memory section reports. */
export interface MemoryResult {
  readonly decisions: number;
  readonly approvals: number;
  readonly beat_facts: number;
  readonly idem_max: number;
  readonly snapshot_every: number;
  /** NODE_OPTIONS the child ran with ('' for none). */
  readonly node_options: string;
  readonly seconds: number;
  readonly decisions_per_s: number;
  readonly sample_every_ms: number;
  readonly samples: number;
  readonly rss_mb_first: number;
  readonly rss_mb_peak: number;
  /** The kernel's high-water mark (VmHWM): the peak between samples too. */
  readonly rss_mb_hwm: number;
  readonly rss_mb_last: number;
  /** Least-squares slope of RSS over decisions stored, over the run's second half. */
  readonly slope_mb_per_100k_second_half: number;
  /** Every sample (t, decided, RSS), for plotting. */
  readonly series: readonly MemorySample[];
}

/** Least-squares slope of y over x; 0 with fewer than two distinct x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

/** Slope in MB per 100,000 decisions over the samples taken once half the decisions were stored. */
export function secondHalfSlope(samples: readonly MemorySample[], total: number): number {
  const pts = samples
    .filter((s) => s.decided >= total / 2)
    .map((s) => ({ x: s.decided, y: s.rss_mb }));
  return +(slope(pts) * 100_000).toFixed(2);
}

async function lastSeq(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.last_seq;
}

/** Run the memory section on a fresh prefix of the server at `url`. */
export async function runMemory(
  url: string,
  prefix: string,
  decisions: number,
  snapshotEvery: number,
  tmp: string,
  log: (m: string) => void,
  o: { nodeOptions?: string; sampleEveryMs?: number } = {},
): Promise<MemoryResult> {
  const sampleEveryMs = o.sampleEveryMs ?? 1000;
  const nodeOptions = o.nodeOptions ?? '';
  const raw = castGenesis();
  const nc = await connect({ servers: url, noAsyncTraces: true });
  let child: StartedChild | null = null;
  let timer: NodeJS.Timeout | null = null;
  try {
    const js = jetstream(nc, { timeout: 30_000 });
    const jsm = await jetstreamManager(nc);
    const s = subjectsFor(prefix);
    assertNoDrift(
      await applyStreams(nc, streamDefinitions({ prefix, replicas: 1, leaseTtlMs: 5000 }), {
        mode: 'apply',
      }),
    );
    const files = await writeChildFiles(tmp, `${prefix}-mem`, raw);
    const env: Record<string, string> = { SWOOSH_SNAPSHOT_EVERY: String(snapshotEvery) };
    if (nodeOptions !== '') {
      env['NODE_OPTIONS'] = [process.env['NODE_OPTIONS'] ?? '', nodeOptions].join(' ').trim();
    }
    child = await startChildWriter(nc, { natsUrl: url, prefix, name: 'mem-writer', files, env });
    const pid = child.pid;
    log(
      `  writer child pid ${pid} serving after ${Math.round(child.writerMs)} ms; feeding ` +
      `${decisions} entries …`,
    );

    const samples: MemorySample[] = [];
    let hwm = 0;
    let sampling: Promise<void> = Promise.resolve();
    const t0 = performance.now();
    const take = async (): Promise<void> => {
      const [m, decided] = await Promise.all([procMemory(pid), lastSeq(jsm, s.decisionsName)]);
      hwm = Math.max(hwm, m.hwm_mb);
      samples.push({
        t_s: +((performance.now() - t0) / 1000).toFixed(1),
        decided,
        rss_mb: m.rss_mb,
      });
    };
    await take();
    timer = setInterval(() => {
      // One sample at a time; a failed read (the child gone) ends up in the final checks.
      sampling = sampling.then(take).catch((err: unknown) => {
        log(`  memory: sample failed: ${(err as Error).message}`);
      });
    }, sampleEveryMs);

    const walked = await walkToReview(js, jsm, prefix, s.walName, raw);
    const counts = { proposals: 0, facts: 0 };
    const rest = Math.max(0, decisions - walked.entries);
    const status = (): string => {
      const l = samples[samples.length - 1];
      return l === undefined ? '' : `decided ${l.decided}, RSS ${l.rss_mb} MB`;
    };
    const started = child;
    const alive = (): void => {
      const code = started.proc.child.exitCode ?? started.proc.child.signalCode;
      if (code !== null) {
        throw new Error(
          `bench: the writer child exited (${code}):\n${started.proc.output.slice(-20).join('\n')}`,
        );
      }
    };
    await publishStream(js, approvalStream(walked, rest, { prefix, counts }), {
      maxAhead: 20_000,
      progressEvery: 25_000,
      decided: async () => {
        alive();
        return lastSeq(jsm, s.decisionsName);
      },
      onProgress: (n) =>
        log(
          `  memory: published ${walked.entries + n} / ${decisions}, ${status()} ` +
          `(${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        ),
    });
    const walLast = await lastSeq(jsm, s.walName);
    await waitDecided(walLast, {
      decided: () => lastSeq(jsm, s.decisionsName),
      alive,
      pollMs: 50,
      log: (d) => log(`  memory: decided ${d} / ${walLast}, ${status()}`),
    });
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    timer = null;
    await sampling;
    await take();
    const rss = samples.map((x) => x.rss_mb);
    return {
      decisions: walLast,
      approvals: counts.proposals,
      beat_facts: counts.facts,
      idem_max: GENESIS_DEFAULTS.idem_max,
      snapshot_every: snapshotEvery,
      node_options: nodeOptions,
      seconds: +seconds.toFixed(1),
      decisions_per_s: Math.round(walLast / seconds),
      sample_every_ms: sampleEveryMs,
      samples: samples.length,
      rss_mb_first: rss[0] ?? 0,
      rss_mb_peak: Math.max(...rss),
      rss_mb_hwm: hwm,
      rss_mb_last: rss[rss.length - 1] ?? 0,
      slope_mb_per_100k_second_half: secondHalfSlope(samples, walLast),
      series: samples,
    };
  } finally {
    if (timer !== null) clearInterval(timer);
    if (child !== null) await stopChild(child.proc);
    await nc.close();
  }
}
