/**
 * Ed25519 on worker threads, so the writer's thread keeps to what only it can do (the reducer,
 * hashing, publishing). Two jobs:
 *
 *  - verify: the signature checks of a batch (envelope signatures and council votes), ahead of
 *    the reducer. A verdict is a pure function of (public key, message, signature) under the one
 *    rule of docs/signatures.md: SWOOSH's prechecks run here, on the calling thread
 *    (`parseSigner` for keys, `acceptableSignature` for S < L and a canonical, not small-order
 *    R), and the workers run exactly the node verifier's last step, `crypto.verify` (OpenSSL) on
 *    a cached SPKI KeyObject, a throw counting as "no". So neither the thread nor the OpenSSL
 *    line can change a verdict; test/unit/crypto.edge.test.ts pins the pool to the in-thread
 *    verifier on the edge-case table.
 *  - sign: the writer's decision-record signatures (Ed25519 is deterministic: the same bytes as
 *    createNodeSigner, also pinned by the test).
 *
 * The worker is plain JavaScript evaluated from a string: it needs no TypeScript loader, and
 * so runs the same under tsx, vitest and the built dist.
 */
import { Worker } from 'node:worker_threads';
import { bytesToHex, parseSigner } from '../../crypto/keys.js';
import { acceptableSignature } from '../../crypto/rule.js';
import type { NodeSigner } from '../../crypto/node-sign.js';
import type { SignatureVerifier } from '../../crypto/verify.js';
import { verdictsOf, type SigCheck } from '../../protocol/entry.js';
import {
  composeRecordText,
  drSigningBytes,
  type ContentText,
} from '../../protocol/decision-record.js';

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const KEY_CACHE_MAX = workerData.keyCacheMax;
const keys = new Map();
function keyOf(pub) {
  const id = Buffer.from(pub).toString('hex');
  let k = keys.get(id);
  if (k !== undefined) return k;
  k = crypto.createPublicKey({
    key: Buffer.concat([SPKI, Buffer.from(pub)]), format: 'der', type: 'spki',
  });
  if (keys.size >= KEY_CACHE_MAX) keys.delete(keys.keys().next().value);
  keys.set(id, k);
  return k;
}
const priv = workerData.seed === null ? null
  : crypto.createPrivateKey({
    key: Buffer.concat([PKCS8, Buffer.from(workerData.seed)]), format: 'der', type: 'pkcs8',
  });
parentPort.on('message', (m) => {
  if (m.op === 'verify') {
    const out = new Uint8Array(m.keys.length);
    for (let i = 0; i < m.keys.length; i++) {
      try {
        out[i] = crypto.verify(null, m.messages[i], keyOf(m.keys[i]), m.signatures[i]) ? 1 : 0;
      } catch (err) {
        out[i] = 0; // OpenSSL refusing the key or the input is a "no", as in the node verifier
      }
    }
    parentPort.postMessage({ id: m.id, verdicts: out }, [out.buffer]);
  } else if (m.op === 'sign') {
    const sigs = m.messages.map((msg) => new Uint8Array(crypto.sign(null, msg, priv)));
    parentPort.postMessage({ id: m.id, signatures: sigs });
  }
});
`;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  load: number;
}

/** Options of {@link CryptoPool.create}. */
export interface CryptoPoolOptions {
  /** Worker threads (at least 1). */
  readonly threads: number;
  /** The writer's 32-byte Ed25519 seed, for `sign`; omit for a verify-only pool. */
  readonly signerSeed?: Uint8Array;
  /** Bound on parsed signer keys kept (calling thread) and KeyObjects (each worker). */
  readonly keyCacheMax?: number;
}

/** Below this many checks a batch is verified by one worker (a message costs ~20 µs). */
const SPLIT_MIN = 32;

/** Worker threads verifying and signing Ed25519 for one process. */
export class CryptoPool {
  private nextId = 1;
  private closed = false;
  private readonly parsed = new Map<string, Uint8Array | null>();

  private constructor(
    private readonly slots: readonly Slot[],
    private readonly keyCacheMax: number,
    readonly canSign: boolean,
  ) {}

  /** Start the workers and wait until each is running. */
  static async create(o: CryptoPoolOptions): Promise<CryptoPool> {
    if (!Number.isSafeInteger(o.threads) || o.threads < 1) {
      throw new RangeError(`CryptoPool: threads must be a positive integer, got ${o.threads}`);
    }
    if (o.signerSeed !== undefined && o.signerSeed.length !== 32) {
      throw new RangeError('CryptoPool: signerSeed must be 32 bytes');
    }
    const keyCacheMax = o.keyCacheMax ?? 10_000;
    const slots = await Promise.all(
      Array.from(
        { length: o.threads },
        () =>
          new Promise<Slot>((resolve, reject) => {
            const worker = new Worker(WORKER_SOURCE, {
              eval: true,
              workerData: {
                seed: o.signerSeed === undefined ? null : Uint8Array.from(o.signerSeed),
                keyCacheMax,
              },
            });
            const slot: Slot = { worker, pending: new Map(), load: 0 };
            worker.on(
              'message',
              (m: { id: number; verdicts?: Uint8Array; signatures?: Uint8Array[] }) => {
                const p = slot.pending.get(m.id);
                if (p === undefined) return;
                slot.pending.delete(m.id);
                p.resolve(m.verdicts ?? m.signatures);
              },
            );
            const fail = (err: Error): void => {
              for (const p of slot.pending.values()) p.reject(err);
              slot.pending.clear();
            };
            worker.on('error', (err) =>
              fail(new Error(`crypto worker failed: ${err.message}`, { cause: err })),
            );
            worker.on('exit', (code) => fail(new Error(`crypto worker exited (code ${code})`)));
            worker.once('online', () => resolve(slot));
            worker.once('error', reject);
          }),
      ),
    );
    return new CryptoPool(slots, keyCacheMax, o.signerSeed !== undefined);
  }

  get threads(): number {
    return this.slots.length;
  }

  /** The public key of a signer id, or null when parseSigner refuses it (cached, bounded). */
  private publicKeyOf(signer: string): Uint8Array | null {
    const hit = this.parsed.get(signer);
    if (hit !== undefined) return hit;
    const pk = parseSigner(signer);
    if (this.parsed.size >= this.keyCacheMax) {
      const oldest = this.parsed.keys().next();
      if (oldest.done !== true) this.parsed.delete(oldest.value);
    }
    this.parsed.set(signer, pk);
    return pk;
  }

  private call<T>(slot: Slot, msg: Record<string, unknown>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('crypto pool is closed'));
    const id = this.nextId++;
    slot.load += 1;
    return new Promise<T>((resolve, reject) => {
      slot.pending.set(id, {
        resolve: (v) => {
          slot.load -= 1;
          resolve(v as T);
        },
        reject: (e) => {
          slot.load -= 1;
          reject(e);
        },
      });
      slot.worker.postMessage({ ...msg, id });
    });
  }

  /** Slices of `n` items for the workers, least loaded first. */
  private shards(n: number): { slot: Slot; from: number; to: number }[] {
    const ordered = [...this.slots].sort((a, b) => a.load - b.load);
    const parts = Math.max(1, Math.min(ordered.length, Math.floor(n / SPLIT_MIN)));
    const size = Math.ceil(n / parts);
    const out: { slot: Slot; from: number; to: number }[] = [];
    for (let i = 0; i < parts; i++) {
      const slot = ordered[i];
      if (slot !== undefined && i * size < n) {
        out.push({ slot, from: i * size, to: Math.min(n, (i + 1) * size) });
      }
    }
    return out;
  }

  /** One verdict per check, in order (null checks and refused keys or signatures are false). */
  async verify(checks: readonly (SigCheck | null)[]): Promise<boolean[]> {
    const verdicts: boolean[] = checks.map(() => false);
    const idx: number[] = [];
    const keys: Uint8Array[] = [];
    const messages: Uint8Array[] = [];
    const signatures: Uint8Array[] = [];
    checks.forEach((c, i) => {
      if (c === null) return;
      const pk = this.publicKeyOf(c.signer);
      const sig = acceptableSignature(c.signatureHex);
      if (pk === null || sig === null) return;
      idx.push(i);
      keys.push(pk);
      messages.push(c.message);
      signatures.push(sig);
    });
    if (idx.length === 0) return verdicts;
    const parts = await Promise.all(
      this.shards(idx.length).map(async ({ slot, from, to }) => ({
        from,
        out: await this.call<Uint8Array>(slot, {
          op: 'verify',
          keys: keys.slice(from, to),
          messages: messages.slice(from, to),
          signatures: signatures.slice(from, to),
        }),
      })),
    );
    for (const { from, out } of parts) {
      out.forEach((v, k) => {
        verdicts[idx[from + k] ?? -1] = v === 1;
      });
    }
    return verdicts;
  }

  /** Ed25519 signatures of `messages` with the pool's signer, in order. */
  async sign(messages: readonly Uint8Array[]): Promise<Uint8Array[]> {
    if (!this.canSign) {
      throw new Error('CryptoPool.sign: this pool was created without a signer seed');
    }
    if (messages.length === 0) return [];
    const parts = await Promise.all(
      this.shards(messages.length).map(({ slot, from, to }) =>
        this.call<Uint8Array[]>(slot, { op: 'sign', messages: messages.slice(from, to) }),
      ),
    );
    return parts.flat();
  }

  /** Stop the workers; pending calls fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/**
 * Verdicts per entry for a batch's signature checks: one call to the pool for the whole batch,
 * or this thread when there is no pool.
 */
export async function batchVerdicts(
  pool: CryptoPool | null,
  verifier: SignatureVerifier,
  checks: readonly (readonly (SigCheck | null)[])[],
): Promise<boolean[][]> {
  if (pool === null) return checks.map((c) => verdictsOf(c, verifier));
  // Envelopes first; an entry's votes only when its envelope verifies (as verdictsOf does).
  const envelopes = await pool.verify(checks.map((c) => c[0] ?? null));
  const votes = checks.flatMap((c, i) => (envelopes[i] === true ? c.slice(1) : []));
  const flat = votes.length === 0 ? [] : await pool.verify(votes);
  let at = 0;
  return checks.map((c, i) => {
    if (c.length === 0) return [];
    if (envelopes[i] !== true) return c.map(() => false);
    const v = flat.slice(at, at + c.length - 1);
    at += c.length - 1;
    return [true, ...v];
  });
}

/**
 * Sign decision records (`swoosh/dr/v1\n ‖ JCS(content + writer)`) on the pool when it can,
 * else on this thread; the wire bytes of each record.
 */
export async function signRecords(
  pool: CryptoPool | null,
  signer: NodeSigner,
  texts: readonly ContentText[],
): Promise<Uint8Array[]> {
  const writer = signer.signer;
  const messages = texts.map((t) => drSigningBytes(t, writer));
  const sigs = pool !== null && pool.canSign
    ? await pool.sign(messages)
    : messages.map((m) => signer.signBytes(m));
  const enc = new TextEncoder();
  return texts.map((t, i) => enc.encode(
    composeRecordText(t, { writer, signature: bytesToHex(sigs[i] ?? new Uint8Array()) }),
  ));
}
