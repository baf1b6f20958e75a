/**
 * An upgrade in place, for real (ARCHITECTURE §9): a writer on this Node major decides a WAL
 * of hostile entries (every kind of bad body, envelope tricks, deep nesting, edge-case
 * signatures by a registered key); a writer on another major recovers it — recomputing every
 * record from genesis and comparing byte for byte, which stops it on any mismatch — and
 * decides more; then a writer on the first major recovers the whole log again, and the audit
 * runs from genesis under both majors. Snapshots are off, so every recovery replays it all.
 */
import { execFileSync } from 'node:child_process';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectsFor } from '../../streams/definitions.js';
import { hostileCorpus } from '../support/hostile.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';
import { spawnInstance, waitUntil, writeInstanceFiles, type Proc } from '../support/proc.js';
import { REPO_ROOT, nodeMajor, secondNode } from '../support/second-node.js';
import { castGenesis } from '../../src/proving/sim/world.js';

// One writer: the test is about recovery (every record recomputed from genesis at start).
const NO_SNAPSHOTS = { SWOOSH_WRITERS: 'lease', SWOOSH_SNAPSHOT_EVERY: '100000000' };

describe('a WAL written on one Node major is recovered and audited on another', () => {
  let fx: NatsFixture | undefined;
  let nc: NatsConnection | undefined;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const procs: Proc[] = [];
  let prefix = '';
  const files = writeInstanceFiles(castGenesis());
  let s: ReturnType<typeof subjectsFor>;
  let other = '';

  beforeAll(async () => {
    other = secondNode();
    const f = await natsFixture();
    fx = f;
    const c = await connect({ servers: f.url });
    nc = c;
    js = jetstream(c);
    jsm = await jetstreamManager(c);
    prefix = f.prefix;
    s = subjectsFor(prefix);
    // The streams are created by the first writer.
  }, 300_000);

  afterAll(async () => {
    for (const p of procs) await p.stop();
    await nc?.close();
    await fx?.close();
  });

  const url = (): string => {
    if (fx === undefined) throw new Error('no NATS fixture: beforeAll failed');
    return fx.url;
  };

  async function publishCorpus(seed: number): Promise<number> {
    const corpus = hostileCorpus(seed, 150, prefix);
    for (const m of corpus) await js.publish(m.subject, m.data);
    return (await jsm.streams.info(s.walName)).state.last_seq;
  }

  async function decidedUpTo(last: number): Promise<void> {
    await waitUntil(`records up to ${last}`, async () => (await jsm.streams.info(s.decisionsName)).state.last_seq >= last, 60_000);
  }

  async function writer(name: string, nodeBin: string): Promise<Proc> {
    const p = await spawnInstance({
      natsUrl: url(), prefix, name, genesisFile: files.genesisFile, keyFile: files.keyFile(name), env: NO_SNAPSHOTS, nodeBin,
    });
    procs.push(p);
    return p;
  }

  function auditWith(nodeBin: string): { ok: boolean; wal_entries: number; decision_records: number; problems: unknown[] } {
    const out = execFileSync(nodeBin, ['--import', 'tsx', 'src/cli/main.ts', 'audit', 'verify', '--json',
      '--nats-url', url(), '--prefix', prefix, '--genesis', files.genesisFile], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    return JSON.parse(out) as { ok: boolean; wal_entries: number; decision_records: number; problems: unknown[] };
  }

  it('zero mismatches in both directions', async () => {
    const here = process.execPath;
    const majors = [nodeMajor(here), nodeMajor(other)];
    expect(majors[0]).not.toBe(majors[1]);

    const a = await writer('on-this-major', here);
    const first = await publishCorpus(11);
    await decidedUpTo(first);
    await a.stop();

    const b = await writer('on-the-other-major', other); // recovery compares every record
    expect(b.output.join('\n')).not.toMatch(/replay_mismatch|differs from its recomputation/);
    const second = await publishCorpus(12);
    expect(second).toBeGreaterThan(first);
    await decidedUpTo(second);
    await b.stop();

    const c = await writer('back-on-this-major', here);
    const st = await c.status();
    expect(st.wal_seq).toBe(second);
    expect(st.diverged).toBeNull();
    await c.stop();

    for (const bin of [here, other]) {
      const report = auditWith(bin);
      expect(report.problems, `audit under Node ${nodeMajor(bin)}`).toEqual([]);
      expect(report).toMatchObject({ ok: true, wal_entries: second, decision_records: second });
    }
  }, 300_000);
});
