/**
 * The two ceilings the end-to-end rate is compared with, measured in the same run:
 *   - Ed25519 verification per second on every core the process may use (worker_threads,
 *     node:crypto, cached KeyObjects: the verifier the writer uses, without anything else);
 *   - a raw JetStream pipeline with the writer's message sizes and shape: pull a batch from a
 *     durable consumer, publish two fenced messages per entry (Nats-Expected-Last-Sequence, the
 *     first awaited alone, the rest pipelined), then ack the batch. No decoding, no core.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JsMsg,
  type PubAck,
} from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { keyPairFromSeed } from '../../crypto/keys.js';
import { DOMAIN, signingBytes } from '../../crypto/domains.js';
import { signObject } from '../../crypto/sign.js';

/** What a verify worker is given. */
interface VerifySample {
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

// Plain JS so the worker needs no TypeScript loader (tsx hooks do not reach workers on Node 20).
const VERIFY_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const prefix = Buffer.from('302a300506032b6570032100', 'hex');
const keys = workerData.samples.map((s) => crypto.createPublicKey({
  key: Buffer.concat([prefix, Buffer.from(s.publicKey)]), format: 'der', type: 'spki',
}));
const msgs = workerData.samples.map((s) => Buffer.from(s.message));
const sigs = workerData.samples.map((s) => Buffer.from(s.signature));
for (let i = 0; i < keys.length; i++) {
  if (!crypto.verify(null, msgs[i], keys[i], sigs[i])) {
    throw new Error('bench: a valid signature did not verify');
  }
}
parentPort.once('message', () => {
  let n = 0;
  const t0 = process.hrtime.bigint();
  const budget = BigInt(Math.round(workerData.seconds * 1e9));
  let el = 0n;
  while (el < budget) {
    for (let i = 0; i < keys.length; i++) crypto.verify(null, msgs[i], keys[i], sigs[i]);
    n += keys.length;
    el = process.hrtime.bigint() - t0;
  }
  parentPort.postMessage({ n, seconds: Number(el) / 1e9 });
});
parentPort.postMessage('ready');
`;

/** Result of the verification ceiling. */
export interface VerifyCeiling {
  readonly threads: number;
  readonly seconds: number;
  readonly verifies_per_s: number;
  readonly per_thread: readonly number[];
}

function verifySamples(count: number): VerifySample[] {
  return Array.from({ length: count }, (_, i) => {
    const kp = keyPairFromSeed(new Uint8Array(32).fill(i + 1));
    const body = {
      current_state_hash: `sha256-${'ab'.repeat(32)}`,
      transition: 'Council_QuorumCert',
      inputs: {},
      inputs_hash: `sha256-${'cd'.repeat(32)}`,
      signer: kp.signer,
      idem_key: `goal:${i}:Council_QuorumCert`,
      hlc: '2025-10-19T01:23:45.678+00:00#1234',
      window_id: 'backbeat:W-2025-10-19-02',
      evidence: [],
    };
    const sigHex = signObject(DOMAIN.proposal, body, kp.secretKey);
    return {
      publicKey: kp.publicKey,
      message: signingBytes(DOMAIN.proposal, body),
      signature: Buffer.from(sigHex, 'hex'),
    };
  });
}

/**
 * Verifies per second over `threads` worker threads (default: every core available), all started
 * together.
 */
export async function verifyCeiling(
  seconds: number,
  threads = availableParallelism(),
): Promise<VerifyCeiling> {
  const samples = verifySamples(64);
  const workers = Array.from(
    { length: threads },
    () => new Worker(VERIFY_WORKER, { eval: true, workerData: { samples, seconds } }),
  );
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.once('error', reject);
            w.once('message', () => resolve());
          }),
      ),
    );
    const results = await Promise.all(
      workers.map(
        (w) =>
          new Promise<{ n: number; seconds: number }>((resolve, reject) => {
            w.once('error', reject);
            w.once('message', (m: { n: number; seconds: number }) => resolve(m));
            w.postMessage('go');
          }),
      ),
    );
    const per = results.map((r) => Math.round(r.n / r.seconds));
    return { threads, seconds, verifies_per_s: per.reduce((a, b) => a + b, 0), per_thread: per };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Message sizes of the raw pipeline (bytes), taken from the end-to-end run's streams. */
export interface PipelineSizes {
  readonly input: number;
  readonly out1: number;
  readonly out2: number;
}

/** Result of the raw JetStream pipeline. */
export interface PipelineCeiling {
  readonly messages: number;
  readonly batch: number;
  readonly sizes: PipelineSizes;
  readonly seconds: number;
  readonly messages_per_s: number;
}

/**
 * Pre-load `messages` inputs (excluded from timing), then time consume → two fenced publishes
 * → ack over them, in batches of `batch` as the writer does.
 */
export async function jetstreamCeiling(
  url: string,
  messages: number,
  sizes: PipelineSizes,
  batch: number,
): Promise<PipelineCeiling> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  try {
    const js = jetstream(nc, { timeout: 10_000 });
    const jsm = await jetstreamManager(nc);
    const names = { in: 'RAWBENCH_IN', o1: 'RAWBENCH_O1', o2: 'RAWBENCH_O2' };
    for (const [name, subj] of [
      [names.in, 'rawbench.in.>'],
      [names.o1, 'rawbench.o1.>'],
      [names.o2, 'rawbench.o2.>'],
    ] as const) {
      await jsm.streams.delete(name).catch(() => false);
      await jsm.streams.add({ name, subjects: [subj] });
    }
    await jsm.consumers.add(names.in, {
      durable_name: 'raw',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 10_000,
    });
    const payload = (n: number): Uint8Array => new Uint8Array(n).fill(0x61);
    const inBody = payload(sizes.input);
    let inflight: Promise<PubAck>[] = [];
    for (let i = 0; i < messages; i++) {
      inflight.push(js.publish(`rawbench.in.p${i % 16}`, inBody));
      if (inflight.length >= 256) {
        await Promise.all(inflight);
        inflight = [];
      }
    }
    await Promise.all(inflight);
    const o1 = payload(sizes.out1);
    const o2 = payload(sizes.out2);
    const consumer = await js.consumers.get(names.in, 'raw');
    let done = 0;
    let last1 = 0;
    let last2 = 0;
    const t0 = performance.now();
    while (done < messages) {
      const it = await consumer.fetch({ max_messages: batch, expires: 1000 });
      const got: JsMsg[] = [];
      for await (const m of it) got.push(m);
      if (got.length === 0) continue;
      // First of each pair awaited alone (the proof the log ends where we think), rest pipelined.
      const pubs: Promise<PubAck>[] = [];
      for (const [i] of got.entries()) {
        const p1 = js.publish('rawbench.o1.x', o1, { expect: { lastSequence: last1 } });
        const p2 = js.publish('rawbench.o2.x', o2, { expect: { lastSequence: last2 } });
        last1 += 1;
        last2 += 1;
        if (i === 0) await Promise.all([p1, p2]);
        else pubs.push(p1, p2);
      }
      await Promise.all(pubs);
      for (const m of got) m.ack();
      done += got.length;
    }
    const seconds = (performance.now() - t0) / 1000;
    for (const name of Object.values(names)) await jsm.streams.delete(name).catch(() => false);
    return {
      messages,
      batch,
      sizes,
      seconds: +seconds.toFixed(3),
      messages_per_s: Math.round(messages / seconds),
    };
  } finally {
    await nc.close();
  }
}
