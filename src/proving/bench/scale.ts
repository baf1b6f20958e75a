/**
 * Decisions per second with a small and a large state, end to end: for each genesis (the cast,
 * ~10 KB of state; the cast plus a ~10 MB identity registry), the walk to EXECUTION.REVIEW
 * closed loop, then `decisions` approvals pre-loaded into the WAL (no writer running, not
 * timed), then an in-process writer decides them all: timed from taking the lease to the last
 * decision record stored. Snapshots (every `snapshotEvery`, chunked into the KV bucket when
 * larger than a message) are part of what is timed; their number is reported, and one
 * snapshot's load and write are timed on their own afterwards.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { createCore, jcs } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { SnapshotStore } from '../../server/replication/snapshots.js';
import { benchConnection, startWriter } from './e2e.js';
import { metricValue, writerAlive } from './recovery.js';
import {
  approvalStream,
  genesisOfSize,
  publishStream,
  waitDecided,
  walkToReview,
} from './workload.js';
import { parseFixtureGenesis } from '../sim/world.js';

/** One state size's figures. */
export interface ScaleRow {
  readonly label: string;
  readonly genesis_state_bytes: number;
  readonly end_state_bytes: number;
  readonly identities: number;
  readonly decisions: number;
  readonly seconds: number;
  readonly decisions_per_s: number;
  readonly outcomes_accepted: number;
  readonly snapshots: number;
  readonly snapshot_bytes: number;
  readonly snapshot_encoding: string;
  /** One snapshot write (JSON, chunk, KV puts, head CAS, chunk GC) and one load, timed alone. */
  readonly snapshot_write_ms: number;
  readonly snapshot_load_ms: number;
  /** snapshots × write ms over the drain's seconds: the share the snapshots take, estimated. */
  readonly snapshot_share: number;
  readonly prepare_seconds: number;
}

/** What the scale section reports. */
export interface ScaleResult {
  readonly decisions: number;
  readonly snapshot_every: number;
  readonly rows: readonly ScaleRow[];
  /** Large-state rate over small-state rate. */
  readonly ratio: number;
}

async function lastSeq(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.last_seq;
}

async function oneSize(
  url: string,
  prefix: string,
  label: string,
  bytes: number,
  decisions: number,
  snapshotEvery: number,
  log: (m: string) => void,
): Promise<ScaleRow> {
  const tp = performance.now();
  const raw = genesisOfSize(bytes);
  const core = createCore(nodeHasher);
  const parsed = parseFixtureGenesis(raw, core);
  const genesisBytes = jcs(core.genesis(parsed)).length;
  const { nc, js, jsm, s } = await benchConnection(url, prefix);
  try {
    const walked = await walkToReview(js, jsm, prefix, s.walName, raw);
    const rest = Math.max(0, decisions - walked.entries);
    await publishStream(js, approvalStream(walked, rest, { prefix }), { pipeline: 256 });
    const walLast = await lastSeq(jsm, s.walName);
    const prepare = (performance.now() - tp) / 1000;
    log(
      `  ${label}: state ${(genesisBytes / 1e6).toFixed(2)} MB at genesis, ${walLast} entries ` +
      `pre-loaded in ${prepare.toFixed(1)} s; draining …`,
    );
    const t0 = performance.now();
    const w = await startWriter(url, prefix, parsed, `scale-${label}`, snapshotEvery);
    let stopped = false;
    try {
      const tw = t0 + w.writerMs;
      await waitDecided(walLast, {
        decided: () => lastSeq(jsm, s.decisionsName),
        alive: () => writerAlive(w.inst),
        pollMs: 5,
      });
      const seconds = (performance.now() - tw) / 1000;
      const metrics = await w.inst.metrics.metricsText();
      const end = w.inst.currentState();
      const accepted = end?.idem.count ?? 0;
      await w.inst.stop();
      stopped = true;
      // One snapshot's cost on its own: load the newest, write it back (same state, head CAS).
      const kv = await new Kvm(js).open(s.snapshotsBucket);
      const store = new SnapshotStore(kv, nc.info?.max_payload ?? 1_048_576, 16);
      let writeMs = 0;
      let loadMs = 0;
      let encoding = 'none';
      const rev = await store.headRevision();
      if (rev > 0) {
        const tl = performance.now();
        const snap = await store.load(rev);
        loadMs = performance.now() - tl;
        const { state, revision: _r, bytes: _b, ...meta } = snap;
        const twr = performance.now();
        encoding = (await store.write(meta, state, rev)).encoding;
        writeMs = performance.now() - twr;
      }
      const snapshots = metricValue(metrics, 'swoosh_snapshots_total{result="ok"}');
      return {
        label,
        genesis_state_bytes: genesisBytes,
        end_state_bytes: end === null ? 0 : jcs(end).length,
        identities: Object.keys(parsed.identities).length,
        decisions: walLast,
        seconds: +seconds.toFixed(3),
        decisions_per_s: Math.round(walLast / seconds),
        outcomes_accepted: accepted,
        snapshots,
        snapshot_bytes: metricValue(metrics, 'swoosh_snapshot_bytes'),
        snapshot_encoding: encoding,
        snapshot_write_ms: Math.round(writeMs),
        snapshot_load_ms: Math.round(loadMs),
        snapshot_share: +Math.min(1, (snapshots * writeMs) / 1000 / seconds).toFixed(3),
        prepare_seconds: +prepare.toFixed(1),
      };
    } finally {
      if (!stopped) await w.inst.stop();
    }
  } finally {
    await nc.close();
  }
}

/** Run the scale section: ~10 KB then ~10 MB of state, the same workload. */
export async function runScale(
  url: string,
  prefix: string,
  decisions: number,
  snapshotEvery: number,
  log: (m: string) => void,
): Promise<ScaleResult> {
  const small = await oneSize(url, `${prefix}k`, '10KB', 10_000, decisions, snapshotEvery, log);
  log('  generating the 10 MB identity registry (not timed) …');
  const large = await oneSize(url, `${prefix}m`, '10MB', 10_000_000, decisions, snapshotEvery, log);
  return {
    decisions,
    snapshot_every: snapshotEvery,
    rows: [small, large],
    ratio: +(large.decisions_per_s / Math.max(1, small.decisions_per_s)).toFixed(3),
  };
}
