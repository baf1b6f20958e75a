/**
 * Verifying what SWOOSH publishes, with nothing but the records themselves: each decision
 * record's writer signature (domain `swoosh/dr/v1`) and the hash chain that links it to the
 * previous record of its chain (a project's, or `_deployment`; docs/runtime.md, "Decision
 * records"):
 *
 *   prev_dr_hash(c, 1) = H("swoosh/dr/v1|" + genesis_hash + "|" + c)
 *   prev_dr_hash(c, n) = H(JCS(content of record n−1 of chain c))
 *                        (content = record − writer − signature)
 *
 * Also the signatures of proposals, votes and facts (e.g. votes collected from peers).
 * Signatures are checked with the portable noble verifier, which applies the same rule as the
 * server's node:crypto one. Its module (src/crypto/verify.ts) also defines the server verifier
 * and so imports node:crypto; a browser bundle needs that module split (see docs/sdk.md).
 */
import { DOMAIN } from '../crypto/domains.js';
import { nobleHasher } from '../crypto/hasher-portable.js';
import {
  createNobleVerifier,
  verifyObject,
  type SignatureVerifier,
} from '../crypto/verify-portable.js';
import {
  chainStart,
  contentOf,
  drHash,
  verifyDrSignature,
  type DecisionRecord,
} from '../protocol/decision-record.js';
import type { SignedFact } from './fact.js';
import type { SignedProposal } from './proposal.js';
import type { SignedVote } from './vote.js';

/** Options of {@link verifyRecord}. */
export interface VerifyRecordOptions {
  /**
   * The instance's genesis hash. With it, a record with no previous record must be WAL entry
   * 1 and link to the chain start; without it, such a record's link is not checked.
   */
  readonly genesisHash?: string | null;
  /** Writer signer ids to trust; a record by any other writer is a problem. Default: any. */
  readonly writers?: readonly string[];
  /** Default: the portable noble verifier. */
  readonly verifier?: SignatureVerifier;
}

/** A verdict: `ok` exactly when `problems` is empty; each problem names the check. */
export interface VerifyResult {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

const defaultVerifier = createNobleVerifier();

function isRecordShaped(r: unknown): r is DecisionRecord {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Readonly<Record<string, unknown>>;
  return typeof o['writer'] === 'string' && typeof o['signature'] === 'string' &&
    typeof o['prev_dr_hash'] === 'string' && Number.isSafeInteger(o['wal_seq']) &&
    typeof o['project'] === 'string' && Number.isSafeInteger(o['chain_index']);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The problem with the record's link to `previous` (or to the chain start), if any. */
function linkProblem(
  record: DecisionRecord,
  previous: DecisionRecord | null,
  genesisHash: string | null,
): string | null {
  const where = `chain ${record.project}`;
  if (previous !== null) {
    if (previous.project !== record.project) {
      return `chain: the previous record is of chain ${previous.project}, this one of ` +
        `${record.project}; records link within their chain`;
    }
    if (previous.chain_index + 1 !== record.chain_index) {
      return `chain: the previous record is ${where} #${previous.chain_index}, this is ` +
        `#${record.chain_index}; only consecutive records of a chain link`;
    }
    const expected = drHash(nobleHasher, contentOf(previous));
    return record.prev_dr_hash === expected ? null
      : `chain: prev_dr_hash ${record.prev_dr_hash} is not the hash of ${where} ` +
        `#${previous.chain_index}, ${expected}`;
  }
  if (genesisHash === null) return null;
  if (record.chain_index !== 1) {
    return `chain: ${where} #${record.chain_index} is not the chain's first record; ` +
      'pass its previous record to check its link';
  }
  const start = chainStart(nobleHasher, genesisHash, record.project);
  return record.prev_dr_hash === start ? null
    : `chain: prev_dr_hash ${record.prev_dr_hash} is not the start ${start} of ${where} of ` +
      `genesis ${genesisHash}`;
}

/**
 * Check one decision record: its writer's signature, the writer against `opts.writers`, and
 * its link to `previous` (the record at `wal_seq − 1`), or to the chain start when `previous`
 * is null and `opts.genesisHash` is given. Tampering with any field of the content or with the
 * signature fails the signature; a record re-signed by another key fails the writer check or
 * the next record's link. Never throws.
 */
export function verifyRecord(
  record: DecisionRecord,
  previous: DecisionRecord | null,
  opts: VerifyRecordOptions = {},
): VerifyResult {
  if (!isRecordShaped(record)) {
    return { ok: false, problems: ['record: not a decision record (writer, signature, ' +
      'prev_dr_hash, wal_seq, project or chain_index missing)'] };
  }
  const problems: string[] = [];
  try {
    if (!verifyDrSignature(record, opts.verifier ?? defaultVerifier)) {
      problems.push(`signature: does not verify for writer ${record.writer}`);
    }
  } catch (err) {
    problems.push(`signature: the record cannot be encoded (${message(err)})`);
  }
  if (opts.writers !== undefined && !opts.writers.includes(record.writer)) {
    problems.push(`writer: ${record.writer} is not a trusted writer (unknown_writer)`);
  }
  try {
    const link = linkProblem(record, previous, opts.genesisHash ?? null);
    if (link !== null) problems.push(link);
  } catch (err) {
    problems.push(`chain: the previous record cannot be hashed (${message(err)})`);
  }
  return { ok: problems.length === 0, problems };
}

/** Options of {@link verifyChain} beyond the genesis hash. */
export interface VerifyChainOptions extends Omit<VerifyRecordOptions, 'genesisHash'> {
  /**
   * When the run does not start at WAL entry 1: the last record before it of each chain the
   * run continues (one record, or one per chain).
   */
  readonly previous?: DecisionRecord | readonly DecisionRecord[] | null;
}

/**
 * Check a consecutive run of records (as `follow()` without filters yields them): every
 * signature and every link, the first one to `opts.previous` or, given `genesisHash`, to the
 * chain start (then the run must start at WAL entry 1). Problems are prefixed with the
 * record's `wal_seq`. An empty run is ok.
 */
export function verifyChain(
  records: readonly DecisionRecord[],
  genesisHash: string | null = null,
  opts: VerifyChainOptions = {},
): VerifyResult {
  const problems: string[] = [];
  const last = new Map<string, DecisionRecord>();
  const prev = opts.previous;
  const seeds: readonly DecisionRecord[] = prev === undefined || prev === null
    ? []
    : Array.isArray(prev) ? prev : [prev as DecisionRecord];
  for (const p of seeds) {
    if (isRecordShaped(p)) last.set(p.project, p);
  }
  for (const [i, record] of records.entries()) {
    const shaped = isRecordShaped(record);
    const previous = shaped ? (last.get(record.project) ?? null) : null;
    const r = verifyRecord(record, previous, { ...opts, genesisHash });
    const at = shaped ? `wal_seq ${record.wal_seq}` : `records[${i}]`;
    problems.push(...r.problems.map((p) => `${at}: ${p}`));
    if (shaped) last.set(record.project, record);
  }
  return { ok: problems.length === 0, problems };
}

/** True when the proposal's signature verifies for its `signer`. */
export function verifyProposal(p: SignedProposal, verifier?: SignatureVerifier): boolean {
  return verifyObject(verifier ?? defaultVerifier, DOMAIN.proposal, p);
}

/** True when the vote's signature verifies for its `voter`. */
export function verifyVote(v: SignedVote, verifier?: SignatureVerifier): boolean {
  return verifyObject(verifier ?? defaultVerifier, DOMAIN.vote, v, v.voter);
}

/** True when the fact's signature verifies for its `signer`. */
export function verifyFact(f: SignedFact, verifier?: SignatureVerifier): boolean {
  return verifyObject(verifier ?? defaultVerifier, DOMAIN.fact, f);
}
