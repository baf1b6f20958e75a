/**
 * Ed25519 verification benchmark (`npx tsx src/proving/bench/micro/verify-rates.ts`):
 * verifies per second on one core for node:crypto (the server path, cached KeyObjects),
 * node:crypto with every KeyObject built afresh (the cache-miss cost, including parseSigner),
 * SWOOSH's portable noble verifier, and plain noble `ed25519.verify` (zip215: false) for
 * reference. Figures, not assertions; the numbers in docs/signatures.md come from this script.
 *
 * Usage: npx tsx src/proving/bench/micro/verify-rates.ts [--seconds 2] [--json]
 */
import { arch, cpus } from 'node:os';
import { ed25519 } from '@noble/curves/ed25519.js';
import { DOMAIN, signingBytes } from '../../../crypto/domains.js';
import { hexToBytes, keyPairFromSeed } from '../../../crypto/keys.js';
import { signObject } from '../../../crypto/sign.js';
import {
  type SignatureVerifier,
  createNobleVerifier,
  createNodeVerifier,
} from '../../../crypto/verify.js';

const args = process.argv.slice(2);
const secondsAt = args.indexOf('--seconds');
const SECONDS = secondsAt >= 0 ? Number(args[secondsAt + 1]) : 2;
const JSON_OUT = args.includes('--json');
const SIGNERS = 64;

interface Sample {
  readonly signer: string;
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signatureHex: string;
  readonly signature: Uint8Array;
}

/** One signed proposal-sized message (~450 bytes) per signer. */
function samples(): Sample[] {
  return Array.from({ length: SIGNERS }, (_, i) => {
    const kp = keyPairFromSeed(new Uint8Array(32).fill(i + 1));
    const body = {
      current_state_hash: `sha256-${'ab'.repeat(32)}`,
      transition: 'Council_QuorumCert',
      inputs_hash: `sha256-${'cd'.repeat(32)}`,
      signer: kp.signer,
      idem_key: `goal:${i}:op:0b7c8f0e-7a4e-4a43-9d1b-3f9d2a1c5e6f`,
      hlc: '2025-10-19T01:23:45.678+00:00#1234',
      window_id: 'backbeat:W-2025-10-19-02',
      evidence: ['ucxl://chorus:spec@council:x/*^/spec.md', 'bubble://dr/y'],
    };
    const signatureHex = signObject(DOMAIN.proposal, body, kp.secretKey);
    return {
      signer: kp.signer, publicKey: kp.publicKey, message: signingBytes(DOMAIN.proposal, body),
      signatureHex, signature: hexToBytes(signatureHex),
    };
  });
}

/** Verifies per second of `verify` over the samples, run for about SECONDS. */
function rate(all: readonly Sample[], verify: (s: Sample) => boolean): number {
  for (const s of all) if (!verify(s)) throw new Error('bench: a valid signature did not verify');
  let n = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(SECONDS * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (const s of all) verify(s);
    n += all.length;
    elapsed = process.hrtime.bigint() - start;
  }
  return Math.round((n * 1e9) / Number(elapsed));
}

function main(): void {
  const all = samples();
  const cached = createNodeVerifier();
  const uncached = createNodeVerifier({ keyCacheMax: 1 }); // 64 signers round-robin: all misses
  const noble = createNobleVerifier();
  const via = (v: SignatureVerifier) => (s: Sample): boolean =>
    v.verify(s.signer, s.message, s.signatureHex);
  const plainNoble = (s: Sample): boolean =>
    ed25519.verify(s.signature, s.message, s.publicKey, { zip215: false });
  const rows = [
    ['node:crypto, cached KeyObjects', rate(all, via(cached))],
    ['node:crypto, KeyObject built per verify', rate(all, via(uncached))],
    ['noble, SWOOSH createNobleVerifier', rate(all, via(noble))],
    ['noble, ed25519.verify zip215:false', rate(all, plainNoble)],
  ] as const;
  const cpu = cpus()[0]?.model ?? '?';
  const env = `node ${process.version}, OpenSSL ${process.versions.openssl}, ${arch()}, ${cpu}`;
  if (JSON_OUT) {
    const out = { env, seconds: SECONDS, rows: Object.fromEntries(rows) };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  process.stdout.write(`Ed25519 verifies/s, 1 core, ~${SECONDS}s each (${env})\n`);
  for (const [name, perSecond] of rows) {
    process.stdout.write(`  ${name.padEnd(42)} ${String(perSecond).padStart(7)} /s\n`);
  }
}

main();
