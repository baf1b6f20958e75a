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
import { CAST, h } from '../../src/proving/sim/world.js';
import { DeploymentSim } from '../../src/proving/sim/deployment.js';

const writer = createNodeSigner(new Uint8Array(32).fill(7));
const intruder = createNodeSigner(new Uint8Array(32).fill(9));

/**
 * Five records as the writer makes them, in two chains: default #1 accepted, _deployment #1
 * fact, default #2 accepted, default #3 rejected, _deployment #2 accepted.
 */
function makeChain(): { records: DecisionRecord[]; genesisHash: string } {
  const w = new DeploymentSim();
  const genesisHash = w.deployment.meta.genesis_hash;
  const steps = [
    () => w.propose(CAST.operator, 'default', 'Boot_ConfigOk', { config_hash: h('config') }),
    () => w.fact('license', { status: 'active', license_id: 'lic-1' }),
    () => w.propose(CAST.operator, 'default', 'Boot_Licensed'),
    () => w.propose(CAST.stranger, 'default', 'Control_Pause', { reason: 'no' }),
    () => w.propose(CAST.admin, null, 'Identity_Grant', { identity: CAST.c3.signer, roles: ['council'] }),
  ];
  const heads = new Map<string, { index: number; prev: string }>();
  const records = steps.map((step) => {
    const r = step();
    const head = heads.get(r.chain) ?? { index: 0, prev: chainStart(nodeHasher, genesisHash, r.chain) };
    const content = drContent('test', { seq: w.seq, wal_entry_hash: h(`entry-${w.seq}`) }, r,
      { index: head.index + 1, prevDrHash: head.prev });
    heads.set(r.chain, { index: head.index + 1, prev: drHash(nodeHasher, content) });
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
  // r1 → r3 → r4 is the default project's chain; d1 → d2 the deployment's.
  const [r1, d1, r3, r4, d2] = [0, 1, 2, 3, 4].map((i) => at(records, i)) as [
    DecisionRecord, DecisionRecord, DecisionRecord, DecisionRecord, DecisionRecord];
  const badSignature = `signature: does not verify for writer ${writer.signer}`;
  const clean = { ok: true, problems: [] };

  it('Given records as the writer stores them, Then each and the run verify from genesis, per chain', () => {
    expect(records.map((r) => r.outcome))
      .toEqual(['accepted', 'fact', 'accepted', 'rejected', 'accepted']);
    expect(records.map((r) => `${r.project}#${r.chain_index}`))
      .toEqual(['default#1', '_deployment#1', 'default#2', 'default#3', '_deployment#2']);
    expect(verifyRecord(r1, null, { genesisHash })).toEqual(clean);
    expect(verifyRecord(d1, null, { genesisHash })).toEqual(clean);
    expect(verifyRecord(r3, r1)).toEqual(clean);
    expect(verifyRecord(d2, d1)).toEqual(clean);
    expect(verifyChain(records, genesisHash)).toEqual(clean);
    const strict = { writers: [writer.signer], verifier: createNodeVerifier() };
    expect(verifyChain(records, genesisHash, strict)).toEqual(clean);
    expect(verifyChain([])).toEqual(clean);
  });

  it('Given changed content, Then its signature fails and the next link of its chain breaks', () => {
    const tampered = { ...r3, justification: 'nothing to see here' };
    expect(verifyRecord(tampered, r1).problems).toEqual([badSignature]);
    const run = verifyChain([r1, d1, tampered, r4], genesisHash);
    expect(run.ok).toBe(false);
    expect(run.problems).toHaveLength(2);
    expect(run.problems[0]).toBe(`wal_seq 3: ${badSignature}`);
    expect(run.problems[1])
      .toMatch(/^wal_seq 4: chain: prev_dr_hash .* is not the hash of chain default #2/);
  });

  it('Given a record whose signature was changed, Then only its signature fails', () => {
    const forged = { ...r3, signature: flipHex(r3.signature, 10) };
    expect(verifyRecord(forged, r1).problems).toEqual([badSignature]);
    expect(verifyRecord({ ...r3, signature: 'zz' }, r1).problems).toEqual([badSignature]);
  });

  it('Given a record re-signed after its link was changed, Then it signs but does not link', () => {
    const relinked = signDr({ ...contentOf(r3), prev_dr_hash: h('elsewhere') }, writer);
    const v = verifyRecord(relinked, r1);
    expect(v.problems).toHaveLength(1);
    expect(v.problems[0])
      .toMatch(/^chain: prev_dr_hash sha256-\w+ is not the hash of chain default #1, sha256-/);
  });

  it('Given a chain re-signed from genesis by another key, Then a writers list catches it', () => {
    const start = signDr(contentOf(r1), intruder);
    expect(verifyRecord(start, null, { genesisHash })).toEqual(clean);
    expect(verifyRecord(start, null, { genesisHash, writers: [writer.signer] }).problems)
      .toEqual([`writer: ${intruder.signer} is not a trusted writer (unknown_writer)`]);
  });

  it('Given a gap, another chain, a wrong genesis, or a run not from 1, Then the problem says which', () => {
    expect(verifyChain([r1, r4]).problems).toEqual([
      'wal_seq 4: chain: the previous record is chain default #1, this is #3; ' +
        'only consecutive records of a chain link',
    ]);
    expect(verifyRecord(d2, r1).problems[0]).toMatch(/^chain: the previous record is of chain default/);
    expect(verifyRecord(r1, null, { genesisHash: h('other genesis') }).problems[0])
      .toMatch(/is not the start .* of chain default/);
    expect(verifyChain([r3, r4], genesisHash).problems[0])
      .toMatch(/^wal_seq 3: chain: chain default #2 is not the chain's first record/);
    expect(verifyChain([r3, r4], genesisHash, { previous: r1 })).toEqual(clean);
    // Neither genesis nor previous: the first link cannot be checked, the rest still are.
    expect(verifyChain([r3, r4])).toEqual(clean);
  });

  it('Given something that is not a record, Then a problem, never an exception', () => {
    const junk = {} as DecisionRecord;
    const v = verifyRecord(junk, null);
    expect(v.ok).toBe(false);
    expect(v.problems[0]).toMatch(/^record: not a decision record/);
    expect(verifyChain([junk]).problems[0]).toMatch(/^records\[0\]: record: not a decision record/);
  });
});
