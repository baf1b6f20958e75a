/**
 * The load: a seeded closed-loop producer publishing signed proposals and facts (with stream
 * faults at seeded rates), the process-fault injector running beside it, and after the faults
 * stop the convergence wait and the liveness probe.
 */
import type { WalEntry } from '../../core/index.js';
import { encodeEnvelope, msgIdOf } from '../../protocol/envelope.js';
import { rfc3339Ms } from '../../protocol/wal-message.js';
import { NO_FAULTS, streamSteps } from '../sim/stream.js';
import { World } from '../sim/world.js';
import { Rng } from '../sim/planner.js';
import { chaosProjects, leaseCover } from './chaos-run.js';
import { sleep, type ChaosRun } from './chaos-run.js';
import { inject } from './inject.js';
import { faultSchedule } from './schedule.js';

/** Most entries the load goes on past `transitions` while process faults are still running. */
export const OVERRUN_ENTRIES_MAX = 1_000_000;

/** Publishes a walker's entries to the WAL and feeds each stored entry back to it. */
export class Producer {
  readonly w: World;

  /**
   * `loggedIds`: message ids the WAL holds, shared by every producer of a run: two projects'
   * walkers can build byte-identical entries (the same beat frame from the same state), and
   * JetStream stores the bytes once; the second is a duplicate, not a new entry at an old seq.
   */
  constructor(
    private readonly run: ChaosRun,
    project = 'default',
    private readonly loggedIds = new Set<string>(),
  ) {
    this.w = new World(run.genesisRaw, undefined, { baseMs: Date.now(), project });
  }

  /** An entry another producer had stored: this walker's world decides it too. */
  follow(got: WalEntry): void {
    this.w.seq = got.seq;
    this.w.logMs = got.log_ms;
    this.w.apply(got);
  }

  /** Publish one signed entry; the stored entry, or null when there is none to feed back. */
  async publishOne(e: WalEntry): Promise<WalEntry | null> {
    if (e.type !== 'signed') return null;
    const sig = this.w.sigs.get(e.body);
    if (sig === undefined) throw new Error(`no signature recorded for entry ${e.seq}`);
    const body = new TextEncoder().encode(e.body);
    const id = msgIdOf(body);
    const knownBefore = this.loggedIds.has(id);
    const family = e.channel === 'fact' ? 'facts' : 'proposals';
    const scope = e.type === 'signed' ? e.scope : undefined;
    const project = scope?.kind === 'project' && scope.project !== null ? `${scope.project}.` : '';
    const subject = `${this.run.prefix}.${family}.${project}${e.name}`;
    const t0 = Date.now();
    for (;;) {
      try {
        const ack = await this.run.js.publish(subject, encodeEnvelope(body, sig), {
          msgID: id, timeout: 3000,
        });
        // A duplicate of an earlier entry is deduplicated; a duplicate of our own failed
        // attempt is ours.
        if (ack.duplicate && knownBefore) return null;
        return await this.stored(e, id, ack.seq);
      } catch (err) {
        if (Date.now() - t0 > 120_000) {
          const msg = `publish failed for 120 s: ${(err as Error).message}`;
          throw new Error(msg, { cause: err });
        }
        this.run.publishRetries += 1;
        await sleep(250);
      }
    }
  }

  /** The entry as the WAL stored it (sequence and log time), the walker moved on to it. */
  private async stored(e: WalEntry, id: string, seq: number): Promise<WalEntry> {
    const stored = await this.run.jsm.streams.getMessage(this.run.subjects.walName, { seq });
    if (stored === null) throw new Error(`WAL entry ${seq} vanished`);
    this.loggedIds.add(id);
    const got = { ...e, seq: seq as WalEntry['seq'], log_ms: rfc3339Ms(stored.timestamp) };
    this.w.seq = seq;
    this.w.logMs = got.log_ms;
    return got;
  }

  /** Publish `steps` (paced at `ratePerSec` or as fast as acked) until done or `stop()`. */
  async produce(
    steps: Generator<WalEntry, void, WalEntry | null>,
    paced: boolean,
    count: (n: number) => void,
    stop: () => boolean = () => false,
  ): Promise<void> {
    const t0 = Date.now();
    let i = 0;
    let next = steps.next(null);
    while (next.done !== true && !stop()) {
      if (paced) {
        const due = t0 + (i * 1000) / this.run.o.ratePerSec;
        if (Date.now() < due) await sleep(due - Date.now());
      }
      i += 1;
      const got = await this.publishOne(next.value);
      next = steps.next(got);
      if (got !== null) {
        const d = this.w.results[this.w.results.length - 1]?.decision;
        if (d !== undefined) {
          const told = { outcome: d.outcome, transition: d.transition, code: d.code };
          this.run.told.set(got.seq, told);
        }
        count(1);
      }
    }
  }
}

/**
 * Several projects' streams over one log, paced at the run's rate: the seed picks whose entry
 * goes next; what the WAL stored is fed back to that stream and decided by every other
 * producer's world too, so each plans against the state every replica computes.
 */
async function produceInterleaved(
  run: ChaosRun,
  producers: readonly Producer[],
  streams: Generator<WalEntry, void, WalEntry | null>[],
  rng: Rng,
  count: (n: number) => void,
  stop: () => boolean,
): Promise<void> {
  const t0 = Date.now();
  const next = streams.map((s) => s.next(null));
  let i = 0;
  while (!stop()) {
    const live = next.map((n, k) => (n.done === true ? -1 : k)).filter((k) => k >= 0);
    if (live.length === 0) return;
    const k = live[rng.int(live.length)] ?? 0;
    const p = producers[k] as Producer;
    const pending = next[k];
    if (pending === undefined || pending.done === true) continue;
    const due = t0 + (i * 1000) / run.o.ratePerSec;
    if (Date.now() < due) await sleep(due - Date.now());
    i += 1;
    const got = await p.publishOne(pending.value);
    next[k] = (streams[k] as Generator<WalEntry, void, WalEntry | null>).next(got);
    if (got === null) continue;
    for (const other of producers) if (other !== p) other.follow(got);
    const d = p.w.results[p.w.results.length - 1]?.decision;
    if (d !== undefined) {
      run.told.set(got.seq, { outcome: d.outcome, transition: d.transition, code: d.code });
    }
    count(1);
  }
}

/**
 * Producer and fault injector together. The load is `transitions` entries, and goes on (the
 * overrun, reported) until the last process fault has been injected and recovered: every fault
 * happens under load. Returns the producer and the overrun.
 */
export async function runLoad(run: ChaosRun): Promise<{ producer: Producer; overrun: number }> {
  const o = run.o;
  const schedule = faultSchedule(o);
  const logged = new Set<string>();
  const producers = chaosProjects(o.projects).map((p) => new Producer(run, p, logged));
  const producer = producers[0] as Producer;
  let loadDone = false;
  let faultsDone = schedule.length === 0;
  const length = schedule.length === 0 ? o.transitions : o.transitions + OVERRUN_ENTRIES_MAX;
  // One stream per project, each with its own seed: the first one's is the run's seed, so a
  // one-project run publishes exactly what it did before projects existed.
  const streams = producers.map((p, i) =>
    streamSteps(p.w, o.seed + i * 7919, length, o.rates, { counts: run.streamFaults }));
  const loading = produceInterleaved(run, producers, streams, new Rng(o.seed ^ 0x5eed), (n) => {
    run.published += n;
  }, () => run.published >= o.transitions && faultsDone).finally(() => {
    loadDone = true;
  });
  const injector = (async () => {
    for (const f of schedule) {
      while (run.published < f.at && !loadDone) await sleep(50);
      await inject(run, f.kind);
      run.progress('load');
    }
  })().finally(() => {
    faultsDone = true;
  });
  await Promise.all([loading, injector]);
  return { producer, overrun: Math.max(0, run.published - o.transitions) };
}

/** How the run settled after the faults stopped. */
export interface Settled {
  convergeMs: number | null;
  probeMs: number | null;
  probePublishMs: number | null;
  timeToConverge: number | null;
}

/**
 * Every replica agrees: one writer, every record decided, the same hash at the WAL's head. With
 * writers by bucket: one record stored per WAL entry (DECISIONS holds as many messages as the WAL
 * has entries), every member at the WAL's head with the same hash and every record stored as far
 * as it knows (`stored_seq`), and the members' leases covering every bucket and the deployment
 * chain exactly once.
 */
async function converged(run: ChaosRun): Promise<boolean> {
  if (run.buckets) return convergedByBucket(run);
  const wl = await run.streamLast(run.subjects.walName);
  const dl = await run.streamLast(run.subjects.decisionsName);
  const st = await run.statuses();
  const hs = new Set([...st.values()].map((s) => s.state_hash));
  const writers = [...st.values()].filter((s) => s.role === 'writer').length;
  return dl === wl && st.size === run.o.replicas && hs.size === 1 && writers === 1 &&
    [...st.values()].every((s) => s.wal_seq === wl);
}

async function convergedByBucket(run: ChaosRun): Promise<boolean> {
  const wl = await run.streamLast(run.subjects.walName);
  const { decided } = await run.decisionsState();
  const st = [...(await run.statuses()).values()];
  const hs = new Set(st.map((s) => s.state_hash));
  return decided === wl && st.length === run.o.replicas && hs.size === 1 &&
    st.every((s) => s.wal_seq === wl && s.stored_seq === wl) && leaseCover(st).exact;
}

/** Faults stop: everything running and resumed, then wait for convergence and probe liveness. */
export async function settle(run: ChaosRun, producer: Producer): Promise<Settled> {
  const o = run.o;
  run.progress('converge');
  for (const p of run.procs.values()) {
    if (p.stopped) {
      p.child.kill('SIGCONT');
      p.stopped = false;
    }
  }
  // Measured from the last fault's injection (or from now when there were none).
  const lastFault = run.faults.filter((f) => !f.skipped).at(-1);
  const c0 = lastFault === undefined ? Date.now() : run.started + lastFault.t_ms;
  const convergeMs = await run.waitFor(() => converged(run), o.convergeTimeoutMs);
  let probe: { probeMs: number | null; probePublishMs: number | null } = {
    probeMs: null, probePublishMs: null,
  };
  if (convergeMs === null) {
    run.violations.push({
      kind: 'not_converged', seq: null,
      detail: `replicas did not agree within ${o.convergeTimeoutMs} ms after faults stopped`,
    });
  } else {
    probe = await probeLiveness(run, producer);
  }
  const timeToConverge = convergeMs === null ? null : Date.now() - c0 - (probe.probeMs ?? 0);
  return { convergeMs, ...probe, timeToConverge };
}

/** Liveness: new proposals are accepted and every replica applies them. */
async function probeLiveness(
  run: ChaosRun, producer: Producer,
): Promise<{ probeMs: number | null; probePublishMs: number }> {
  const o = run.o;
  const p0 = Date.now();
  const before = run.told.size;
  const steps = streamSteps(producer.w, (o.seed ^ 0x1f0be) >>> 0, o.probeEntries, NO_FAULTS);
  await producer.produce(steps, false, (n) => {
    run.published += n;
  });
  const probePublishMs = Date.now() - p0;
  const waited = await run.waitFor(() => converged(run), o.convergeTimeoutMs);
  const probeMs = waited === null ? null : Date.now() - p0;
  const accepted = [...run.told.entries()]
    .filter(([seq, x]) => seq > 0 && x.outcome === 'accepted').length;
  if (probeMs === null) {
    run.violations.push({
      kind: 'not_live', seq: null,
      detail: `probe entries not decided by every replica within ${o.convergeTimeoutMs} ms`,
    });
  } else if (run.told.size > before && accepted === 0) {
    run.violations.push({ kind: 'not_live', seq: null, detail: 'no proposal accepted' });
  }
  return { probeMs, probePublishMs };
}
