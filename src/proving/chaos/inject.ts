/**
 * The process-fault injector: one function per fault kind. Every seeded draw (`run.rng`)
 * happens in the same order as the schedule has always drawn them, so a seed keeps its faults.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { InstanceStatus } from '../../server/process/instance.js';
import { putRevisions } from '../../server/replication/snapshots.js';
import { CLUSTER_NODES, sleep, type ChaosRun } from './chaos-run.js';
import { killProc, statusOf, type ChaosProc } from './proc.js';
import type { ProcessFaultKind } from './types.js';

/** Record the fault (target '-' marks it skipped). */
type Recorder = (target: string, recovery: number | null, detail: string) => void;

/** One fault being injected. */
interface Fault {
  readonly run: ChaosRun;
  readonly record: Recorder;
  /** How long a new writer may take. */
  readonly ttlBound: number;
}

/** Inject one process fault of `kind` and wait for the system to recover from it. */
export async function inject(run: ChaosRun, kind: ProcessFaultKind): Promise<void> {
  const at = run.t();
  const record: Recorder = (target, recovery, detail) => {
    run.faults.push({
      t_ms: at, kind, target, recovery_ms: recovery, detail, skipped: target === '-',
    });
  };
  const f: Fault = { run, record, ttlBound: run.o.leaseTtlMs * 4 + 10_000 };
  if (kind === 'writer_kill' || kind === 'writer_stop') await writerFault(f, kind);
  else if (kind === 'follower_kill') await followerKill(f);
  else if (kind === 'nats_node_restart') await natsNodeRestart(f);
  else if (kind === 'nats_restart') await natsRestart(f);
  else await snapshotFault(f, kind);
}

async function writerFault(f: Fault, kind: 'writer_kill' | 'writer_stop'): Promise<void> {
  const { run } = f;
  if (run.buckets) {
    await memberFault(f, kind);
    return;
  }
  const found = await run.waitFor(async () => (await run.writerName()) !== null, 10_000);
  const victim = found === null ? null : await run.writerName();
  const p = victim === null ? undefined : run.procs.get(victim);
  if (victim === null || p === undefined) {
    f.record('-', null, 'no writer to fault');
    return;
  }
  if (kind === 'writer_kill') await writerKill(f, victim, p);
  else await writerStop(f, victim, p);
}

/**
 * Writers by bucket: the victim is drawn among the lease holders (every member holding some
 * bucket is a writer), once every lease is held.
 */
async function memberFault(f: Fault, kind: 'writer_kill' | 'writer_stop'): Promise<void> {
  const { run } = f;
  await run.waitFor(() => run.writing(), 10_000);
  const st = await run.statuses();
  const holders = [...st.entries()].filter(([, s]) => s.role === 'writer').map(([n]) => n).sort();
  const victim = holders.length === 0 ? null : run.rng.pick(holders);
  const p = victim === null ? undefined : run.procs.get(victim);
  const before = victim === null ? undefined : st.get(victim);
  if (victim === null || p === undefined || before === undefined) {
    f.record('-', null, 'no lease holder to fault');
    return;
  }
  if (kind === 'writer_kill') await writerKill(f, victim, p);
  else await memberStop(f, victim, p, before);
}

async function writerKill(f: Fault, victim: string, p: ChaosProc): Promise<void> {
  const { run, ttlBound } = f;
  await killProc(p);
  const t0 = Date.now();
  await run.restart(victim);
  // Failover: any writer deciding again (another process, or the restarted one); by bucket,
  // every lease held again.
  const more = await run.waitFor(() => run.writing(), ttlBound);
  f.record(victim, more === null ? null : Date.now() - t0,
    more === null ? 'no writer after the kill' : 'SIGKILL, restarted');
  if (more === null) {
    run.violations.push({
      kind: 'no_failover', seq: null,
      detail: `no writer within ${ttlBound} ms of killing ${victim}`,
    });
  }
}

/** DECISIONS' last sequence, retried for 5 s through a NATS restart; null when unreadable. */
function decisionsLastOf(run: Fault['run']): Promise<number | null> {
  return run.retrying('reading DECISIONS', () => run.streamLast(run.subjects.decisionsName), 5_000)
    .catch(() => null);
}

async function writerStop(f: Fault, victim: string, p: ChaosProc): Promise<void> {
  const { run } = f;
  const decisionsLast = (): Promise<number | null> => decisionsLastOf(run);
  p.child.kill('SIGSTOP');
  p.stopped = true;
  const t0 = Date.now();
  const took = await run.waitFor(run.newWriterOtherThan(victim), f.ttlBound);
  const failover = took === null ? null : Date.now() - t0;
  // From here until the zombie reports follower, no record may carry its signature.
  const fromSeq = took === null ? null : await decisionsLast();
  await sleep(Math.max(0, run.o.leaseTtlMs + 1000 - (Date.now() - t0)));
  p.child.kill('SIGCONT');
  p.stopped = false;
  const fenced = await run.waitFor(
    async () => (await statusOf(run.conn, run.prefix, victim, 800))?.role === 'follower', 15_000);
  const toSeq = await decisionsLast();
  if (fromSeq !== null && toSeq !== null) {
    run.fenceWindows.push({ signer: p.signer, name: victim, fromSeq, toSeq });
  }
  const zombie = fenced === null ? 'NOT fenced' : `back to follower ${fenced} ms after SIGCONT`;
  f.record(victim, failover, `SIGSTOP ${Date.now() - t0} ms; zombie ${zombie}`);
  if (failover === null) {
    run.violations.push({
      kind: 'no_failover', seq: null, detail: `no new writer while ${victim} was stopped`,
    });
  }
  if (fenced === null) {
    run.violations.push({
      kind: 'zombie_not_fenced', seq: null,
      detail: `${victim} still not a follower 15 s after SIGCONT`,
    });
  }
}

/**
 * Writers by bucket: SIGSTOP a lease holder past its TTL, wait for the other members to hold
 * every lease, SIGCONT. The fence window (see RecordChecks.checkChainFence) runs from right after
 * the SIGSTOP to the member's first lease tick after SIGCONT: that tick finds every lease it had
 * taken by another (its term moves on, and it holds none until the next rebalancing gives it its
 * share again, a tick later at the earliest). A tick seen with leases already held again ends the
 * window before it (the DECISIONS seq read before that status), so that no record it may publish
 * by a lease held anew falls inside.
 */
async function memberStop(
  f: Fault, victim: string, p: ChaosProc, before: InstanceStatus,
): Promise<void> {
  const { run } = f;
  const decisionsLast = (): Promise<number | null> => decisionsLastOf(run);
  p.child.kill('SIGSTOP');
  p.stopped = true;
  const t0 = Date.now();
  const fromSeq = await decisionsLast();
  const took = await run.waitFor(run.newWriterOtherThan(victim), f.ttlBound);
  const failover = took === null ? null : Date.now() - t0;
  await sleep(Math.max(0, run.o.leaseTtlMs + 1000 - (Date.now() - t0)));
  p.child.kill('SIGCONT');
  p.stopped = false;
  const c0 = Date.now();
  let fenced: { ms: number; toSeq: number | null; held: number } | null = null;
  while (fenced === null && Date.now() - c0 < 15_000) {
    const ahead = await decisionsLast();
    const s = await statusOf(run.conn, run.prefix, victim, 800);
    if (s !== null && s.term > before.term) {
      const held = (s.buckets_held ?? []).length;
      fenced = { ms: Date.now() - c0, toSeq: held === 0 ? await decisionsLast() : ahead, held };
    } else {
      await sleep(20);
    }
  }
  const toSeq = fenced?.toSeq ?? null;
  if (fromSeq !== null && toSeq !== null) {
    run.fenceWindows.push({ signer: p.signer, name: victim, fromSeq, toSeq });
  }
  const zombie = fenced === null
    ? 'NOT fenced'
    : `leases dropped ${fenced.ms} ms after SIGCONT` +
      (fenced.held === 0 ? '' : ` (${fenced.held} held anew by then)`);
  const had = (before.buckets_held ?? []).length;
  f.record(victim, failover,
    `SIGSTOP ${Date.now() - t0} ms holding ${had} leases; zombie ${zombie}`);
  if (failover === null) {
    run.violations.push({
      kind: 'no_failover', seq: null,
      detail: `the other members did not hold every lease while ${victim} was stopped`,
    });
  }
  if (fenced === null) {
    run.violations.push({
      kind: 'zombie_not_fenced', seq: null,
      detail: `${victim} showed no lease tick 15 s after SIGCONT`,
    });
  }
}

async function followerKill(f: Fault): Promise<void> {
  const { run } = f;
  const fs = await run.liveFollowers();
  if (fs.length === 0) {
    f.record('-', null, 'no follower to kill');
    return;
  }
  const victim = run.rng.pick(fs);
  const p = run.procs.get(victim);
  if (p !== undefined) await killProc(p);
  const t0 = Date.now();
  await run.restart(victim);
  // Back when it serves again: as a follower, or as the writer when it won the lease
  // (the writer may have lost it meanwhile, e.g. to an earlier fault).
  let last: InstanceStatus | null = null;
  const back = await run.waitFor(async () => {
    last = await statusOf(run.conn, run.prefix, victim, 800);
    return last?.role === 'follower' || last?.role === 'writer';
  }, 30_000);
  const seen = last as InstanceStatus | null;
  const lastStatus = seen === null ? 'no answer' : `${seen.role} at WAL ${seen.wal_seq}`;
  f.record(victim, back === null ? null : Date.now() - t0, back !== null
    ? `SIGKILL, restarted, back as ${seen?.role ?? '?'}`
    : `SIGKILL, restarted; not serving within 30 s (last status: ${lastStatus})`);
}

/**
 * One node stopped cleanly or killed, its store kept, restarted on the same ports. The seed
 * draws the signal and whether it is the node leading the WAL's raft group (a leader election
 * under load) or a node drawn by index.
 */
async function natsNodeRestart(f: Fault): Promise<void> {
  const { run, ttlBound } = f;
  const cluster = run.cluster;
  if (cluster === null) return;
  const drawn = run.rng.int(cluster.nodes.length);
  const signal = run.rng.chance(0.5) ? 'SIGKILL' : 'SIGTERM';
  const wantLeader = run.rng.chance(0.5);
  const leaderOf = async (stream: string): Promise<string | null> =>
    (await run.jsm.streams.info(stream).catch(() => null))?.cluster?.leader ?? null;
  const walLeader = await leaderOf(run.subjects.walName);
  const leader = wantLeader ? cluster.nodes.find((n) => n.serverName === walLeader) : undefined;
  const node = leader ?? cluster.nodes[drawn];
  if (node === undefined) return;
  // Which raft groups lose their leader with it (information for the report).
  const leads: string[] = [];
  if (walLeader === node.serverName) leads.push(run.subjects.walName);
  if ((await leaderOf(run.subjects.decisionsName)) === node.serverName) {
    leads.push(run.subjects.decisionsName);
  }
  const t0 = Date.now();
  const r = await cluster.restartNode(node.index, signal);
  const back = await run.waitFor(() => run.writing(), ttlBound);
  const recovery = back === null ? null : Date.now() - t0;
  const healed = await waitHealed(run);
  const which = leader !== undefined ? 'the WAL leader' : 'a node drawn by index';
  const led = leads.length === 0 ? 'neither WAL nor DECISIONS' : leads.join(' and ');
  const healing = healed === null
    ? 'raft groups NOT all healed within 30 s'
    : `every raft group led and current ${Date.now() - t0} ms after the signal`;
  f.record(node.name, recovery,
    `${signal} ${which}, back in the cluster after ${r.downMs} ms (${node.url}); ` +
    `it led ${led}; ` +
    `${healing}`);
  if (back === null) {
    run.violations.push({
      kind: 'no_writer_after_nats_restart', seq: null,
      detail: `no writer within ${ttlBound} ms of restarting ${node.name}`,
    });
  }
}

/**
 * Before the next fault: every raft group of the deployment has a leader and both followers
 * current again (the restarted node caught up), so faults do not pile up on a cluster still
 * electing. How long that took is in the detail.
 */
function waitHealed(run: ChaosRun): Promise<number | null> {
  const s = run.subjects;
  return run.waitFor(async () => {
    const streams = [
      s.walName, s.decisionsName, s.transitionsName,
      `KV_${s.snapshotsBucket}`, `KV_${s.leasesBucket}`,
    ];
    for (const name of streams) {
      const c = (await run.jsm.streams.info(name)).cluster;
      const rs = c?.replicas ?? [];
      const current = rs.length === CLUSTER_NODES - 1 && rs.every((x) => x.current);
      if (c?.leader === undefined || !current) return false;
    }
    const writer = await run.jsm.consumers.info(s.walName, s.writerDurable);
    return writer.cluster?.leader !== undefined;
  }, 30_000);
}

async function natsRestart(f: Fault): Promise<void> {
  const { run, ttlBound } = f;
  const server = run.server;
  if (server === null) return;
  const t0 = Date.now();
  await server.restart();
  const down = Date.now() - t0;
  const back = await run.waitFor(() => run.writing(), ttlBound);
  f.record('nats-server', back === null ? null : Date.now() - t0, `restarted (down ${down} ms)`);
  if (back === null) {
    run.violations.push({
      kind: 'no_writer_after_nats_restart', seq: null, detail: `no writer within ${ttlBound} ms`,
    });
  }
}

/**
 * Snapshot faults: write a bad `head` revision, then restart a process so it must recover past
 * it. The KV operations retry through transient unavailability (a raft election in a cluster
 * after a node restart answers "no responders" for a moment); the seed's draws come first.
 */
async function snapshotFault(
  f: Fault, kind: 'snapshot_corrupt' | 'snapshot_rollback',
): Promise<void> {
  const { run } = f;
  const kv = await run.retrying('opening the snapshot bucket',
    () => new Kvm(run.js).open(run.subjects.snapshotsBucket));
  const detail = kind === 'snapshot_corrupt'
    ? await corruptHead(run, kv)
    : await rollBackHead(run, kv);
  if (detail === null) {
    f.record('-', null, 'no older snapshot to roll back to');
    return;
  }
  const victims = [...run.procs.values()].filter((p) => p.alive() && !p.stopped).map((p) => p.name);
  const victim = run.rng.pick(victims);
  const p = run.procs.get(victim);
  if (p !== undefined) await killProc(p);
  const t0 = Date.now();
  await run.restart(victim);
  const back = await run.waitFor(async () => {
    const s = await statusOf(run.conn, run.prefix, victim, 800);
    return s !== null && s.role !== 'starting';
  }, 30_000);
  f.record(victim, back === null ? null : Date.now() - t0,
    `${detail}; ${victim} SIGKILLed and restarted over it`);
}

/** A garbage `head`: truncated JSON or a snapshot whose hash matches nothing. */
async function corruptHead(run: ChaosRun, kv: KV): Promise<string> {
  const truncated = run.rng.chance(0.5);
  const garbage = truncated
    ? '{"v":1,"encoding":"inline","corrupt":true'
    : JSON.stringify({ v: 1, encoding: 'inline', state_hash: 'sha256-00', wal_seq: 1 });
  await run.retrying('putting a garbage head',
    () => kv.put('head', new TextEncoder().encode(garbage)));
  return 'garbage head revision';
}

/** An older `head` revision put back; null when there is none. */
async function rollBackHead(run: ChaosRun, kv: KV): Promise<string | null> {
  const revs = await run.retrying('reading the head history', () => putRevisions(kv, 'head'));
  const old = revs.length >= 2 ? revs[1 + run.rng.int(revs.length - 1)] : undefined;
  const e = old === undefined
    ? null
    : await run.retrying('reading an older head', () => kv.get('head', { revision: old }));
  if (e === null) return null;
  await run.retrying('putting the older head back', () => kv.put('head', e.value));
  return `head rolled back to revision ${String(old)}`;
}
