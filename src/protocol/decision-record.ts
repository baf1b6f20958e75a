/**
 * Decision records (ARCHITECTURE §5): one per WAL entry, in exactly one chain (a project's or
 * the deployment's), hash-chained within the chain, signed by the writer.
 *
 * A record is its *content* plus `writer` and `signature`. The content is a pure function of
 * the WAL entry, the chain's state before it and the chain's previous record, so any writer —
 * the first one or one that took over after a failover — computes byte-identical content;
 * recovery and followers compare content bytes. Each chain runs over content hashes:
 *
 *   dr_hash(r)           = H(JCS(content of r))
 *   prev_dr_hash(c, 1)   = H("swoosh/dr/v1|" + genesis_hash + "|" + c)
 *   prev_dr_hash(c, n)   = dr_hash(record n-1 of chain c)
 *
 * and the signature is Ed25519 over `swoosh/dr/v1\n ‖ JCS(content + writer)`.
 */
import {
  type Decision,
  type GuardOutcome,
  type ChainStep,
  type Hasher,
  type Sha256,
  type State,
  hashJcs,
  hashText,
  jcs,
  writerAllowed,
  writerKeys,
} from '../core/index.js';
import { DOMAIN } from '../crypto/domains.js';
import type { NodeSigner } from '../crypto/node-sign.js';
import type { SignatureVerifier } from '../crypto/verify.js';

/** Decision fields a record carries verbatim. */
type DecisionFields = Pick<Decision,
  | 'outcome' | 'channel' | 'transition' | 'region' | 'signer' | 'idem_key' | 'hlc' | 'window_id'
  | 'inputs_hash' | 'evidence' | 'code' | 'message' | 'failing_guard' | 'guard_outcomes'
  | 'justification' | 'original' | 'applied' | 'log_ms'>;

/**
 * Format version of decision records. v2 records are decided under the rules that hold on
 * every supported runtime: SWOOSH's own Ed25519 prechecks (docs/signatures.md §3) and
 * rejection messages SWOOSH composes itself. v1 records (SWOOSH 0.1) could carry engine text
 * and OpenSSL-version-dependent verdicts, so they cannot be recomputed equal; a deployment
 * holding them is moved by re-genesis (docs/upgrading.md, docs/adr/0001). v3 records belong to
 * chains (contract v2: `project`, `chain_index`, one chain per project plus the deployment's);
 * a v2 log is one chain of one project and is moved the same way (docs/upgrading.md).
 */
export const DR_FORMAT_VERSION = 3;

/** The deterministic part of a decision record. */
export interface DrContent extends DecisionFields {
  readonly v: typeof DR_FORMAT_VERSION;
  readonly dr_id: string;
  /** The chain: a project id, or `_deployment`. */
  readonly project: string;
  /** Position in the chain, from 1. */
  readonly chain_index: number;
  readonly ucxl: string;
  readonly wal_seq: number;
  readonly wal_entry_hash: string;
  readonly state_pre_hash: string;
  readonly state_post_hash: string;
  readonly facts_pre_hash: string;
  readonly facts_post_hash: string;
  /** identities_hash after the entry: the deployment's registry of signers (contract v2 §2). */
  readonly identities_post_hash: string;
  readonly applied_count: number;
  readonly prev_dr_hash: string;
}

/** A signed decision record as stored on the DECISIONS stream (JCS JSON). */
export interface DecisionRecord extends DrContent {
  readonly writer: string;
  readonly signature: string;
}

/** Where an entry sits in the WAL. */
export interface EntryMeta {
  readonly seq: number;
  readonly wal_entry_hash: string;
}

/** A chain's starting point: what its first record's prev_dr_hash names. */
export function chainStart(hasher: Hasher, genesisHash: string, chain: string): Sha256 {
  return hashText(hasher, `swoosh/dr/v1|${genesisHash}|${chain}`);
}

/** `bubble://dr/<instance>/<chain>/<chain index>`. */
export function drIdOf(instance: string, chain: string, index: number): string {
  return `bubble://dr/${instance}/${chain}/${index}`;
}

/** Where a record sits in its chain. */
export interface ChainLink {
  readonly index: number;
  readonly prevDrHash: string;
}

/** Build the content of the record for one step. */
export function drContent(
  instance: string,
  meta: EntryMeta,
  r: ChainStep,
  link: ChainLink,
): DrContent {
  const d = r.decision;
  return {
    v: DR_FORMAT_VERSION,
    dr_id: drIdOf(instance, r.chain, link.index),
    project: r.chain,
    chain_index: link.index,
    ucxl: `ucxl://swoosh:${instance}@wal/${meta.seq}`,
    wal_seq: meta.seq,
    wal_entry_hash: meta.wal_entry_hash,
    log_ms: d.log_ms,
    outcome: d.outcome,
    channel: d.channel,
    transition: d.transition,
    region: d.region,
    signer: d.signer,
    idem_key: d.idem_key,
    hlc: d.hlc,
    window_id: d.window_id,
    inputs_hash: d.inputs_hash,
    evidence: d.evidence,
    code: d.code,
    message: d.message,
    failing_guard: d.failing_guard,
    guard_outcomes: d.guard_outcomes,
    justification: d.justification,
    original: d.original,
    applied: d.applied,
    state_pre_hash: r.pre.head,
    state_post_hash: r.post.head,
    facts_pre_hash: r.pre.facts,
    facts_post_hash: r.post.facts,
    identities_post_hash: r.post.identities,
    applied_count: r.state.clock.applied_count,
    prev_dr_hash: link.prevDrHash,
  };
}

/** Content hash: what the next record's prev_dr_hash names. */
export function drHash(hasher: Hasher, content: DrContent): Sha256 {
  return hashJcs(hasher, contentOf(content));
}

/** One JCS object member: the key and its `"key":value` text. */
export interface JcsMember {
  readonly key: string;
  readonly text: string;
}

/** The members of a record's content, each serialized once, in JCS key order. */
export function contentMembers(content: DrContent): JcsMember[] {
  const o = content as unknown as Record<string, unknown>;
  const out: JcsMember[] = [];
  for (const key of Object.keys(o).sort()) {
    const v = o[key];
    if (v === undefined) continue; // as jcs() does
    out.push({ key, text: `${jcs(key)}:${jcs(v)}` });
  }
  return out;
}

/** JCS text of a record's content, with where each member starts (for inserting members). */
export interface ContentText {
  readonly text: string;
  readonly keys: readonly string[];
  /** Offset of each member's text within `text`, in key order. */
  readonly starts: readonly number[];
}

/** Join members (in key order) into the content's JCS text, keeping member offsets. */
export function contentTextOf(members: readonly JcsMember[]): ContentText {
  const starts: number[] = [];
  let at = 1;
  for (const m of members) {
    starts.push(at);
    at += m.text.length + 1;
  }
  return {
    text: `{${members.map((m) => m.text).join(',')}}`,
    keys: members.map((m) => m.key),
    starts,
  };
}

/**
 * JCS text of the content plus `extra` string members (writer, signature), by slicing them into
 * the content's text at their key order: equal to `jcs({...content, ...extra})` (a test pins
 * it), without serializing the content three times per record (hash, signing bytes, wire).
 */
export function composeRecordText(
  c: ContentText,
  extra: Readonly<Record<string, string>> = {},
): string {
  const body = c.text.slice(1, -1);
  let out = '';
  let from = 0;
  for (const key of Object.keys(extra).sort()) {
    let idx = 0;
    while (idx < c.keys.length && (c.keys[idx] ?? '') < key) idx += 1;
    if (c.keys[idx] === key) throw new Error(`composeRecordText: member ${key} given twice`);
    const member = `${jcs(key)}:${jcs(extra[key])}`;
    if (idx < c.keys.length) {
      const cut = (c.starts[idx] ?? 1) - 1;
      out += `${body.slice(from, cut)}${member},`;
      from = cut;
    } else {
      out += body.slice(from);
      from = body.length;
      out += `${out === '' ? '' : ','}${member}`;
    }
  }
  return `{${out}${body.slice(from)}}`;
}

/** The bytes the writer signs: `swoosh/dr/v1\n ‖ JCS(content + writer)`. */
export function drSigningBytes(c: ContentText, writer: string): Uint8Array {
  return new TextEncoder().encode(`${DOMAIN.dr}\n${composeRecordText(c, { writer })}`);
}

/** Strip writer and signature from a record. */
export function contentOf(r: DrContent | DecisionRecord): DrContent {
  const { writer: _w, signature: _s, ...content } = r as DecisionRecord;
  return content;
}

/** Sign content as `signer`. */
export function signDr(content: DrContent, signer: NodeSigner): DecisionRecord {
  const unsigned = { ...content, writer: signer.signer };
  return { ...unsigned, signature: signer.signObject(DOMAIN.dr, unsigned) };
}

/** Wire bytes of a record (JCS JSON, UTF-8). */
export function encodeDr(r: DecisionRecord): Uint8Array {
  return new TextEncoder().encode(jcs(r));
}

/** Parse a record from the wire. Throws on malformed JSON (a stored record is never malformed). */
export function decodeDr(data: Uint8Array): DecisionRecord {
  return JSON.parse(new TextDecoder().decode(data)) as DecisionRecord;
}

/** True when the record's signature verifies for its writer. */
export function verifyDrSignature(r: DecisionRecord, verifier: SignatureVerifier): boolean {
  const { signature, ...unsigned } = r;
  const msg = new TextEncoder().encode(`${DOMAIN.dr}\n${jcs(unsigned)}`);
  return verifier.verify(r.writer, msg, signature);
}

/**
 * Why a record cannot count although its signature verifies: its writer did not hold the
 * writer role in the registry the record's entry was decided on (`identities`: the deployment's
 * registry before that entry). Null when it did, or when the registry pins no writer.
 */
export function writerProblem(
  identities: State['identities'],
  r: { readonly writer: string },
): string | null {
  if (writerAllowed(identities, r.writer)) return null;
  const keys = writerKeys(identities);
  return `${r.writer} is not a writer of this deployment at that position ` +
    `(writers: ${keys.join(', ')}); Writer_Rotate changes them`;
}

/** Subject token for a transition or fact kind (`_` when unknown). */
export function subjectToken(name: string | null): string {
  return name !== null && /^[A-Za-z0-9_-]+$/.test(name) ? name : '_';
}

/** The TRANSITIONS record of one applied transition (brief §7 WAL record). */
export interface TransitionRecord {
  readonly v: 2;
  /**
   * Which applied transition this is, from 1: with one writer, of the whole deployment (the
   * TRANSITIONS stream's sequence); with writers by bucket, of its project's chain.
   */
  readonly applied_index: number;
  readonly dr_id: string;
  /** The chain (project) whose document the transition changed. */
  readonly project: string;
  readonly wal_seq: number;
  readonly transition: string;
  readonly region: string;
  readonly automatic: boolean;
  readonly signer: string | null;
  readonly idem_key: string | null;
  readonly hlc: string | null;
  readonly window_id: string | null;
  readonly inputs_hash: string | null;
  readonly evidence: readonly string[];
  readonly guard_outcomes: readonly GuardOutcome[];
  readonly timestamp_ms: number;
  readonly state_pre_hash: string;
  readonly state_post_hash: string;
}

/** TRANSITIONS records for a step; `firstIndex` is the applied count before it, plus one. */
export function transitionRecords(
  content: DrContent,
  regionOf: (t: string) => string,
  firstIndex: number,
): TransitionRecord[] {
  return content.applied.map((t, i) => ({
    v: 2,
    applied_index: firstIndex + i,
    dr_id: content.dr_id,
    project: content.project,
    wal_seq: content.wal_seq,
    transition: t,
    region: regionOf(t),
    automatic: t !== content.transition,
    signer: content.signer,
    idem_key: content.idem_key,
    hlc: content.hlc,
    window_id: content.window_id,
    inputs_hash: content.inputs_hash,
    evidence: content.evidence,
    guard_outcomes: content.guard_outcomes,
    timestamp_ms: content.log_ms,
    state_pre_hash: content.state_pre_hash,
    state_post_hash: content.state_post_hash,
  }));
}
