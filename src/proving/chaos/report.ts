/** Human outputs of a chaos run: the one-page summary, the SVG timeline, the reproduce line. */
import { CHAOS, DISRUPTIVE_KINDS } from '../sim/stream.js';
import {
  CHAOS_PROJECTS_DEFAULT,
  CHAOS_WRITERS_DEFAULT,
  LICENSE_GRACE_MS_DEFAULT,
  processFaultsFor,
  type ChaosOptions,
  type ChaosReport,
} from './types.js';
import { INSTANCE_DEFAULTS } from '../../server/process/instance.js';

/**
 * The rates `--stream-rates` takes: the basic faults, the `disrupt` shorthand, the named disruptive
 * kinds.
 */
export const RATE_KEYS = [
  'dup',
  'reorder',
  'drop',
  'stale',
  'badsig',
  'stranger',
  'skew',
  'resubmit',
  'disrupt',
  ...DISRUPTIVE_KINDS,
] as const;
export type RateKey = (typeof RATE_KEYS)[number];

/** `swoosh chaos --seed <n> …`: every option that shapes the run and differs from the defaults. */
export function reproduceLine(o: ChaosOptions): string {
  const parts = [
    `swoosh chaos --seed ${o.seed} --transitions ${o.transitions} --replicas ${o.replicas}`,
  ];
  if (o.cluster) parts.push('--cluster');
  parts.push(`--faults ${o.faultCount}`, `--rate ${o.ratePerSec}`);
  const all = processFaultsFor(o.cluster);
  if (o.processFaults.length !== all.length) {
    const off = all.filter((k) => !o.processFaults.includes(k));
    parts.push(`--disable ${off.join(',')}`);
  }
  const rates = RATE_KEYS.filter(
    (k) => o.rates[k] !== (k in CHAOS ? CHAOS[k as keyof typeof CHAOS] : undefined),
  ).map((k) => `${k}=${String(o.rates[k])}`);
  if (rates.length > 0) parts.push(`--stream-rates ${rates.join(',')}`);
  if (o.leaseTtlMs !== 1500) parts.push(`--lease-ttl-ms ${o.leaseTtlMs}`);
  if (o.snapshotEvery !== 50) parts.push(`--snapshot-every ${o.snapshotEvery}`);
  if (o.licenseGraceMs !== LICENSE_GRACE_MS_DEFAULT) {
    parts.push(`--license-grace-ms ${o.licenseGraceMs}`);
  }
  if (o.projects !== CHAOS_PROJECTS_DEFAULT) parts.push(`--projects ${o.projects}`);
  if (o.writers !== CHAOS_WRITERS_DEFAULT) parts.push(`--writers ${o.writers}`);
  if (o.decide !== INSTANCE_DEFAULTS.decide) parts.push(`--decide ${o.decide}`);
  if (o.residentProjects !== INSTANCE_DEFAULTS.residentProjects) {
    parts.push(`--resident-projects ${o.residentProjects}`);
  }
  return parts.join(' ');
}

const fmtMs = (ms: number | null): string =>
  ms === null ? 'n/a' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
const table = (r: Readonly<Record<string, number>>): string =>
  Object.entries(r).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || '(none)';

/** The one-page summary. */
export function renderSummary(r: ChaosReport): string {
  const L: string[] = [];
  // Reports written before the writers mode existed have none: one writer.
  const writers = (r.options as { writers?: string }).writers ?? CHAOS_WRITERS_DEFAULT;
  L.push(`SWOOSH chaos — seed ${r.seed} — writers ${writers} — ${r.ok ? 'PASSED' : 'FAILED'}`);
  const c = r.nats_cluster;
  if (c === null) {
    L.push(
      `${r.instances.length} processes (${r.instances.join(', ')}), nats-server ` +
      `${r.nats_server.version} at ${r.nats_server.url}`,
    );
  } else {
    L.push(
      `${r.instances.length} processes (${r.instances.join(', ')}), nats-server ` +
      `${r.nats_server.version} cluster ${c.name} of ${c.nodes.length} nodes, streams ` +
      `R${c.stream_replicas}:`,
    );
    for (const n of c.nodes) {
      L.push(
        `  ${n.name} ${n.url} (routes 127.0.0.1:${n.route_port}, server_name ${n.server_name})`,
      );
    }
  }
  L.push(
    `duration ${fmtMs(r.duration_ms)}; ${r.wal_entries} WAL entries (${r.overrun_entries} past ` +
    `--transitions while faults ran, ${r.options.probeEntries} probe); ` +
      `${r.applied_transitions} transitions applied; ${r.publish_retries} publish retries`,
  );
  L.push('');
  L.push(`process faults: ${table(r.process_faults_by_kind)}`);
  L.push(`stream faults: ${table(r.stream_faults_by_kind)}`);
  L.push(
    `stream fault rates: ${Object.entries(r.stream_rates)
      .map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`)
      .join(', ')}`,
  );
  L.push(`decisions by outcome: ${table(r.decisions_by_outcome)}`);
  L.push(`rejections by code: ${table(r.rejections_by_code)}`);
  L.push(
    `facts by kind (licence, policy, mcp, capacity, backbeat, tick): ${table(r.facts_by_kind)}`,
  );
  L.push(`automatic transitions: ${table(r.automatic_transitions)}`);
  L.push(`records by chain: ${table(r.records_by_chain)}`);
  L.push(
    `records by writer: ${table(r.records_by_writer ?? {})}` + (writers === 'buckets'
      ? `; at most ${r.writers_at_once_max} members seen holding leases at once`
      : ''),
  );
  const b = r.backbeat;
  L.push(
    `backbeat: ${b.frames} frames, ${b.tempo_changes} tempo changes, ${b.beat_gaps} gaps ` +
      `(${b.beats_skipped} beats missed); ` +
      `${b.windowed_accepted} windowed proposals accepted (each checked against the log's ` +
      `frames); rejected outside a window: ${table(b.window_rejections)}`,
  );
  L.push('');
  L.push('faults and recoveries:');
  for (const f of r.faults) {
    L.push(
      `  t+${fmtMs(f.t_ms)}  ${f.kind.padEnd(17)} ${f.target.padEnd(12)} ` +
      `${f.skipped ? 'skipped' : `recovered in ${fmtMs(f.recovery_ms)}`}  (${f.detail})`,
    );
  }
  if (r.faults.length === 0) L.push('  (none)');
  const fo = r.failovers.map((f) => f.recovery_ms).filter((x): x is number => x !== null);
  if (fo.length > 0) {
    L.push(
      `failovers: ${fo.length}, max ${fmtMs(Math.max(...fo))}, mean ` +
      `${fmtMs(Math.round(fo.reduce((a, b) => a + b, 0) / fo.length))}`,
    );
  }
  L.push('');
  const converged = r.converged
    ? `yes, ${fmtMs(r.time_to_converge_ms)} after the last fault was injected`
    : 'NO';
  L.push(
    `converged: ${converged}; liveness probe (${r.options.probeEntries} entries) decided by ` +
      `every replica in ${fmtMs(r.liveness_probe_ms)} ` +
      `(publishing took ${fmtMs(r.liveness_probe_publish_ms)})`,
  );
  L.push(`checks evaluated: ${table(r.checks)}`);
  for (const [name, h] of Object.entries(r.held_projects)) {
    L.push(`held chains, ${name} (since its last start): taken up ${h.taken_up}, evicted ` +
      `${h.evicted}, loaded ${h.loaded}, load failed ${h.load_failed}; at the end ${h.resident} ` +
      `documents in memory, ${h.cold} cold`);
  }
  L.push(`startup failures (restarted): ${r.startup_failures.length}`);
  for (const f of r.startup_failures.slice(0, 10)) {
    L.push(`  t+${fmtMs(f.t_ms)} ${f.name} attempt ${f.attempt}: ${f.detail.slice(0, 200)}`);
  }
  L.push(`divergences: ${r.divergences.length}`);
  L.push(`violations: ${r.violations.length}`);
  for (const v of r.violations.slice(0, 20)) {
    L.push(`  ${v.kind}${v.seq === null ? '' : ` @${v.seq}`}: ${v.detail}`);
  }
  L.push(`final state ${r.final_state_hash}`);
  L.push('');
  L.push(`reproduce with: ${r.reproduce}`);
  return `${L.join('\n')}\n`;
}

const COLORS: Record<string, string> = {
  writer_kill: '#d62728',
  follower_kill: '#ff7f0e',
  writer_stop: '#9467bd',
  nats_restart: '#8c564b',
  nats_node_restart: '#7f7f7f',
  snapshot_corrupt: '#e377c2',
  snapshot_rollback: '#17becf',
};

/** Throughput and lag over time, with a vertical mark per fault. */
export function renderSvg(r: ChaosReport): string {
  const W = 900;
  const H = 360;
  const pad = { l: 50, r: 60, t: 30, b: 60 };
  const pts = r.timeline;
  const tMax = Math.max(1, ...pts.map((p) => p.t_ms), ...r.fault_marks.map((f) => f.t_ms));
  const tpMax = Math.max(1, ...pts.map((p) => p.throughput));
  const lagMax = Math.max(1, ...pts.map((p) => p.lag));
  const x = (ms: number): number => pad.l + ((W - pad.l - pad.r) * ms) / tMax;
  const y = (v: number, max: number): number => H - pad.b - ((H - pad.t - pad.b) * v) / max;
  const line = (f: (p: (typeof pts)[number]) => number, max: number): string =>
    pts.map((p) => `${x(p.t_ms).toFixed(1)},${y(f(p), max).toFixed(1)}`).join(' ');
  const marks = r.fault_marks.map(
    (f) =>
      `<line x1="${x(f.t_ms).toFixed(1)}" x2="${x(f.t_ms).toFixed(1)}" y1="${pad.t}" ` +
      `y2="${H - pad.b}" stroke="${COLORS[f.kind] ?? '#000'}" ` +
      `stroke-dasharray="4 3"><title>${f.kind} at ${f.t_ms} ms</title></line>`,
  );
  const legend = Object.entries(COLORS).map(([k, c], i) =>
    `<text x="${pad.l + i * 120}" y="${H - 15}" fill="${c}" font-size="11">┆ ${k}</text>`);
  const svgOpen =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`;
  const title =
    `swoosh chaos seed ${r.seed}: throughput (blue, decisions/s, max ${tpMax.toFixed(0)}) ` +
    `and WAL lag (green, entries, max ${lagMax}); faults dashed`;
  const tEnd = `${(tMax / 1000).toFixed(0)} s`;
  const end = `x="${W - pad.r}" y="${H - pad.b + 15}" font-size="11" text-anchor="end"`;
  const tpLabel =
    `x="${pad.l - 5}" y="${pad.t + 10}" font-size="11" text-anchor="end" fill="#1f77b4"`;
  const tpPoints = line((p) => p.throughput, tpMax);
  return `${svgOpen}
<rect width="100%" height="100%" fill="#fff"/>
<text x="${pad.l}" y="18" font-size="13">${title}</text>
<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#999"/>
<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#999"/>
<text ${end}>${tEnd}</text>
<text ${tpLabel}>${tpMax.toFixed(0)}</text>
<text x="${W - pad.r + 5}" y="${pad.t + 10}" font-size="11" fill="#2ca02c">${lagMax}</text>
${marks.join('\n')}
<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${tpPoints}"/>
<polyline fill="none" stroke="#2ca02c" stroke-width="1.5" points="${line((p) => p.lag, lagMax)}"/>
${legend.join('\n')}
</svg>
`;
}
