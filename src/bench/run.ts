/**
 * `swoosh bench`: the ceilings and the system measured side by side in one run, as ratios,
 * because the machine is noisy. Sections: ceilings (raw JetStream pipeline, Ed25519 verify on
 * all cores), e2e (NATS producers → writer → stored decision records), recovery (restart on the
 * e2e WAL; audit full replay), http (POST /transition latency at fixed rates), memory (RSS
 * samples over the e2e run). Figures, not assertions.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { jcs } from '../core/json.js';
import { DOMAIN } from '../crypto/domains.js';
import { createNodeSigner } from '../crypto/node-sign.js';
import { formatHlc } from '../core/hlc.js';
import { CAST } from '../sim/world.js';
import { renderServerConfig, startNatsServer } from '../runtime/nats-server.js';
import type { Instance } from '../runtime/instance.js';
import { jetstreamCeiling, verifyCeiling, type PipelineCeiling, type VerifyCeiling } from './ceilings.js';
import { makeWorkload, runDrain, runE2e, runRecovery, type DrainResult, type E2eResult, type RecoveryResult } from './e2e.js';
import { httpLatency, type HttpRate } from './http.js';

/** Sections a run can include. */
export const SECTIONS = ['ceilings', 'e2e', 'recovery', 'http', 'memory'] as const;
export type Section = (typeof SECTIONS)[number];

/** Parameters of one run. */
export interface BenchOptions {
  readonly sections: ReadonlySet<Section>;
  /** Decisions in the end-to-end run (its WAL is the recovery WAL). */
  readonly decisions: number;
  readonly snapshotEvery: number;
  readonly verifySeconds: number;
  readonly producers: number;
  readonly httpRates: readonly number[];
  readonly httpSeconds: number;
  readonly httpClients: number;
  readonly log: (msg: string) => void;
}

/** Quick (`npm run bench`) and full defaults. */
export const QUICK: Omit<BenchOptions, 'sections' | 'log'> = {
  decisions: 5_000, snapshotEvery: 1000, verifySeconds: 1, producers: 1, httpRates: [100, 300], httpSeconds: 3, httpClients: 32,
};
export const FULL: Omit<BenchOptions, 'sections' | 'log'> = {
  decisions: 20_000, snapshotEvery: 1000, verifySeconds: 3, producers: 1, httpRates: [100, 300, 1000], httpSeconds: 10, httpClients: 64,
};

/**
 * Proposal bodies for POST /transition, re-stamped and re-signed (node:crypto, ~50 µs) at send
 * time: a unique idem key and an HLC of now, so none is a duplicate or an HLC regression; they
 * name hashes of the generating world, which the log has moved past (stale or wrong phase).
 */
function freshProposals(bodies: readonly string[]): (i: number) => string {
  const signers = new Map(Object.values(CAST).map((a) => [a.signer, createNodeSigner(a.secretKey)]));
  const parsed = bodies.map((text) => {
    const { signature: _old, ...body } = JSON.parse(text) as Record<string, unknown>;
    return body;
  });
  const run = Date.now().toString(36);
  return (i) => {
    const body = parsed[i % parsed.length] ?? {};
    const signer = signers.get(String(body['signer']));
    const fresh = { ...body, idem_key: `bench:${run}:${i}`, hlc: formatHlc({ ms: Date.now(), logical: i % 60_000 }) };
    return jcs({ ...fresh, signature: signer?.signObject(DOMAIN.proposal, fresh) ?? '' });
  };
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
  readonly memory?: { decisions: number; rss_mb_first: number; rss_mb_peak: number; rss_mb_last: number; samples: number; heap_after_mb: number };
  readonly targets: Record<string, number>;
}

/** Run the selected sections against a fresh nats-server child on a free loopback port. */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const dir = await mkdtemp(join(tmpdir(), 'swoosh-bench-'));
  const server = await startNatsServer({ storeDir: dir });
  const prefix = 'bench';
  const params: Record<string, unknown> = {
    date: new Date().toISOString(), node: process.version, openssl: process.versions.openssl,
    cpu: cpus()[0]?.model ?? '?', cores_available: availableParallelism(), mem_total_mb: Math.round(totalmem() / 1_048_576),
    nats_server: server.version, nats_config: renderServerConfig({ port: server.port, storeDir: dir, syncAlways: server.syncAlways }).split('\n').filter((l) => l !== '' && !l.startsWith('#')).join(' '),
    decisions: o.decisions, snapshot_every: o.snapshotEvery, producers: o.producers, verify_seconds: o.verifySeconds,
    http_rates: o.httpRates, http_seconds: o.httpSeconds, http_clients: o.httpClients, sections: [...o.sections],
  };
  const out: { -readonly [K in keyof BenchReport]?: BenchReport[K] } = {};
  const live: Instance[] = [];
  try {
    // HTTP proposals are generated first: generation is synchronous, and done while an instance
    // runs in this process it would starve the instance's lease renewals.
    // Proposals from a fresh world of the same genesis (see freshProposals): valid in form and
    // signature, so the writer verifies, decides and stores each (the report gives the mix).
    let bodyAt: (i: number) => string = () => '{}';
    if (o.sections.has('http')) {
      o.log('http: generating proposals (not timed) …');
      const hw = makeWorkload('benchd', Math.min(20_000, Math.max(2000, Math.max(...o.httpRates) * o.httpSeconds * 1.4)), 77);
      bodyAt = freshProposals(hw.entries.flatMap((e) => (e.json === null ? [] : [e.json])));
    }
    let sizes = { input: 700, out1: 2400, out2: 1600 };
    if (o.sections.has('e2e') || o.sections.has('recovery') || o.sections.has('memory') || o.sections.has('http')) {
      o.log(`end to end (valid mix): pre-loading ${o.decisions} entries with a closed-loop producer …`);
      const d = await runDrain(server.url, 'benchd', o.decisions, o.snapshotEvery, o.log);
      live.push(d.inst);
      out.drain = d.drain;
      sizes = { input: d.drain.sizes.wal, out1: d.drain.sizes.dr, out2: d.drain.sizes.transition };
      if (o.sections.has('memory')) {
        const s = d.drain.rss.samples_mb;
        out.memory = { decisions: d.drain.decisions, rss_mb_first: s[0] ?? 0, rss_mb_peak: d.drain.rss.peak_mb, rss_mb_last: s[s.length - 1] ?? 0, samples: s.length, heap_after_mb: d.drain.heap_after_mb };
      }
      if (o.sections.has('recovery') || o.sections.has('http')) {
        o.log('recovery: restarting on that WAL …');
        const rec = await runRecovery(server.url, 'benchd', d.genesis, d.inst, d.drain.decisions, o.snapshotEvery, d.report);
        live.length = 0;
        live.push(rec.inst);
        if (o.sections.has('recovery')) out.recovery = rec.result;
        if (o.sections.has('http')) {
          o.log('http: latency at fixed rates …');
          out.http = await httpLatency(rec.inst, bodyAt, o.httpRates, o.httpSeconds, o.httpClients, 5000);
        }
      }
    }
    if (o.sections.has('e2e')) {
      for (const i of live.splice(0)) await i.stop();
      o.log(`end to end (live producers): generating ${o.decisions} signed entries (not timed) …`);
      const w = makeWorkload(prefix, o.decisions);
      o.log(`  ${w.entries.length} entries (${w.proposals} proposals, ${w.facts} facts) in ${w.generate_seconds} s; publishing …`);
      const r = await runE2e(server.url, prefix, w, o.producers, o.snapshotEvery);
      await r.inst.stop();
      out.e2e = r.e2e;
    }
    if (o.sections.has('ceilings')) {
      o.log('ceilings: Ed25519 verify on all cores …');
      out.verify = await verifyCeiling(o.verifySeconds);
      o.log('ceilings: raw JetStream pipeline …');
      out.jetstream = await jetstreamCeiling(server.url, Math.min(o.decisions, 20_000), sizes, 256);
    }
    const r: Record<string, number> = {};
    for (const [name, rate] of [['drain', out.drain?.decisions_per_s], ['live', out.e2e?.decisions_per_s]] as const) {
      if (rate === undefined) continue;
      if (out.verify !== undefined) r[`${name}_to_verify_ceiling`] = +(rate / out.verify.verifies_per_s).toFixed(3);
      if (out.jetstream !== undefined) r[`${name}_to_jetstream_ceiling`] = +(rate / out.jetstream.messages_per_s).toFixed(3);
      if (out.verify !== undefined && out.jetstream !== undefined) {
        r[`${name}_to_lower_ceiling`] = +(rate / Math.min(out.verify.verifies_per_s, out.jetstream.messages_per_s)).toFixed(3);
      }
    }
    out.ratios = r;
  } finally {
    for (const i of live) await i.stop().catch(() => undefined);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return {
    params, ...out,
    targets: { e2e_decisions_per_s: 3000, e2e_to_verify_ceiling: 0.7, http_p99_ms_at_300: 25, recovery_ms_100k: 2000, rss_mb_max: 300 },
  };
}

/** The report as terminal text. */
export function formatReport(r: BenchReport): string {
  const L: string[] = [];
  const p = r.params;
  L.push(`swoosh bench — node ${String(p['node'])}, ${String(p['cores_available'])} cores (${String(p['cpu'])}), nats-server ${String(p['nats_server'])} [${String(p['nats_config'])}]`);
  const row = (a: string, b: string, c = ''): void => {
    L.push(`  ${a.padEnd(44)} ${b.padStart(14)}  ${c}`);
  };
  if (r.verify !== undefined || r.jetstream !== undefined || r.e2e !== undefined || r.drain !== undefined) {
    L.push('', 'throughput (same run)');
    if (r.verify !== undefined) row(`ceiling: Ed25519 verify, ${r.verify.threads} worker threads`, `${r.verify.verifies_per_s}/s`, `per thread ${r.verify.per_thread.join(', ')}`);
    if (r.jetstream !== undefined) row('ceiling: raw JetStream consume→2 fenced pub→ack', `${r.jetstream.messages_per_s}/s`, `${r.jetstream.messages} msgs, ${r.jetstream.sizes.input}/${r.jetstream.sizes.out1}/${r.jetstream.sizes.out2} B, batch ${r.jetstream.batch}`);
    if (r.drain !== undefined) {
      row('end to end, valid mix: WAL → writer → records', `${r.drain.decisions_per_s}/s`, `${r.drain.decisions} decisions in ${r.drain.seconds} s from the lease (${r.drain.with_start_seconds} s from start)`);
      row('  outcomes', '', Object.entries(r.drain.outcomes).map(([k, v]) => `${k} ${v}`).join(', '));
    }
    if (r.e2e !== undefined) {
      row('end to end, live producers (mostly stale)', `${r.e2e.decisions_per_s}/s`, `${r.e2e.decisions} decisions in ${r.e2e.seconds} s (publishing took ${r.e2e.publish_seconds} s, ${r.e2e.producers} producer)`);
      row('  outcomes', '', Object.entries(r.e2e.outcomes).map(([k, v]) => `${k} ${v}`).join(', '));
    }
    for (const [k, v] of Object.entries(r.ratios ?? {})) row(`  ratio ${k}`, v.toFixed(3));
  }
  if (r.recovery !== undefined) {
    const x = r.recovery;
    L.push('', `recovery (WAL ${x.wal_entries} entries, snapshot every ${x.snapshot_every})`);
    row('Instance.start() (connect, streams, recover)', `${x.start_ms} ms`);
    row('start → serving as writer', `${x.to_writer_ms} ms`, 'target ≤ 2,000 ms at 100,000 entries');
    row('audit: full replay from genesis', `${x.audit_entries_per_s}/s`, `${x.audit_ms} ms, ${x.audit_ok ? 'ok' : 'PROBLEMS'}`);
  }
  if (r.http !== undefined) {
    L.push('', `POST /transition latency, open loop (${String(p['http_clients'])} keep-alive clients, ${String(p['http_seconds'])} s per rate)`);
    row('rate', 'p50/p95/p99 ms', 'max, statuses, errors, timeouts');
    for (const h of r.http) {
      row(`${h.rate}/s (${h.sent} sent)`, `${h.p50_ms}/${h.p95_ms}/${h.p99_ms}`, `max ${h.max_ms}; ${Object.entries(h.statuses).map(([k, v]) => `${k}×${v}`).join(' ')}; errors ${h.errors}; timeouts ${h.timeouts}`);
    }
  }
  if (r.memory !== undefined) {
    const m = r.memory;
    L.push('', `memory while the writer decides the valid-mix WAL (${m.decisions} decisions, ${m.samples} samples every 250 ms)`);
    row('RSS first / peak / last', `${m.rss_mb_first}/${m.rss_mb_peak}/${m.rss_mb_last} MB`, `heap used after ${m.heap_after_mb} MB; target ≤ 300 MB`);
  }
  return `${L.join('\n')}\n`;
}
