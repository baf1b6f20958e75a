/**
 * Bounded abuse (src/protocol/entry.ts): an envelope that does not verify costs one
 * verification however many votes it carries; a signed one has its votes verified, at most
 * VOTES_VERIFIED_MAX of them, the schema's own limit. On the thread and on the worker pool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART, jcs } from '../../src/core/index.js';
import { DOMAIN } from '../../src/crypto/domains.js';
import { createNodeVerifier } from '../../src/crypto/verify.js';
import { createNodeSigner } from '../../src/crypto/node-sign.js';
import { prepareEntry, verdictsOf, VOTES_VERIFIED_MAX, type SigCheck } from '../../src/protocol/entry.js';
import { CryptoPool, batchVerdicts } from '../../src/server/replication/crypto-pool.js';
import type { SignatureVerifier } from '../../src/crypto/verify.js';

const enc = new TextEncoder();
const proposer = createNodeSigner(new Uint8Array(32).fill(7));
const voter = createNodeSigner(new Uint8Array(32).fill(9));

function quorumCert(votes: number): { body: Uint8Array; sig: Uint8Array } {
  const vote = { member_set_hash: `sha256-${'a'.repeat(64)}`, term: 1, voter: voter.signer };
  const signedVote = { ...vote, signature: voter.signObject(DOMAIN.vote, vote) };
  const body = {
    transition: 'Council_QuorumCert', signer: proposer.signer,
    inputs: { votes: Array.from({ length: votes }, () => signedVote) },
  };
  const bytes = enc.encode(jcs(body));
  const sig = proposer.signBytes(new Uint8Array([...enc.encode(`${DOMAIN.proposal}\n`), ...bytes]));
  return { body: bytes, sig };
}

function checksOf(votes: number, signed: boolean): readonly (SigCheck | null)[] {
  const q = quorumCert(votes);
  const p = prepareEntry({
    seq: 1, logMs: 0, channel: 'proposal', name: 'Council_QuorumCert', body: q.body,
    sig: signed ? q.sig : new Uint8Array(64).fill(1),
  });
  if (p.kind !== 'checks') throw new Error('expected checks');
  return p.checks;
}

/** A verifier that counts its calls. */
function counting(): SignatureVerifier & { calls: number } {
  const v = createNodeVerifier();
  const c = { calls: 0, verify: (s: string, m: Uint8Array, sig: string) => { c.calls += 1; return v.verify(s, m, sig); } };
  return c;
}

describe('vote verification is bounded', () => {
  let pool: CryptoPool;
  beforeAll(async () => {
    pool = await CryptoPool.create({ threads: 1 });
  });
  afterAll(async () => pool.close());

  it('Given the chart, Then VOTES_VERIFIED_MAX is Council_QuorumCert votes.maxItems', () => {
    const spec = CHART.transitions.find((t) => t.name === 'Council_QuorumCert');
    const votes = (spec?.inputs as { properties?: { votes?: { maxItems?: number } } } | undefined)?.properties?.votes;
    expect(votes?.maxItems).toBe(VOTES_VERIFIED_MAX);
  });

  it('Given an envelope that does not verify with 1,000 votes, Then one verification and every verdict false', async () => {
    const checks = checksOf(1000, false);
    expect(checks.length).toBe(1001);
    const v = counting();
    expect(verdictsOf(checks, v).every((x) => !x)).toBe(true);
    expect(v.calls).toBe(1);
    const [viaPool] = await batchVerdicts(pool, v, [checks]);
    expect(viaPool?.every((x) => !x)).toBe(true);
  });

  it('Given a signed envelope, Then its votes are verified (true), past the limit they are false and never run', async () => {
    const v = counting();
    const small = verdictsOf(checksOf(3, true), v);
    expect(small).toEqual([true, true, true, true]);
    expect(v.calls).toBe(4);
    const big = checksOf(VOTES_VERIFIED_MAX + 10, true);
    const w = counting();
    const verdicts = verdictsOf(big, w);
    expect(w.calls).toBe(1 + VOTES_VERIFIED_MAX);
    expect(verdicts.slice(1, VOTES_VERIFIED_MAX + 1).every((x) => x)).toBe(true);
    expect(verdicts.slice(VOTES_VERIFIED_MAX + 1).every((x) => !x)).toBe(true);
    const all = await batchVerdicts(pool, v, [big, [], checksOf(2, false), checksOf(2, true)]);
    expect(all[0]).toEqual(verdicts);
    expect(all.slice(1)).toEqual([[], [false, false, false], [true, true, true]]);
  });
});
