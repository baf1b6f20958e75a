/**
 * Turning a decoded WAL message into the core's WalEntry. This is where signature verdicts
 * are born: the envelope signature over `DOMAIN\n ‖ body`, and for council quorum
 * certificates every embedded vote (`swoosh/vote/v1`). Verification is a pure function of the
 * bytes under the one rule of docs/signatures.md, so every replica computes the same verdicts.
 */
import {
  type EntryChannel,
  type EntryScope,
  type SigVerdict,
  type WalEntry,
  type WalSeq,
  jcs,
  scanJson,
} from '../core/index.js';
import { DOMAIN } from '../crypto/domains.js';
import { firstInvalidUtf8 } from './utf8.js';
import type { SignatureVerifier } from '../crypto/verify.js';

/** A message taken off the WAL, envelope already decoded. */
export interface RawSigned {
  readonly seq: number;
  readonly logMs: number;
  readonly channel: EntryChannel;
  /** Last subject token (transition name or fact kind). */
  readonly name: string;
  /** UTF-8 body bytes as sent (JCS text of the object without its signature). */
  readonly body: Uint8Array;
  /** 64-byte Ed25519 signature. */
  readonly sig: Uint8Array;
  /** The subject's project or control scope (proposals), see parseWalSubject. */
  readonly scope?: EntryScope;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const enc = new TextEncoder();

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function signerOf(parsed: unknown): string | null {
  if (typeof parsed !== 'object' || parsed === null) return null;
  const s = (parsed as Record<string, unknown>)['signer'];
  return typeof s === 'string' ? s : null;
}

/**
 * One signature check a verdict depends on: `signer` over `message` (domain prefix included).
 * `null` stands for a check that cannot succeed whatever the verifier (no signer, a signature
 * of the wrong length, an unencodable vote): its verdict is false without verifying anything.
 */
export interface SigCheck {
  readonly signer: string;
  readonly message: Uint8Array;
  readonly signatureHex: string;
}

/**
 * Votes verified per entry at most: Council_QuorumCert's `votes.maxItems` (a test keeps the
 * two equal). An entry with more is refused by the schema stage before any guard reads a
 * verdict, so the checks past this many are never run (their verdict is false).
 */
export const VOTES_VERIFIED_MAX = 256;

/** The checks of a council vote list, in input order. */
function voteChecks(parsed: unknown): (SigCheck | null)[] {
  const inputs = (parsed as { inputs?: { votes?: unknown } }).inputs;
  const votes = inputs?.votes;
  if (!Array.isArray(votes)) return [];
  return votes.map((v: unknown, i) => {
    if (i >= VOTES_VERIFIED_MAX || typeof v !== 'object' || v === null) return null;
    const { signature, ...unsigned } = v as Record<string, unknown>;
    const voter = unsigned['voter'];
    if (typeof signature !== 'string' || typeof voter !== 'string') return null;
    let text: string;
    try {
      text = jcs(unsigned);
    } catch (err) {
      void err; // an unencodable vote simply does not verify
      return null;
    }
    return {
      signer: voter,
      message: enc.encode(`${DOMAIN.vote}\n${text}`),
      signatureHex: signature,
    };
  });
}

/**
 * A decoded message before its verdicts: the entry without them, and the checks that give
 * them — `checks[0]` the envelope signature, the rest the embedded votes in order. Splitting
 * here lets the writer verify a batch on worker threads ahead of the reducer; the verdicts are
 * a pure function of these bytes, so where they are computed cannot change a decision.
 */
export type PreparedEntry =
  | { readonly kind: 'final'; readonly entry: WalEntry }
  | {
    readonly kind: 'checks';
    readonly base: Omit<Extract<WalEntry, { type: 'signed' }>, 'sig' | 'embedded'>;
    readonly checks: readonly (SigCheck | null)[];
  };

/** Decode a message into its entry-to-be and its signature checks. Never throws on bad bytes. */
export function prepareEntry(raw: RawSigned): PreparedEntry {
  const seq = raw.seq as WalSeq;
  const badByte = firstInvalidUtf8(raw.body);
  if (badByte >= 0) {
    return {
      kind: 'final',
      entry: {
        type: 'malformed', seq, log_ms: raw.logMs, channel: raw.channel, name: raw.name,
        code: 'invalid_utf8', message: `body is not UTF-8 at byte ${badByte}`,
        ...(raw.scope === undefined ? {} : { scope: raw.scope }),
      },
    };
  }
  const body = utf8.decode(raw.body);
  // Only the signer is read here, to know whose key verifies the envelope; the core's schema
  // stage judges the JSON itself (SWOOSH's own scanner, depth-limited) and words any problem.
  const parsed = scanJson(body).ok ? (JSON.parse(body) as unknown) : null;
  const signer = signerOf(parsed);
  const domain = raw.channel === 'fact' ? DOMAIN.fact : DOMAIN.proposal;
  const envelope: SigCheck | null = signer !== null && raw.sig.length === 64
    ? { signer, message: concat(enc.encode(`${domain}\n`), raw.body), signatureHex: toHex(raw.sig) }
    : null;
  const embedded =
    raw.channel === 'proposal' && raw.name === 'Council_QuorumCert' && parsed !== null
      ? voteChecks(parsed)
      : [];
  return {
    kind: 'checks',
    base: {
      type: 'signed', seq, log_ms: raw.logMs, channel: raw.channel, name: raw.name, body,
      ...(raw.scope === undefined ? {} : { scope: raw.scope }),
    },
    checks: [envelope, ...embedded],
  };
}

/** The entry, given one verdict per check of `p` (in order). */
export function completeEntry(p: PreparedEntry, verdicts: readonly boolean[]): WalEntry {
  if (p.kind === 'final') return p.entry;
  if (verdicts.length !== p.checks.length) {
    throw new Error(
      `completeEntry: ${verdicts.length} verdicts for ${p.checks.length} checks at WAL seq ` +
      `${p.base.seq}`,
    );
  }
  const [sig = false, ...embedded] = verdicts;
  return { ...p.base, sig: sig as SigVerdict, embedded: embedded as SigVerdict[] };
}

/**
 * Verdicts of the checks with `verifier`, in this thread. The envelope first: when it does not
 * verify, no embedded vote is verified (all false), since the core refuses the entry with
 * `bad_signature` before anything reads a vote's verdict. So an unsigned message full of votes
 * costs one verification, not one per vote.
 */
export function verdictsOf(
  checks: readonly (SigCheck | null)[],
  verifier: SignatureVerifier,
): boolean[] {
  const one = (c: SigCheck | null | undefined): boolean =>
    c !== null && c !== undefined && verifier.verify(c.signer, c.message, c.signatureHex);
  const envelope = one(checks[0]);
  return checks.map((c, i) => (i === 0 ? envelope : envelope && one(c)));
}

/**
 * Build the core's entry for a decoded message, verifying in this thread. Never throws on bad
 * bytes.
 */
export function entryFromRaw(raw: RawSigned, verifier: SignatureVerifier): WalEntry {
  const p = prepareEntry(raw);
  return completeEntry(p, p.kind === 'final' ? [] : verdictsOf(p.checks, verifier));
}
