/**
 * `swoosh bench`: the ceilings and the system measured side by side in one run, as ratios,
 * because the machine is noisy. Sections: ceilings (raw JetStream pipeline, Ed25519 verify on
 * all cores), e2e (NATS producers → writer → stored decision records), recovery (a WAL of
 * `recoveryEntries` with snapshots, restarted in process and as a child process; audit full
 * replay), http (POST /transition latency at fixed rates), memory (the writer alone in a child
 * process over `memoryDecisions`, RSS every second), scale (decisions/s with ~10 KB and
 * ~10 MB of state). Figures, not assertions.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { formatHlc, jcs } from '../../core/index.js';
import { DOMAIN } from '../../crypto/domains.js';
import { createNodeSigner } from '../../crypto/node-sign.js';
import { CAST } from '../sim/world.js';
import { renderServerConfig, startNatsServer } from '../harness/nats-server.js';
import type { Instance } from '../../server/process/instance.js';
import {
  jetstreamCeiling,
  verifyCeiling,
  type PipelineCeiling,
  type VerifyCeiling,
} from './ceilings.js';
import { makeWorkload, runDrain, runE2e, type DrainResult, type E2eResult } from './e2e.js';
import { httpLatency, type HttpRate } from './http-latency.js';
import { runMemory, type MemoryResult } from './memory.js';
import { runRecoveryAtSize, type RecoveryResult } from './recovery.js';
import { runScale, type ScaleResult } from './scale.js';

/** Sections a run can include. */
export const SECTIONS = ['ceilings', 'e2e', 'recovery', 'http', 'memory', 'scale'] as const;
export type Section = (typeof SECTIONS)[number];

/** Parameters of one run. */
export interface BenchOptions {
  readonly sections: ReadonlySet<Section>;
  /** Decisions in the end-to-end runs (valid-mix drain and live producers). */
  readonly decisions: number;
  readonly snapshotEvery: number;
  /** Entries in the recovery WAL. */
  readonly recoveryEntries: number;
  /** Decisions the writer child makes in the memory run. */
  readonly memoryDecisions: number;
  /** NODE_OPTIONS for the memory run's writer child (e.g. a heap limit); '' for none. */
  readonly memoryNodeOptions: string;
  /** Decisions per state size in the scale run. */
  readonly scaleDecisions: number;
  readonly verifySeconds: number;
  readonly producers: number;
  readonly httpRates: readonly number[];
  readonly httpSeconds: number;
  readonly httpClients: number;
  readonly log: (msg: string) => void;
}

/** Quick (`npm run bench`) and full defaults. */
export const QUICK: Omit<BenchOptions, 'sections' | 'log'> = {
  decisions: 5_000,
  snapshotEvery: 1000,
  verifySeconds: 1,
  producers: 1,
  httpRates: [100, 300],
  httpSeconds: 3,
  httpClients: 32,
  recoveryEntries: 5_000,
  memoryDecisions: 10_000,
  memoryNodeOptions: '',
  scaleDecisions: 2_000,
};
export const FULL: Omit<BenchOptions, 'sections' | 'log'> = {
  decisions: 20_000,
  snapshotEvery: 1000,
  verifySeconds: 3,
  producers: 1,
  httpRates: [100, 300, 1000],
  httpSeconds: 10,
  httpClients: 64,
  recoveryEntries: 100_000,
  memoryDecisions: 500_000,
  memoryNodeOptions: '',
  scaleDecisions: 10_000,
};

/** Smallest sizes accepted: the walk to EXECUTION.REVIEW alone takes a few dozen entries. */
export const MIN_ENTRIES = {
  decisions: 100,
  recoveryEntries: 200,
  memoryDecisions: 200,
  scaleDecisions: 200,
} as const;

/**
 * Proposal bodies for POST /transition, re-stamped and re-signed (node:crypto, ~50 µs) at send
 * time: a unique idem key and an HLC of now, so none is a duplicate or an HLC regression; they
 * name hashes of the generating world, which the log has moved past (stale or wrong phase).
 */
function freshProposals(bodies: readonly string[]): (i: number) => string {
  const signers = new Map(
    Object.values(CAST).map((a) => [a.signer, createNodeSigner(a.secretKey)]),
  );
  const parsed = bodies.map((text) => {
    const { signature: _old, ...body } = JSON.parse(text) as Record<string, unknown>;
    return body;
  });
  const run = Date.now().toString(36);
  return (i) => {
    const body = parsed[i % parsed.length] ?? {};
    const signer = signers.get(String(body['signer']));
    const fresh = {
      ...body,
      idem_key: `bench:${run}:${i}`,
      hlc: formatHlc({ ms: Date.now(), logical: i % 60_000 }),
    };
    return jcs({ ...fresh, signature: signer?.signObject(DOMAIN.proposal, fresh) ?? '' });
  };
}

/**
 * The commit the tree is at and whether it has uncommitted changes; null outside a git checkout.
 */
function gitState(): { head: string; dirty: boolean } | null {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() !== '';
    return { head, dirty };
  } catch (err) {
    // Not a checkout (an installed package) or no git: the report says null.
    void err;
    return null;
  }
}

/** Everything a run reports. */
export interface BenchReport {
  readonly params: Record<string, unknown>;
  readonly verify?: VerifyCeiling;
  readonly jetstream?: PipelineCeiling;
  readonly drain?: DrainResult;
  readonly e2e?: E2eResult;
  readonly ratios?: Record<string, number>;
  readonly recovery?: RecoveryResult;
  readonly http?: readonly HttpRate[];
  readonly memory?: MemoryResult;
  readonly scale?: ScaleResult;
  readonly targets: Record<string, number>;
}

type MutableReport = { -readonly [K in keyof BenchReport]?: BenchReport[K] };

/** What a section needs: the options, the server, the scratch directory, what it reports. */
interface BenchRun {
  readonly o: BenchOptions;
  readonly url: string;
  readonly dir: string;
  readonly out: MutableReport;
  /** Instances still running (the drain's writer, kept for the HTTP and ceiling sections). */
  readonly live: Instance[];
}

/** The targets the report is read against. */
const TARGETS: Record<string, number> = {
  e2e_decisions_per_s: 3000, e2e_to_verify_ceiling: 0.7, http_p99_ms_at_300: 25,
  recovery_ms_100k: 2000, rss_mb_max: 300,
  scale_ratio_10MB_to_10KB_min: 0.5,
};

/** Run the selected sections against a fresh nats-server child on a free loopback port. */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const dir = await mkdtemp(join(tmpdir(), 'swoosh-bench-'));
  const server = await startNatsServer({ storeDir: dir });
  const params = benchParams(o, server, dir);
  const b: BenchRun = { o, url: server.url, dir, out: {}, live: [] };
  try {
    const sizes = await runLoadedSections(b);
    await runCeilings(b, sizes);
    for (const i of b.live.splice(0)) await i.stop();
    await runStandaloneSections(b);
    b.out.ratios = ratios(b.out);
  } finally {
    for (const i of b.live) {
      await i.stop().catch((err: unknown) => {
        // Cleanup after a failed section: report it, keep the section's own error.
        o.log(`bench: stopping an instance failed: ${(err as Error).message}`);
      });
    }
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return { params, ...b.out, targets: { ...TARGETS } };
}

/** The run's parameters: machine, versions, server configuration and options. */
function benchParams(
  o: BenchOptions, server: Awaited<ReturnType<typeof startNatsServer>>, dir: string,
): Record<string, unknown> {
  const config = renderServerConfig({
    port: server.port,
    storeDir: dir,
    syncAlways: server.syncAlways,
  });
  return {
    date: new Date().toISOString(), git: gitState(), node: process.version,
    openssl: process.versions.openssl,
    cpu: cpus()[0]?.model ?? '?', cores_available: availableParallelism(),
    mem_total_mb: Math.round(totalmem() / 1_048_576),
    nats_server: server.version,
    nats_config: config.split('\n').filter((l) => l !== '' && !l.startsWith('#')).join(' '),
    decisions: o.decisions, snapshot_every: o.snapshotEvery, producers: o.producers,
    verify_seconds: o.verifySeconds,
    http_rates: o.httpRates, http_seconds: o.httpSeconds, http_clients: o.httpClients,
    recovery_entries: o.recoveryEntries, memory_decisions: o.memoryDecisions,
    memory_node_options: o.memoryNodeOptions, scale_decisions: o.scaleDecisions,
    sections: [...o.sections],
  };
}

/**
 * The sections that need a loaded WAL: the drain (end to end, valid mix), HTTP latency against
 * the drained writer, and end to end with live producers. Returns the message sizes the
 * JetStream ceiling should use.
 */
async function runLoadedSections(
  b: BenchRun,
): Promise<{ input: number; out1: number; out2: number }> {
  const { o, out, live } = b;
  // HTTP proposals are generated first: generation is synchronous, and done while an instance
  // runs in this process it would starve the instance's lease renewals.
  // Proposals from a fresh world of the same genesis (see freshProposals): valid in form and
  // signature, so the writer verifies, decides and stores each (the report gives the mix).
  let bodyAt: (i: number) => string = () => '{}';
  if (o.sections.has('http')) {
    o.log('http: generating proposals (not timed) …');
    const count = Math.min(20_000, Math.max(2000, Math.max(...o.httpRates) * o.httpSeconds * 1.4));
    const hw = makeWorkload('benchd', count, 77);
    bodyAt = freshProposals(hw.entries.flatMap((e) => (e.json === null ? [] : [e.json])));
  }
  let sizes = { input: 700, out1: 2400, out2: 1600 };
  if (o.sections.has('e2e') || o.sections.has('http')) {
    o.log(
      `end to end (valid mix): pre-loading ${o.decisions} entries ` +
        'with a closed-loop producer …',
    );
    const d = await runDrain(b.url, 'benchd', o.decisions, o.snapshotEvery, o.log);
    live.push(d.inst);
    out.drain = d.drain;
    sizes = { input: d.drain.sizes.wal, out1: d.drain.sizes.dr, out2: d.drain.sizes.transition };
    if (o.sections.has('http')) {
      o.log('http: latency at fixed rates …');
      out.http = await httpLatency(d.inst, bodyAt, o.httpRates, o.httpSeconds, o.httpClients, 5000);
    }
  }
  if (o.sections.has('e2e')) {
    for (const i of live.splice(0)) await i.stop();
    o.log(`end to end (live producers): generating ${o.decisions} signed entries (not timed) …`);
    const w = makeWorkload('bench', o.decisions);
    o.log(
      `  ${w.entries.length} entries (${w.proposals} proposals, ${w.facts} facts) ` +
        `in ${w.generate_seconds} s; publishing …`,
    );
    const r = await runE2e(b.url, 'bench', w, o.producers, o.snapshotEvery);
    await r.inst.stop();
    out.e2e = r.e2e;
  }
  return sizes;
}

/** Ed25519 verify on all cores and the raw JetStream pipeline. */
async function runCeilings(
  b: BenchRun, sizes: { input: number; out1: number; out2: number },
): Promise<void> {
  const { o, out } = b;
  if (!o.sections.has('ceilings')) return;
  o.log('ceilings: Ed25519 verify on all cores …');
  out.verify = await verifyCeiling(o.verifySeconds);
  o.log('ceilings: raw JetStream pipeline …');
  out.jetstream = await jetstreamCeiling(b.url, Math.min(o.decisions, 20_000), sizes, 256);
}

/** Recovery, scale and memory: each builds its own WAL. */
async function runStandaloneSections(b: BenchRun): Promise<void> {
  const { o, out, url, dir } = b;
  if (o.sections.has('recovery')) {
    o.log(`recovery: building a ${o.recoveryEntries}-entry WAL ` +
      `(snapshot every ${o.snapshotEvery}) …`);
    out.recovery = await runRecoveryAtSize(
      url, 'benchr', o.recoveryEntries, o.snapshotEvery, dir, o.log);
  }
  if (o.sections.has('scale')) {
    o.log(`scale: ${o.scaleDecisions} decisions with ~10 KB, then ~10 MB of state …`);
    out.scale = await runScale(url, 'benchs', o.scaleDecisions, o.snapshotEvery, o.log);
  }
  if (o.sections.has('memory')) {
    o.log(`memory: the writer alone in a child process, ${o.memoryDecisions} decisions …`);
    out.memory = await runMemory(url, 'benchm', o.memoryDecisions, o.snapshotEvery, dir, o.log, {
      nodeOptions: o.memoryNodeOptions,
    });
  }
}

/** Measured rates as fractions of the ceilings. */
function ratios(out: MutableReport): Record<string, number> {
  const r: Record<string, number> = {};
  const rates = [
    ['drain', out.drain?.decisions_per_s],
    ['live', out.e2e?.decisions_per_s],
  ] as const;
  for (const [name, rate] of rates) {
    if (rate === undefined) continue;
    const { verify, jetstream } = out;
    if (verify !== undefined) {
      r[`${name}_to_verify_ceiling`] = +(rate / verify.verifies_per_s).toFixed(3);
    }
    if (jetstream !== undefined) {
      r[`${name}_to_jetstream_ceiling`] = +(rate / jetstream.messages_per_s).toFixed(3);
    }
    if (verify !== undefined && jetstream !== undefined) {
      const lower = Math.min(verify.verifies_per_s, jetstream.messages_per_s);
      r[`${name}_to_lower_ceiling`] = +(rate / lower).toFixed(3);
    }
  }
  return r;
}

/** The report as terminal text. */
export function formatReport(r: BenchReport): string {
  const L: string[] = [];
  const p = r.params;
  L.push(
    `swoosh bench — node ${String(p['node'])}, ${String(p['cores_available'])} cores ` +
    `(${String(p['cpu'])}), nats-server ${String(p['nats_server'])} [${String(p['nats_config'])}]`,
  );
  const row = (a: string, b: string, c = ''): void => {
    L.push(`  ${a.padEnd(44)} ${b.padStart(14)}  ${c}`);
  };
  if (
    r.verify !== undefined ||
    r.jetstream !== undefined ||
    r.e2e !== undefined ||
    r.drain !== undefined
  ) {
    L.push('', 'throughput (same run)');
    if (r.verify !== undefined) {
      row(
        `ceiling: Ed25519 verify, ${r.verify.threads} worker threads`,
        `${r.verify.verifies_per_s}/s`,
        `per thread ${r.verify.per_thread.join(', ')}`,
      );
    }
    if (r.jetstream !== undefined) {
      row(
        'ceiling: raw JetStream consume→2 fenced pub→ack',
        `${r.jetstream.messages_per_s}/s`,
        `${r.jetstream.messages} msgs, ` +
        `${r.jetstream.sizes.input}/${r.jetstream.sizes.out1}/${r.jetstream.sizes.out2} B, batch ` +
        `${r.jetstream.batch}`,
      );
    }
    if (r.drain !== undefined) {
      row(
        'end to end, valid mix: WAL → writer → records',
        `${r.drain.decisions_per_s}/s`,
        `${r.drain.decisions} decisions in ${r.drain.seconds} s from the lease ` +
        `(${r.drain.with_start_seconds} s from start)`,
      );
      row(
        '  outcomes',
        '',
        Object.entries(r.drain.outcomes)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      );
    }
    if (r.e2e !== undefined) {
      row(
        'end to end, live producers (mostly stale)',
        `${r.e2e.decisions_per_s}/s`,
        `${r.e2e.decisions} decisions in ${r.e2e.seconds} s (publishing took ` +
        `${r.e2e.publish_seconds} s, ${r.e2e.producers} producer)`,
      );
      row(
        '  outcomes',
        '',
        Object.entries(r.e2e.outcomes)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      );
    }
    for (const [k, v] of Object.entries(r.ratios ?? {})) row(`  ratio ${k}`, v.toFixed(3));
  }
  if (r.http !== undefined) {
    L.push(
      '',
      `POST /transition latency, open loop (${String(p['http_clients'])} keep-alive clients, ` +
      `${String(p['http_seconds'])} s per rate)`,
    );
    row('rate', 'p50/p95/p99 ms', 'max, statuses, errors, timeouts');
    for (const h of r.http) {
      row(
        `${h.rate}/s (${h.sent} sent)`,
        `${h.p50_ms}/${h.p95_ms}/${h.p99_ms}`,
        `max ${h.max_ms}; ${Object.entries(h.statuses)
          .map(([k, v]) => `${k}×${v}`)
          .join(' ')}; errors ${h.errors}; timeouts ${h.timeouts}`,
      );
    }
  }
  if (r.recovery !== undefined) formatRecovery(L, r.recovery, row);
  if (r.scale !== undefined) formatScale(L, r.scale, row);
  if (r.memory !== undefined) formatMemory(L, r.memory, row);
  return `${L.join('\n')}\n`;
}

type Row = (a: string, b: string, c?: string) => void;
const n = (x: number): string => x.toLocaleString('en-US');
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(bytes < 1e6 ? 3 : 1)} MB`;

/** "met" / "missed by …" against an upper-bound target. */
export function verdictMax(value: number, target: number, unit: string): string {
  return value <= target
    ? 'met'
    : `missed by ${n(Math.round(value - target))} ${unit} (${(value / target).toFixed(2)}×)`;
}

function formatRecovery(L: string[], x: RecoveryResult, row: Row): void {
  const at100k = x.wal_entries >= 100_000;
  L.push(
    '',
    `recovery (WAL ${n(x.wal_entries)} entries: walk ${x.build.walk_entries}, ` +
    `${n(x.build.approvals)} approvals, ${x.build.beat_facts} beat facts; snapshot every ` +
    `${n(x.snapshot_every)})`,
  );
  row(
    'built: decided while published',
    `${n(x.build.decisions_per_s)}/s`,
    `${x.build.seconds} s, ${x.build.snapshots} snapshots; state at the end ` +
    `${mb(x.build.state_bytes)} (${n(x.build.idem_entries)} idem entries)`,
  );
  const target = at100k
    ? `target ≤ 2,000 ms: ${verdictMax(x.in_process.to_writer_ms, 2000, 'ms')}`
    : 'target ≤ 2,000 ms is at 100,000 entries';
  row('in process: new Instance → serving as writer', `${n(x.in_process.to_writer_ms)} ms`, target);
  row(
    '  of which Instance.start() (connect, recover)',
    `${n(x.in_process.start_ms)} ms`,
    `snapshot at seq ${n(x.in_process.snapshot_seq)}, ${n(x.in_process.replayed)} entries ` +
    `replayed; recovery on taking the lease ${x.in_process.last_recovery_ms} ms`,
  );
  if (x.child !== null) {
    row(
      'child process: spawn → ready → writer',
      `${n(x.child.to_ready_ms)}/${n(x.child.to_writer_ms)} ms`,
      'node start-up and TypeScript loading (tsx) included',
    );
  }
  row(
    `audit: ${x.audit.scope} replay from genesis`,
    `${n(x.audit.entries_per_s)}/s`,
    `${n(x.audit.entries)} entries in ${(x.audit.ms / 1000).toFixed(1)} s, ` +
    `${x.audit.ok ? 'ok' : 'PROBLEMS'}`,
  );
}

function formatScale(L: string[], x: ScaleResult, row: Row): void {
  L.push(
    '',
    `state size (same workload each: walk, then approvals pre-loaded, drained by a writer; ` +
    `snapshot every ${n(x.snapshot_every)})`,
  );
  for (const r of x.rows) {
    row(
      `${r.label}: ${mb(r.genesis_state_bytes)} at genesis → ${mb(r.end_state_bytes)}`,
      `${n(r.decisions_per_s)}/s`,
      `${n(r.decisions)} decisions in ${r.seconds} s; ${r.snapshots} ` +
      `snapshot${r.snapshots === 1 ? '' : 's'} of ${mb(r.snapshot_bytes)} ` +
      `(${r.snapshot_encoding}; one write ${r.snapshot_write_ms} ms, load ${r.snapshot_load_ms} ` +
      `ms; ~${Math.round(r.snapshot_share * 100)} % of the drain)`,
    );
  }
  row(
    'ratio 10MB / 10KB',
    x.ratio.toFixed(3),
    `target ≥ 0.5: ${x.ratio >= 0.5 ? 'met' : 'missed'}`,
  );
}

function formatMemory(L: string[], m: MemoryResult, row: Row): void {
  const flags = m.node_options === '' ? '' : `, NODE_OPTIONS ${m.node_options}`;
  L.push(
    '',
    `memory: the writer alone in a child process (${n(m.decisions)} decisions: ` +
    `${n(m.approvals)} approvals with distinct idem keys, idem_max ${n(m.idem_max)}; snapshot ` +
    `every ${n(m.snapshot_every)}${flags})`,
  );
  row(
    'RSS first / peak / last',
    `${m.rss_mb_first}/${m.rss_mb_peak}/${m.rss_mb_last} MB`,
    `VmHWM ${m.rss_mb_hwm} MB; target ≤ 300 MB: ` +
    `${verdictMax(Math.max(m.rss_mb_peak, m.rss_mb_hwm), 300, 'MB')}`,
  );
  row(
    'RSS slope over the second half',
    `${m.slope_mb_per_100k_second_half} MB`,
    'per 100,000 decisions (about 0: flat)',
  );
  row(
    'rate while fed',
    `${n(m.decisions_per_s)}/s`,
    `${m.seconds} s, ${m.samples} samples every ${m.sample_every_ms} ms`,
  );
  if (m.approvals < m.idem_max) {
    L.push(
      `  (the idempotency memory fills at ${n(m.idem_max)} accepted proposals: at this size it ` +
      `is still growing, so the slope includes its growth)`,
    );
  }
}
