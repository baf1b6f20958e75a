/**
 * Recovery at size: build a WAL of `entries` entries (the walk to EXECUTION.REVIEW closed loop,
 * then approvals generated and published pipelined, decided by an in-process writer that
 * snapshots every `snapshotEvery`), stop that writer, then time
 *   - a fresh Instance in this process from construction to role "writer" (it loads the newest
 *     snapshot and replays what follows it; becoming the writer recovers a second time), and
 *   - a fresh instance child process from spawn to role "writer" (node start-up and module
 *     loading included), and
 *   - the audit: a full replay of the WAL from genesis (verify, step, compare every record).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Genesis } from '../../core/index.js';
import { audit } from '../../server/replication/audit.js';
import type { Instance } from '../../server/process/instance.js';
import { castGenesis, parseFixtureGenesis } from '../sim/world.js';
import { startChildWriter, stopChild, writeChildFiles } from './child.js';
import { benchConnection, startWriter } from './e2e.js';
import { approvalStream, publishStream, waitDecided, walkToReview } from './workload.js';

/** What the recovery section reports. */
export interface RecoveryResult {
  readonly wal_entries: number;
  readonly snapshot_every: number;
  /** How the WAL was built. */
  readonly build: {
    readonly walk_entries: number;
    readonly approvals: number;
    readonly beat_facts: number;
    readonly seconds: number;
    readonly decisions_per_s: number;
    readonly snapshots: number;
    readonly state_bytes: number;
    readonly idem_entries: number;
  };
  /** A fresh Instance in this process. */
  readonly in_process: {
    readonly start_ms: number;
    readonly to_writer_ms: number;
    readonly snapshot_seq: number;
    readonly replayed: number;
    /**
     * The last recovery's own duration (the one on taking the lease), from the instance's metric.
     */
    readonly last_recovery_ms: number;
  };
  /** A fresh instance child process (spawn → ready → writer); null when not run. */
  readonly child: { readonly to_ready_ms: number; readonly to_writer_ms: number } | null;
  /** The audit from genesis over the whole WAL. */
  readonly audit: {
    readonly scope: 'full';
    readonly entries: number;
    readonly ms: number;
    readonly entries_per_s: number;
    readonly ok: boolean;
    readonly outcomes: Readonly<Record<string, number>>;
  };
}

async function lastSeq(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.last_seq;
}

/** Throws when an in-process instance has stopped (its role loop failed). */
export function writerAlive(inst: Instance): void {
  if (inst.status().role === 'stopped') {
    throw new Error(`bench: the writer ${inst.status().name} stopped (see its log on stderr)`);
  }
}

/** Value of an unlabelled (or first matching) series in Prometheus text. */
export function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Run the recovery section on a fresh prefix of the server at `url`. */
export async function runRecoveryAtSize(
  url: string,
  prefix: string,
  entries: number,
  snapshotEvery: number,
  tmp: string,
  log: (m: string) => void,
): Promise<RecoveryResult> {
  const raw = castGenesis();
  const genesis: Genesis = parseFixtureGenesis(raw);
  const { nc, js, jsm, s } = await benchConnection(url, prefix);
  try {
    // Build: walk, then approvals published while the writer decides (flow-controlled).
    const tb = performance.now();
    const walked = await walkToReview(js, jsm, prefix, s.walName, raw);
    const w = await startWriter(url, prefix, genesis, 'rec-build', snapshotEvery);
    const counts = { proposals: 0, facts: 0 };
    const decided = async (): Promise<number> => {
      writerAlive(w.inst);
      return lastSeq(jsm, s.decisionsName);
    };
    const rest = Math.max(0, entries - walked.entries);
    log(
      `  walked to EXECUTION.REVIEW in ${walked.entries} entries; publishing ${rest} more while ` +
      `a writer decides …`,
    );
    let stopped = false;
    try {
      await publishStream(js, approvalStream(walked, rest, { prefix, counts }), {
        maxAhead: 20_000,
        decided,
        progressEvery: 10_000,
        onProgress: (n) => {
          void decided().then(
            (d) =>
              log(
                `  recovery WAL: published ${walked.entries + n} / ${entries}, decided ${d} ` +
                `(${((performance.now() - tb) / 1000).toFixed(0)} s)`,
              ),
            (err: unknown) => {
              // A progress line is not worth failing the run over.
              void err;
            },
          );
        },
      });
      const walLast = await lastSeq(jsm, s.walName);
      await waitDecided(walLast, {
        decided,
        log: (d) => log(`  recovery WAL: decided ${d} / ${walLast}`),
      });
      const buildSeconds = (performance.now() - tb) / 1000;
      const metrics = await w.inst.metrics.metricsText();
      const state = w.inst.currentState();
      const build = {
        walk_entries: walked.entries,
        approvals: counts.proposals,
        beat_facts: counts.facts,
        seconds: +buildSeconds.toFixed(1),
        decisions_per_s: Math.round(walLast / buildSeconds),
        snapshots: metricValue(metrics, 'swoosh_snapshots_total{result="ok"}'),
        state_bytes: state === null ? 0 : JSON.stringify(state).length,
        idem_entries: state?.idem.count ?? 0,
      };
      await w.inst.stop();
      stopped = true;
      log(
        `  built ${walLast} entries in ${build.seconds} s (${build.snapshots} snapshots, state ` +
        `${(build.state_bytes / 1e6).toFixed(1)} MB); restarting in process …`,
      );

      // A fresh Instance in this process: construction → role writer.
      const r = await startWriter(url, prefix, genesis, 'rec-restart', snapshotEvery);
      let inProcess: RecoveryResult['in_process'];
      try {
        const st = r.inst.status();
        inProcess = {
          start_ms: Math.round(r.startMs),
          to_writer_ms: Math.round(r.writerMs),
          snapshot_seq: st.last_snapshot_seq,
          replayed: walLast - st.last_snapshot_seq,
          last_recovery_ms: Math.round(
            metricValue(await r.inst.metrics.metricsText(), 'swoosh_recovery_time_seconds') * 1000,
          ),
        };
      } finally {
        await r.inst.stop();
      }
      log(
        `  in process: ${inProcess.to_writer_ms} ms to writer (snapshot at ` +
        `${inProcess.snapshot_seq}, ${inProcess.replayed} replayed); restarting as a child ` +
        `process …`,
      );

      // A fresh child process: spawn → ready → role writer.
      const files = await writeChildFiles(tmp, `${prefix}-rec`, raw);
      const c = await startChildWriter(nc, {
        natsUrl: url,
        prefix,
        name: 'rec-child',
        files,
        env: { SWOOSH_SNAPSHOT_EVERY: String(snapshotEvery) },
      });
      const code = await stopChild(c.proc);
      if (code !== 0) {
        log(
          `  child process exited with ${String(code)} on ` +
          `SIGTERM:\n${c.proc.output.slice(-10).join('\n')}`,
        );
      }
      const child = { to_ready_ms: Math.round(c.readyMs), to_writer_ms: Math.round(c.writerMs) };
      log(
        `  child process: ready after ${child.to_ready_ms} ms, writer after ` +
        `${child.to_writer_ms} ms; auditing from genesis …`,
      );

      // The audit: full replay from genesis.
      let shown = 0;
      const rep = await audit({
        js,
        jsm,
        genesis,
        walName: s.walName,
        decisionsName: s.decisionsName,
        transitionsName: s.transitionsName,
        onProgress: (done, total) => {
          if (done !== shown && (done % 10_000 === 0 || done === total)) {
            log(`  audit: ${done} / ${total}`);
          }
          shown = done;
        },
      });
      return {
        wal_entries: walLast,
        snapshot_every: snapshotEvery,
        build,
        in_process: inProcess,
        child,
        audit: {
          scope: 'full',
          entries: rep.wal_entries,
          ms: rep.millis,
          entries_per_s: Math.round(rep.wal_entries / (rep.millis / 1000)),
          ok: rep.ok,
          outcomes: rep.outcomes,
        },
      };
    } finally {
      if (!stopped) await w.inst.stop();
    }
  } finally {
    await nc.close();
  }
}
