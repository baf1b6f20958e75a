/**
 * verifyRecord / verifyChain over decision records made by the runtime's own code (drContent,
 * signDr with the node:crypto signer, the JCS wire form), then tampered with: content,
 * signature, link, order, genesis and writer.
 */
import { describe, expect, it } from 'vitest';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { createNodeSigner } from '../../src/crypto/node-sign.js';
import { createNodeVerifier } from '../../src/crypto/verify.js';
import {
  chainStart,
  contentOf,
  decodeDr,
  drContent,
  drHash,
  encodeDr,
  signDr,
  type DecisionRecord,
} from '../../src/protocol/decision-record.js';
import { verifyChain, verifyRecord } from '../../src/sdk/index.js';
import { CAST, World, h } from '../../src/proving/sim/world.js';

const writer = createNodeSigner(new Uint8Array(32).fill(7));
const intruder = createNodeSigner(new Uint8Array(32).fill(9));

/** Five records as the writer makes them: accepted, fact, accepted, rejected, accepted. */
function makeChain(): { records: DecisionRecord[]; genesisHash: string } {
  const w = new World();
  const genesisHash = w.state.meta.genesis_hash;
  const steps = [
    () => w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('config') }),
    () => w.fact('license', { status: 'active', license_id: 'lic-1' }),
    () => w.propose(CAST.operator, 'Boot_Licensed'),
    () => w.propose(CAST.stranger, 'Control_Pause', { reason: 'no' }),
    () => w.propose(CAST.admin, 'Identity_Grant', { identity: CAST.c3.signer, roles: ['council'] }),
  ];
  let prev: string = chainStart(nodeHasher, genesisHash);
  const records = steps.map((step) => {
    const r = step();
    const content = drContent('test', { seq: w.seq, wal_entry_hash: h(`entry-${w.seq}`) }, r, prev);
    prev = drHash(nodeHasher, content);
    return decodeDr(encodeDr(signDr(content, writer))); // through the wire form
  });
  return { records, genesisHash };
}

function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`no element ${i}`);
  return x;
}

function flipHex(s: string, i: number): string {
  return s.slice(0, i) + (s[i] === '0' ? '1' : '0') + s.slice(i + 1);
}

describe('verifying decision records', () => {
  const { records, genesisHash } = makeChain();
  const [r1, r2, r3] = [at(records, 0), at(records, 1), at(records, 2)];
  const badSignature = `signature: does not verify for writer ${writer.signer}`;
  const clean = { ok: true, problems: [] };

  it('Given records as the writer stores them, Then each and the run verify from genesis', () => {
    expect(records.map((r) => r.outcome))
      .toEqual(['accepted', 'fact', 'accepted', 'rejected', 'accepted']);
    expect(verifyRecord(r1, null, { genesisHash })).toEqual(clean);
    expect(verifyRecord(r2, r1)).toEqual(clean);
    expect(verifyChain(records, genesisHash)).toEqual(clean);
    const strict = { writers: [writer.signer], verifier: createNodeVerifier() };
    expect(verifyChain(records, genesisHash, strict)).toEqual(clean);
    expect(verifyChain([])).toEqual(clean);
  });

  it('Given changed content, Then its signature fails and the next link breaks', () => {
    const tampered = { ...r2, justification: 'nothing to see here' };
    expect(verifyRecord(tampered, r1).problems).toEqual([badSignature]);
    const run = verifyChain([r1, tampered, r3], genesisHash);
    expect(run.ok).toBe(false);
    expect(run.problems).toHaveLength(2);
    expect(run.problems[0]).toBe(`wal_seq 2: ${badSignature}`);
    expect(run.problems[1])
      .toMatch(/^wal_seq 3: chain: prev_dr_hash .* is not the hash of record 2/);
  });

  it('Given a record whose signature was changed, Then only its signature fails', () => {
    const forged = { ...r2, signature: flipHex(r2.signature, 10) };
    expect(verifyRecord(forged, r1).problems).toEqual([badSignature]);
    expect(verifyRecord({ ...r2, signature: 'zz' }, r1).problems).toEqual([badSignature]);
  });

  it('Given a record re-signed after its link was changed, Then it signs but does not link', () => {
    const relinked = signDr({ ...contentOf(r2), prev_dr_hash: h('elsewhere') }, writer);
    const v = verifyRecord(relinked, r1);
    expect(v.problems).toHaveLength(1);
    expect(v.problems[0])
      .toMatch(/^chain: prev_dr_hash sha256-\w+ is not the hash of record 1, sha256-/);
  });

  it('Given a chain re-signed from genesis by another key, Then a writers list catches it', () => {
    const start = signDr(contentOf(r1), intruder);
    expect(verifyRecord(start, null, { genesisHash })).toEqual(clean);
    expect(verifyRecord(start, null, { genesisHash, writers: [writer.signer] }).problems)
      .toEqual([`writer: ${intruder.signer} is not a trusted writer`]);
  });

  it('Given a gap, a wrong genesis, or a run not from 1, Then the problem says which', () => {
    expect(verifyChain([r1, r3]).problems).toEqual([
      'wal_seq 3: chain: the previous record is wal_seq 1, this is 3; ' +
        'only consecutive records link (follow without filters)',
    ]);
    expect(verifyRecord(r1, null, { genesisHash: h('other genesis') }).problems[0])
      .toMatch(/is not the chain start/);
    expect(verifyChain([r2, r3], genesisHash).problems[0])
      .toMatch(/^wal_seq 2: chain: wal_seq 2 is not the first record/);
    expect(verifyChain([r2, r3], genesisHash, { previous: r1 })).toEqual(clean);
    // Neither genesis nor previous: the first link cannot be checked, the rest still are.
    expect(verifyChain([r2, r3])).toEqual(clean);
  });

  it('Given something that is not a record, Then a problem, never an exception', () => {
    const junk = {} as DecisionRecord;
    const v = verifyRecord(junk, null);
    expect(v.ok).toBe(false);
    expect(v.problems[0]).toMatch(/^record: not a decision record/);
    expect(verifyChain([junk]).problems[0]).toMatch(/^records\[0\]: record: not a decision record/);
  });
});
