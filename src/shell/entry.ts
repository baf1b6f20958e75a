/**
 * Turning a decoded WAL message into the core's WalEntry. This is where signature verdicts
 * are born: the envelope signature over `DOMAIN\n ‖ body`, and for council quorum
 * certificates every embedded vote (`swoosh/vote/v1`). Verification is a pure function of the
 * bytes under the one rule of docs/signatures.md, so every replica computes the same verdicts.
 */
import type { EntryChannel, SigVerdict, WalEntry, WalSeq } from '../core/types.js';
import { DOMAIN } from '../crypto/domains.js';
import { jcs } from '../core/json.js';
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
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
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

/** Verdicts on the votes of a Council_QuorumCert body, in input order. */
function voteVerdicts(parsed: unknown, verifier: SignatureVerifier): SigVerdict[] {
  const inputs = (parsed as { inputs?: { votes?: unknown } }).inputs;
  const votes = inputs?.votes;
  if (!Array.isArray(votes)) return [];
  return votes.map((v: unknown) => {
    if (typeof v !== 'object' || v === null) return false as SigVerdict;
    const { signature, ...unsigned } = v as Record<string, unknown>;
    const voter = unsigned['voter'];
    if (typeof signature !== 'string' || typeof voter !== 'string') return false as SigVerdict;
    let text: string;
    try {
      text = jcs(unsigned);
    } catch (err) {
      void err; // an unencodable vote simply does not verify
      return false as SigVerdict;
    }
    const msg = enc.encode(`${DOMAIN.vote}\n${text}`);
    return verifier.verify(voter, msg, signature) as SigVerdict;
  });
}

/** Build the core's entry for a decoded message. Never throws on bad bytes. */
export function entryFromRaw(raw: RawSigned, verifier: SignatureVerifier): WalEntry {
  const seq = raw.seq as WalSeq;
  let body: string;
  try {
    body = utf8.decode(raw.body);
  } catch (err) {
    return {
      type: 'malformed', seq, log_ms: raw.logMs, channel: raw.channel, name: raw.name,
      code: 'invalid_utf8', message: `body is not UTF-8: ${(err as Error).message}`,
    };
  }
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    void err; // the core reports the JSON problem with the schema stage's code
  }
  const signer = signerOf(parsed);
  const domain = raw.channel === 'fact' ? DOMAIN.fact : DOMAIN.proposal;
  const msg = concat(enc.encode(`${domain}\n`), raw.body);
  const sig = (signer !== null && raw.sig.length === 64 && verifier.verify(signer, msg, toHex(raw.sig))) as SigVerdict;
  const embedded = raw.channel === 'proposal' && raw.name === 'Council_QuorumCert' && parsed !== null
    ? voteVerdicts(parsed, verifier) : [];
  return { type: 'signed', seq, log_ms: raw.logMs, channel: raw.channel, name: raw.name, body, sig, embedded };
}
