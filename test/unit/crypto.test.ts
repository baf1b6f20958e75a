/**
 * Signing, verification, keys and hashers (docs/signatures.md). Keys and signatures are made
 * with @noble/curves (the SDK path) and verified with node:crypto (the server path). Replay a
 * property failure with SWOOSH_SEED=<seed> (the seed is logged once per run).
 */
import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { announceSeed } from '../support/seed.js';
import { DOMAIN, isDomain, signingBytes, stripSignature } from '../../src/crypto/domains.js';
import { nobleHasher } from '../../src/crypto/hasher-portable.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import {
  bytesToHex,
  generateKeyPair,
  hexToBytes,
  keyPairFromSeed,
  parseSigner,
  signerFromPublicKey,
} from '../../src/crypto/keys.js';
import { signObject, withSignature } from '../../src/crypto/sign.js';
import {
  DEFAULT_KEY_CACHE_MAX,
  createNobleVerifier,
  createNodeVerifier,
  verifyObject,
} from '../../src/crypto/verify.js';

const SEED = announceSeed('crypto properties');

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows. */
const PKCS8_PREFIX = hexToBytes('302e020100300506032b657004220420');
const enc = new TextEncoder();
/** RFC 8032 §7.1, TEST 1: the secret key (seed). */
const RFC8032_TEST1_SEED = hexToBytes(
  '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
);

function seedOf(n: number): Uint8Array {
  return new Uint8Array(32).map((_, i) => (n * 31 + i * 7 + 1) & 0xff);
}

function flipByte(bytes: Uint8Array, i: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[i] = (out[i] ?? 0) ^ 0x01;
  return out;
}

function flipHexByte(hex: string, i: number): string {
  return bytesToHex(flipByte(hexToBytes(hex), i));
}

const ALICE = keyPairFromSeed(seedOf(1));
const BOB = keyPairFromSeed(seedOf(2));

function proposal(signer: string): Record<string, unknown> {
  return {
    current_state_hash: `sha256-${'ab'.repeat(32)}`,
    transition: 'Council_QuorumCert',
    inputs: { votes: [], note: 'héllo ✓ 𝄞' },
    inputs_hash: `sha256-${'cd'.repeat(32)}`,
    signer,
    idem_key: 'goal:1:op:uuid',
    hlc: '2025-10-19T01:23:45.678+00:00#1234',
    window_id: 'backbeat:W-2025-10-19-02',
    evidence: [],
  };
}

describe('signingBytes and stripSignature', () => {
  it('is utf8(domain + "\\n") followed by the JCS text, byte for byte', () => {
    const bytes = signingBytes(DOMAIN.vote, { term: 2, voter: 'x', a: [1, 'é'] });
    const text = 'swoosh/vote/v1\n{"a":[1,"é"],"term":2,"voter":"x"}';
    expect(bytesToHex(bytes)).toBe(bytesToHex(enc.encode(text)));
    expect(bytes[14]).toBe(0x0a); // the newline right after the 14-byte domain
  });

  it('reproduces the worked example of docs/signatures.md §1 byte for byte', () => {
    const kp = keyPairFromSeed(RFC8032_TEST1_SEED);
    const vote = { voter: kp.signer, term: 3, member_set_hash: `sha256-${'00'.repeat(32)}` };
    const bytes = signingBytes(DOMAIN.vote, vote);
    expect(new TextDecoder().decode(bytes)).toBe(
      'swoosh/vote/v1\n{"member_set_hash":"sha256-'
      + `${'00'.repeat(32)}","term":3,"voter":"${kp.signer}"}`,
    );
    expect(bytes.length).toBe(204);
    expect(bytesToHex(bytes.subarray(0, 20))).toBe('73776f6f73682f766f74652f76310a7b226d656d');
    expect(signObject(DOMAIN.vote, vote, kp.secretKey)).toBe(
      '674c209aa32c593c0d5d1174ab762c49c7cad48a9593c6bbd6fcc124a68071e9'
      + 'aa055a7139564e08f74e6709fca1279cd3882306df164849971b0b836357da0c',
    );
  });

  it('names exactly the four domains', () => {
    expect(Object.values(DOMAIN)).toEqual([
      'swoosh/proposal/v1', 'swoosh/vote/v1', 'swoosh/fact/v1', 'swoosh/dr/v1',
    ]);
    expect(isDomain('swoosh/vote/v1')).toBe(true);
    expect(isDomain('swoosh/vote/v2')).toBe(false);
  });

  it('refuses an object that still carries a signature, and an unknown domain', () => {
    expect(() => signingBytes(DOMAIN.fact, { signature: 'x', a: 1 })).toThrow(TypeError);
    // @ts-expect-error -- an unknown domain must be refused at run time too
    expect(() => signingBytes('swoosh/other/v1', { a: 1 })).toThrow(TypeError);
  });

  it('stripSignature copies shallowly and leaves the input alone', () => {
    const obj = { a: 1, signature: 'sig', nested: { signature: 'kept' } };
    const stripped = stripSignature(obj);
    expect(stripped).toEqual({ a: 1, nested: { signature: 'kept' } });
    expect(obj.signature).toBe('sig');
    expect(stripped.nested).toBe(obj.nested);
  });
});

describe('keys', () => {
  it('reproduces RFC 8032 §7.1 test 1 (key, and signature over the empty message)', () => {
    const seed = RFC8032_TEST1_SEED;
    const kp = keyPairFromSeed(seed);
    expect(bytesToHex(kp.publicKey))
      .toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(kp.signer)
      .toBe('hmmm:pubkey:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const sig = nodeSign(null, new Uint8Array(0), createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8',
    }));
    const expected = 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155'
      + '5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
    expect(sig.toString('hex')).toBe(expected);
    expect(bytesToHex(ed25519.sign(new Uint8Array(0), kp.secretKey))).toBe(expected);
    const verifier = createNodeVerifier();
    expect(verifier.verify(kp.signer, new Uint8Array(0), sig.toString('hex'))).toBe(true);
  });

  it('generateKeyPair makes distinct, parseable identities', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(a.secretKey.length).toBe(32);
    expect(a.publicKey.length).toBe(32);
    expect(a.signer).not.toBe(b.signer);
    expect(parseSigner(a.signer)).toEqual(a.publicKey);
    expect(keyPairFromSeed(a.secretKey).signer).toBe(a.signer);
  });

  it('keyPairFromSeed copies the seed and refuses a wrong length', () => {
    const seed = seedOf(9);
    const kp = keyPairFromSeed(seed);
    seed.fill(0);
    expect(kp.secretKey).toEqual(seedOf(9));
    expect(() => keyPairFromSeed(new Uint8Array(31))).toThrow(TypeError);
    expect(() => keyPairFromSeed(new Uint8Array(64))).toThrow(TypeError);
    expect(() => signerFromPublicKey(new Uint8Array(33))).toThrow(TypeError);
  });

  it('parseSigner refuses every malformed signer id', () => {
    const hex = ALICE.signer.slice('hmmm:pubkey:'.length);
    expect(parseSigner(ALICE.signer)).toEqual(ALICE.publicKey);
    const bad: unknown[] = [
      undefined, null, 42, {}, '', hex, `hmmm:pubkey:`, `HMMM:pubkey:${hex}`,
      `hmmm:pubkey:${hex.toUpperCase()}`, `hmmm:pubkey:${hex.slice(0, 63)}`,
      `hmmm:pubkey:${hex}0`, `hmmm:pubkey:${hex}00`, `hmmm:pubkey:${hex}\n`, ` hmmm:pubkey:${hex}`,
      `hmmm:pubkey: ${hex.slice(1)}`, `hmmm:pubkey:${hex.slice(0, 62)}zz`, `hmmm:key:${hex}`,
      `hmmm:pubkey:0x${hex.slice(2)}`,
    ];
    for (const s of bad) expect(parseSigner(s), String(s)).toBeNull();
  });

  it('parseSigner refuses bytes that are no curve point and non-canonical encodings', () => {
    // y = 2 is not the y of any curve point.
    expect(parseSigner(`hmmm:pubkey:02${'00'.repeat(31)}`)).toBeNull();
    // y = p + 3 (2^255 - 16): a non-canonical encoding of the point with y = 3.
    expect(parseSigner(`hmmm:pubkey:f0${'ff'.repeat(30)}7f`)).toBeNull();
    expect(parseSigner(`hmmm:pubkey:03${'00'.repeat(31)}`)).not.toBeNull();
  });

});

describe('hex helpers', () => {
  it('are strict lowercase and round-trip', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
      const hex = bytesToHex(b);
      expect(hex).toMatch(/^(?:[0-9a-f]{2})*$/);
      expect(hexToBytes(hex)).toEqual(b);
    }), { seed: SEED, numRuns: 200 });
    for (const bad of ['A0', 'a', 'zz', '0x00', ' 00', '00 ', 'ab\n']) {
      expect(() => hexToBytes(bad), bad).toThrow(TypeError);
    }
    expect(hexToBytes('')).toEqual(new Uint8Array(0));
  });
});

describe('sign with noble, verify with node:crypto', () => {
  const verifier = createNodeVerifier();

  it('verifies a signed proposal and refuses every tampering', () => {
    const body = proposal(ALICE.signer);
    const signed = withSignature(DOMAIN.proposal, body, ALICE.secretKey);
    expect(signed.signature).toMatch(/^[0-9a-f]{128}$/);
    expect(verifyObject(verifier, DOMAIN.proposal, signed)).toBe(true);

    const msg = signingBytes(DOMAIN.proposal, body);
    expect(verifier.verify(ALICE.signer, msg, signed.signature)).toBe(true);
    for (const i of [0, 17, msg.length - 1]) {
      expect(verifier.verify(ALICE.signer, flipByte(msg, i), signed.signature)).toBe(false);
    }
    for (const i of [0, 31, 32, 63]) {
      expect(verifier.verify(ALICE.signer, msg, flipHexByte(signed.signature, i))).toBe(false);
    }
    expect(verifyObject(verifier, DOMAIN.vote, signed)).toBe(false);
    expect(verifyObject(verifier, DOMAIN.fact, signed)).toBe(false);
    expect(verifyObject(verifier, DOMAIN.proposal, { ...signed, hlc: signed.hlc })).toBe(true);
    expect(verifyObject(verifier, DOMAIN.proposal, { ...signed, evidence: ['x'] })).toBe(false);
    expect(verifyObject(verifier, DOMAIN.proposal, { ...signed, signer: BOB.signer })).toBe(false);
    expect(verifyObject(verifier, DOMAIN.proposal, signed, BOB.signer)).toBe(false);
  });

  it('verifies with an explicit signer (a vote names its voter)', () => {
    const vote = withSignature(DOMAIN.vote, { voter: BOB.signer, term: 3 }, BOB.secretKey);
    expect(verifyObject(verifier, DOMAIN.vote, vote, BOB.signer)).toBe(true);
    expect(verifyObject(verifier, DOMAIN.vote, vote)).toBe(false); // no `signer` field
    expect(verifyObject(verifier, DOMAIN.vote, vote, ALICE.signer)).toBe(false);
  });

  it('signs the object without its signature: an old signature changes nothing', () => {
    const body = { signer: ALICE.signer, n: 1 };
    const sig = signObject(DOMAIN.fact, body, ALICE.secretKey);
    expect(signObject(DOMAIN.fact, { ...body, signature: 'stale' }, ALICE.secretKey)).toBe(sig);
    const resigned = withSignature(DOMAIN.fact, { ...body, signature: 'stale' }, ALICE.secretKey);
    expect(resigned.signature).toBe(sig);
  });

  it('answers false, never throws, on malformed input', () => {
    const msg = signingBytes(DOMAIN.fact, { n: 1 });
    const sig = signObject(DOMAIN.fact, { n: 1 }, ALICE.secretKey);
    const cases: [unknown, unknown, unknown][] = [
      [ALICE.signer, msg, sig.toUpperCase()],
      [ALICE.signer, msg, sig.slice(0, 126)],
      [ALICE.signer, msg, `${sig}00`],
      [ALICE.signer, msg, 42],
      [ALICE.signer, 'not bytes', sig],
      [ALICE.signer.toUpperCase(), msg, sig],
      ['hmmm:pubkey:zz', msg, sig],
      [undefined, msg, sig],
    ];
    for (const verifierUnderTest of [verifier, createNobleVerifier()]) {
      expect(verifierUnderTest.verify(ALICE.signer, msg, sig)).toBe(true);
      for (const [s, m, g] of cases) {
        expect(verifierUnderTest.verify(s as string, m as Uint8Array, g as string)).toBe(false);
      }
    }
    const badObjects = [null, 'x', [1], { signature: 1, signer: ALICE.signer }, { signature: sig }];
    for (const bad of badObjects) expect(verifyObject(verifier, DOMAIN.fact, bad)).toBe(false);
    expect(verifyObject(verifier, DOMAIN.fact, { n: NaN, signer: ALICE.signer, signature: sig }))
      .toBe(false);
  });

});

describe('noble and node:crypto agree', () => {
  const verifier = createNodeVerifier();

  it('noble signatures are byte-identical to node:crypto signatures from the same seed', () => {
    const seeds = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(fc.property(seeds, fc.uint8Array(), (seed, m) => {
      const kp = keyPairFromSeed(seed);
      const privateKey = createPrivateKey({
        key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8',
      });
      const body = { signer: kp.signer, m: bytesToHex(m) };
      const viaNode = nodeSign(null, signingBytes(DOMAIN.dr, body), privateKey).toString('hex');
      expect(signObject(DOMAIN.dr, body, kp.secretKey)).toBe(viaNode);
      expect(verifyObject(verifier, DOMAIN.dr, { ...body, signature: viaNode })).toBe(true);
    }), { seed: SEED, numRuns: 50 });
  });

  it('the noble verifier agrees with the node verifier on signed and tampered objects', () => {
    const noble = createNobleVerifier();
    const args = [fc.nat(1000), fc.string(), fc.nat(63), fc.boolean()] as const;
    fc.assert(fc.property(...args, (n, s, i, tamper) => {
      const kp = keyPairFromSeed(seedOf(n));
      const msg = signingBytes(DOMAIN.proposal, { s, signer: kp.signer });
      const sig = signObject(DOMAIN.proposal, { s, signer: kp.signer }, kp.secretKey);
      const used = tamper ? flipHexByte(sig, i) : sig;
      expect(verifier.verify(kp.signer, msg, used)).toBe(!tamper);
      expect(noble.verify(kp.signer, msg, used)).toBe(!tamper);
    }), { seed: SEED, numRuns: 40 });
  });
});

describe('node verifier key cache', () => {
  it('is bounded by keyCacheMax, and still verifies after eviction', () => {
    const verifier = createNodeVerifier({ keyCacheMax: 3 });
    expect(verifier.keyCacheMax).toBe(3);
    const pairs = [1, 2, 3, 4, 5, 6, 7].map((n) => keyPairFromSeed(seedOf(100 + n)));
    const msg = signingBytes(DOMAIN.fact, { n: 1 });
    for (let round = 0; round < 2; round++) {
      for (const kp of pairs) {
        const sig = signObject(DOMAIN.fact, { n: 1 }, kp.secretKey);
        expect(verifier.verify(kp.signer, msg, sig)).toBe(true);
        expect(verifier.cacheSize()).toBeLessThanOrEqual(3);
      }
    }
    expect(verifier.cacheSize()).toBe(3);
  });

  it('does not cache a refused signer, and has a sane default bound', () => {
    const verifier = createNodeVerifier();
    expect(verifier.keyCacheMax).toBe(DEFAULT_KEY_CACHE_MAX);
    expect(DEFAULT_KEY_CACHE_MAX).toBe(10_000);
    const sig = signObject(DOMAIN.fact, { n: 1 }, ALICE.secretKey);
    const msg = signingBytes(DOMAIN.fact, { n: 1 });
    expect(verifier.verify(`hmmm:pubkey:01${'00'.repeat(31)}`, msg, sig)).toBe(false);
    expect(verifier.cacheSize()).toBe(0);
    expect(verifier.verify(ALICE.signer, msg, sig)).toBe(true);
    expect(verifier.cacheSize()).toBe(1);
  });

  it('refuses a bound that is not a positive integer', () => {
    for (const keyCacheMax of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createNodeVerifier({ keyCacheMax }), String(keyCacheMax)).toThrow(RangeError);
    }
  });
});

describe('hashers', () => {
  it('both give the RFC 6234 / FIPS 180-2 digest of "abc"', () => {
    const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(nodeHasher.sha256Hex('abc')).toBe(abc);
    expect(nobleHasher.sha256Hex('abc')).toBe(abc);
    expect(nodeHasher.sha256Hex(enc.encode('abc'))).toBe(abc);
    expect(nobleHasher.sha256Hex(enc.encode('abc'))).toBe(abc);
    const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    expect(nodeHasher.sha256Hex('')).toBe(empty);
    expect(nobleHasher.sha256Hex(new Uint8Array(0))).toBe(empty);
  });

  it('agree on random text (including lone surrogates) and random bytes', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      const h = nodeHasher.sha256Hex(s);
      expect(h).toMatch(/^[0-9a-f]{64}$/);
      expect(nobleHasher.sha256Hex(s)).toBe(h);
    }), { seed: SEED, numRuns: 300 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      expect(nobleHasher.sha256Hex(b)).toBe(nodeHasher.sha256Hex(b));
    }), { seed: SEED, numRuns: 300 });
  });
});
