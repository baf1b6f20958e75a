/**
 * streams/definitions.ts applied to a real nats-server: creation, idempotence, drift left
 * alone and reported, check mode, and the JetStream guarantees the design leans on
 * (deny_delete, the duplicate window, Nats-Expected-Last-Sequence fencing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  STREAM_FIELD_SINCE,
  namePrefix,
  streamDefinitions,
  subjectsFor,
  type StreamDefinitions,
} from '../../streams/definitions.js';
import { SwooshError } from '../../src/protocol/errors.js';
import {
  applyStreams,
  assertNoDrift,
  configForServer,
  type StreamReport,
} from '../../src/server/process/apply-streams.js';
import { natsFixture, type NatsFixture } from '../support/nats.js';

let fx: NatsFixture;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  fx = await natsFixture();
  nc = await connect({ servers: fx.url });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
  await fx?.close();
});

const defsFor = (prefix: string): StreamDefinitions =>
  streamDefinitions({ prefix, replicas: 1 });

/** Every stream name on the server that belongs to `prefix`'s installation. */
async function streamsOf(prefix: string): Promise<string[]> {
  const p = namePrefix(prefix);
  const names: string[] = [];
  for await (const n of jsm.streams.names()) {
    if (n.startsWith(`${p}_`) || n.startsWith(`KV_${p}_`)) names.push(n);
  }
  return names.sort();
}

const actions = (r: StreamReport): Record<string, string> =>
  Object.fromEntries(r.items.map((i) => [`${i.kind}:${i.name}`, i.action]));

describe('applyStreams on an empty installation', () => {
  it('Given nothing, When applied, Then every stream, bucket and consumer is created', async () => {
    const defs = defsFor(fx.prefix);
    const s = defs.subjects;
    const report = await applyStreams(nc, defs, { mode: 'apply' });
    expect(report.server_version).toBe(nc.info?.version);
    expect(actions(report)).toEqual({
      [`stream:${s.walName}`]: 'created',
      [`stream:${s.decisionsName}`]: 'created',
      [`stream:${s.transitionsName}`]: 'created',
      [`kv:KV_${s.snapshotsBucket}`]: 'created',
      [`kv:KV_${s.leasesBucket}`]: 'created',
      [`kv:KV_${s.deploymentBucket}`]: 'created',
      [`consumer:${s.writerDurable}`]: 'created',
    });
    const wal = (await jsm.streams.info(s.walName)).config;
    expect(wal).toMatchObject({
      subjects: [`${fx.prefix}.proposals.>`, `${fx.prefix}.control.>`, `${fx.prefix}.facts.>`],
      storage: 'file', discard: 'new', deny_delete: true, deny_purge: true,
      duplicate_window: 120_000_000_000, allow_rollup_hdrs: false,
    });
    const writer = (await jsm.consumers.info(s.walName, s.writerDurable)).config;
    expect(writer).toMatchObject({
      ack_policy: 'explicit', max_deliver: -1, max_ack_pending: 1024,
    });
    expect(writer.filter_subject ?? '').toBe('');
    // The buckets are real KV buckets: the KV API opens and uses them.
    const snapshots = await new Kvm(nc).open(s.snapshotsBucket);
    expect((await snapshots.status()).history).toBe(16);
    const leases = await new Kvm(nc).open(s.leasesBucket);
    expect((await leases.status()).ttl).toBe(5_000);
    await leases.put('writer', 'me');
    expect((await leases.get('writer'))?.string()).toBe('me');
  });

  it('Given everything applied, When applied again, Then every item is unchanged', async () => {
    const report = await applyStreams(nc, defsFor(fx.prefix), { mode: 'apply' });
    expect(report.items).toHaveLength(7);
    for (const item of report.items) {
      expect(item, item.name).toMatchObject({ action: 'unchanged', drift: [] });
    }
    expect(() => assertNoDrift(report)).not.toThrow();
  });
});

describe('applyStreams with a live config that differs', () => {
  it('Given items made otherwise, When applied, Then drift is reported, not fixed', async () => {
    const prefix = `${fx.prefix}.drift`;
    const defs = defsFor(prefix);
    const s = defs.subjects;
    const version = nc.info?.version ?? '';
    const walDef = defs.streams.find((d) => d.name === s.walName);
    if (walDef === undefined) throw new Error('no WAL definition');
    await jsm.streams.add({
      ...configForServer(walDef.config, STREAM_FIELD_SINCE, version),
      duplicate_window: 10_000_000_000,
      max_msg_size: 4_096,
    });
    await new Kvm(nc).create(s.snapshotsBucket, { history: 2 });
    await jsm.consumers.add(s.walName, {
      durable_name: s.writerDurable, ack_policy: 'explicit', deliver_policy: 'all',
      replay_policy: 'instant', ack_wait: 30_000_000_000, max_deliver: 5, max_ack_pending: 1024,
    });

    const report = await applyStreams(nc, defs, { mode: 'apply' });

    const byName = new Map(report.items.map((i) => [i.name, i]));
    expect(byName.get(s.walName)?.action).toBe('drift');
    expect(byName.get(s.walName)?.drift).toEqual([
      { name: s.walName, field: 'max_msg_size', want: 1_048_576, have: 4_096 },
      { name: s.walName, field: 'duplicate_window', want: 120_000_000_000, have: 10_000_000_000 },
    ]);
    expect(byName.get(`KV_${s.snapshotsBucket}`)?.drift.map((d) => [d.field, d.have]))
      .toContainEqual(['max_msgs_per_subject', 2]);
    expect(byName.get(s.writerDurable)?.drift.map((d) => [d.field, d.want, d.have]))
      .toContainEqual(['max_deliver', -1, 5]);
    expect(byName.get(s.decisionsName)?.action).toBe('created');
    // Left exactly as it was.
    const wal = (await jsm.streams.info(s.walName)).config;
    expect([wal.duplicate_window, wal.max_msg_size]).toEqual([10_000_000_000, 4_096]);
    expect((await jsm.consumers.info(s.walName, s.writerDurable)).config.max_deliver).toBe(5);

    let thrown: unknown;
    try {
      assertNoDrift(report);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SwooshError);
    expect((thrown as SwooshError).code).toBe('stream_drift');
    const fields = ['duplicate_window', 'max_msg_size', 'max_msgs_per_subject', 'max_deliver'];
    for (const field of fields) {
      expect((thrown as SwooshError).message).toContain(field);
    }
  });

  it('Given an empty installation, When checked, Then all missing and none created', async () => {
    const prefix = `${fx.prefix}.check`;
    const report = await applyStreams(nc, defsFor(prefix), { mode: 'check' });
    expect(report.items).toHaveLength(7);
    for (const item of report.items) expect(item, item.name).toMatchObject({ action: 'missing' });
    expect(await streamsOf(prefix)).toEqual([]);
  });
});

describe('JetStream guarantees the streams rely on', () => {
  const prefix = (): string => `${fx.prefix}.rules`;

  beforeAll(async () => {
    assertNoDrift(await applyStreams(nc, defsFor(prefix()), { mode: 'apply' }));
  });

  it('Given a WAL entry, When deleted or purged, Then refused and the entry stays', async () => {
    const s = subjectsFor(prefix());
    const ack = await jetstream(nc).publish(s.proposals('Boot_ConfigOk'), 'entry');
    await expect(jsm.streams.deleteMessage(s.walName, ack.seq)).rejects.toBeInstanceOf(
      JetStreamApiError,
    );
    await expect(jsm.streams.purge(s.walName)).rejects.toBeInstanceOf(JetStreamApiError);
    const stored = await jsm.streams.getMessage(s.walName, { seq: ack.seq });
    expect(stored?.string()).toBe('entry');
  });

  it('Given the same Nats-Msg-Id twice within the window, Then one message is stored', async () => {
    const s = subjectsFor(prefix());
    const js = jetstream(nc);
    const subject = s.facts('tick');
    const before = (await jsm.streams.info(s.walName)).state.messages;
    const first = await js.publish(subject, 'tick', { msgID: `${prefix()}-m1` });
    const second = await js.publish(subject, 'tick', { msgID: `${prefix()}-m1` });
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    expect((await jsm.streams.info(s.walName)).state.messages).toBe(before + 1);
  });

  it('Given DECISIONS at seq 1, When appending expecting last seq 0, Then 10071', async () => {
    const s = subjectsFor(prefix());
    const js = jetstream(nc);
    const subject = s.dr('default');
    const ok = await js.publish(subject, 'dr1', { msgID: 'dr:1', expect: { lastSequence: 0 } });
    expect(ok.seq).toBe(1);
    let thrown: unknown;
    try {
      await js.publish(subject, 'dr1-again', { msgID: 'dr:1b', expect: { lastSequence: 0 } });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(JetStreamApiError);
    expect((thrown as JetStreamApiError).code).toBe(10071);
    expect((await jsm.streams.info(s.decisionsName)).state.messages).toBe(1);
  });
});
