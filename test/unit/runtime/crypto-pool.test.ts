/**
 * The writer's crypto pool and record texts: signatures byte-identical to the in-thread
 * signer, verdicts identical to the node verifier (edge cases: test/unit/crypto.edge.test.ts),
 * and the composed record JCS equal to serializing the whole record.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jcs } from '../../../src/core/encoding/json.js';
import { DOMAIN, signingBytes } from '../../../src/crypto/domains.js';
import { keyPairFromSeed } from '../../../src/crypto/keys.js';
import { createNodeSigner } from '../../../src/crypto/node-sign.js';
import { createNodeVerifier } from '../../../src/crypto/verify.js';
import { CryptoPool } from '../../../src/server/replication/crypto-pool.js';
import { parseCryptoThreads } from '../../../src/server/process/instance.js';
import { composeRecordText, contentMembers, contentTextOf, drSigningBytes, type DrContent } from '../../../src/protocol/decision-record.js';
import type { SigCheck } from '../../../src/protocol/entry.js';

describe('CryptoPool', () => {
  it('Given a signer seed, When the pool signs, Then every signature equals createNodeSigner\'s (Ed25519 is deterministic)', async () => {
    const seed = randomBytes(32);
    const pool = await CryptoPool.create({ threads: 2, signerSeed: seed });
    try {
      const signer = createNodeSigner(seed);
      const messages = Array.from({ length: 100 }, (_, i) => new TextEncoder().encode(`record ${i} ${'x'.repeat(i * 7)}`));
      const sigs = await pool.sign(messages);
      expect(sigs.map((s) => Buffer.from(s).toString('hex'))).toEqual(messages.map((m) => Buffer.from(signer.signBytes(m)).toString('hex')));
      expect(await pool.sign([])).toEqual([]);
    } finally {
      await pool.close();
    }
  });

  it('Given valid, tampered, unknown-format and null checks, When verified on the pool, Then the verdicts equal the node verifier\'s', async () => {
    const pool = await CryptoPool.create({ threads: 2 });
    const verifier = createNodeVerifier();
    try {
      const checks: (SigCheck | null)[] = [];
      for (let i = 0; i < 120; i++) {
        const kp = keyPairFromSeed(new Uint8Array(32).fill((i % 7) + 1));
        const body = { n: i, signer: kp.signer };
        const message = signingBytes(DOMAIN.proposal, body);
        const signatureHex = Buffer.from(createNodeSigner(kp.secretKey).signBytes(message)).toString('hex');
        const kind = i % 6;
        if (kind === 0) checks.push({ signer: kp.signer, message, signatureHex });
        else if (kind === 1) checks.push({ signer: kp.signer, message: signingBytes(DOMAIN.proposal, { ...body, n: -1 }), signatureHex });
        else if (kind === 2) checks.push({ signer: 'nobody', message, signatureHex });
        else if (kind === 3) checks.push({ signer: kp.signer, message, signatureHex: signatureHex.slice(2) });
        else if (kind === 4) checks.push(null);
        else checks.push({ signer: kp.signer, message, signatureHex: `${signatureHex.slice(0, -2)}${(parseInt(signatureHex.slice(-2), 16) ^ 1).toString(16).padStart(2, '0')}` });
      }
      const want = checks.map((c) => c !== null && verifier.verify(c.signer, c.message, c.signatureHex));
      expect(want.filter(Boolean).length).toBe(20);
      expect(await pool.verify(checks)).toEqual(want);
      expect(await pool.verify([])).toEqual([]);
    } finally {
      await pool.close();
    }
  });

  it('refuses bad options and work after close, with a clear message', async () => {
    await expect(CryptoPool.create({ threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
    await expect(CryptoPool.create({ threads: 1, signerSeed: new Uint8Array(5) })).rejects.toThrow(/32 bytes/);
    const pool = await CryptoPool.create({ threads: 1 });
    await expect(pool.sign([new Uint8Array(1)])).rejects.toThrow(/without a signer seed/);
    await pool.close();
    const kp = keyPairFromSeed(new Uint8Array(32).fill(9));
    // A well-formed signature (R = 00…00 would be refused as small-order on this thread, and
    // so never reach the closed workers).
    const signatureHex = Buffer.from(createNodeSigner(kp.secretKey).signBytes(new Uint8Array(1))).toString('hex');
    await expect(pool.verify([{ signer: kp.signer, message: new Uint8Array(1), signatureHex }])).rejects.toThrow(/closed/);
  });
});

describe('record texts composed from members', () => {
  const content = (o: Record<string, unknown>): DrContent => o as unknown as DrContent;
  it('equal jcs() of the content, of content + writer, and of content + writer + signature', () => {
    fc.assert(fc.property(
      fc.dictionary(fc.string({ maxLength: 12 }).filter((k) => !['writer', 'signature', 'zz', ''].includes(k)), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 30 }),
      fc.string(), fc.string(),
      (o, writer, signature) => {
        const m = contentTextOf(contentMembers(content(o)));
        expect(composeRecordText(m)).toBe(jcs(o));
        expect(composeRecordText(m, { writer })).toBe(jcs({ ...o, writer }));
        expect(composeRecordText(m, { writer, signature })).toBe(jcs({ ...o, writer, signature }));
        expect(composeRecordText(m, { signature, writer, zz: 'z', '': 'e' })).toBe(jcs({ ...o, writer, signature, zz: 'z', '': 'e' }));
        expect(new TextDecoder().decode(drSigningBytes(m, writer))).toBe(`${DOMAIN.dr}\n${jcs({ ...o, writer })}`);
      },
    ), { numRuns: 500 });
  });

  it('refuses a member given twice', () => {
    expect(() => composeRecordText(contentTextOf(contentMembers(content({ writer: 'a' }))), { writer: 'b' })).toThrow(/given twice/);
  });
});

describe('parseCryptoThreads (SWOOSH_CRYPTO_THREADS, --crypto-threads)', () => {
  it('takes 0..64', () => {
    expect(parseCryptoThreads('0', 'X')).toBe(0);
    expect(parseCryptoThreads('3', 'X')).toBe(3);
    expect(parseCryptoThreads('64', 'X')).toBe(64);
  });
  it.each(['', ' ', '-1', '1.5', '65', 'two', '0x2'])('refuses %j as invalid_config naming the field', (raw) => {
    expect(() => parseCryptoThreads(raw, 'SWOOSH_CRYPTO_THREADS'))
      .toThrowError(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('SWOOSH_CRYPTO_THREADS') as string }) as Error);
  });
});
