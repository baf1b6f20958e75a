/**
 * Council votes and quorum certificates (src/core/guards/quorum). A voter signs
 * `{voter, member_set_hash, term}` under `swoosh/vote/v1`; a council member collects enough
 * votes and proposes `Council_QuorumCert` with the member set, its hash, the term and the
 * votes. Portable: no node:* imports.
 */
import {
  PROJECT_RE,
  SIGNER_RE,
  hashJcs,
  isSha256,
  memberSetHash as memberSetHashWith,
} from '../core/index.js';
import { nobleHasher } from '../crypto/hasher-portable.js';
import { DOMAIN } from '../crypto/domains.js';
import { withSignature } from '../crypto/sign.js';
import type { Identity } from './identity.js';

/** A vote without its signature: the object the voter signs. */
export type UnsignedVote = {
  readonly voter: string;
  /** The project the vote is for (contract v2 §2); absent for the v1 default project. */
  readonly project?: string;
  readonly member_set_hash: string;
  readonly term: number;
};

/** A signed vote, as carried in `Council_QuorumCert` inputs. */
export type SignedVote = UnsignedVote & { readonly signature: string };

/** The inputs of a `Council_QuorumCert` proposal. */
export type QuorumCertInputs = {
  readonly members: readonly string[];
  readonly member_set_hash: string;
  readonly term: number;
  readonly votes: readonly SignedVote[];
};


/**
 * The canonical member-set hash: `sha256-` of the JCS of the sorted, distinct member ids
 * (the quorum guard's own function, over the portable hasher).
 */
export function memberSetHash(members: readonly string[]): string {
  return memberSetHashWith((v) => hashJcs(nobleHasher, v), members);
}

function checkTerm(term: number, who: string): void {
  if (!Number.isSafeInteger(term) || term < 0) {
    throw new TypeError(`${who}: term must be a non-negative integer`);
  }
}

/**
 * An unsigned vote by `voter` for the member set hashed as `memberSetHash` in council `term`
 * (the council's current `council.term`). Throws TypeError on a malformed field.
 */
export function buildVote(args: {
  readonly voter: string;
  readonly memberSetHash: string;
  readonly term: number;
  /** The project the certificate is for; leave out only for v1 proposals naming none. */
  readonly project?: string | undefined;
}): UnsignedVote {
  if (!SIGNER_RE.test(args.voter)) throw new TypeError('buildVote: voter: expected a signer id');
  if (args.project !== undefined && !PROJECT_RE.test(args.project)) {
    throw new TypeError('buildVote: project: expected a project id');
  }
  if (!isSha256(args.memberSetHash)) {
    throw new TypeError('buildVote: memberSetHash: expected sha256-<64 lowercase hex>');
  }
  checkTerm(args.term, 'buildVote');
  return {
    voter: args.voter,
    ...(args.project === undefined ? {} : { project: args.project }),
    member_set_hash: args.memberSetHash,
    term: args.term,
  };
}

/** `vote` signed by `identity`, which must be its voter (else TypeError). */
export function signVote(vote: UnsignedVote | SignedVote, identity: Identity): SignedVote {
  if (vote.voter !== identity.signer) {
    throw new TypeError(
      `signVote: the vote is by ${vote.voter}, the identity is ${identity.signer}`);
  }
  return withSignature(DOMAIN.vote, vote, identity.secretKey);
}

/**
 * `Council_QuorumCert` inputs over `members` (sorted and de-duplicated) and the collected
 * `votes`. Throws TypeError when a vote names another member set or term: the server would
 * reject the whole certificate (`vote_mismatch`).
 */
export function quorumCertInputs(args: {
  readonly members: readonly string[];
  readonly term: number;
  readonly votes: readonly SignedVote[];
}): QuorumCertInputs {
  checkTerm(args.term, 'quorumCertInputs');
  const members = [...new Set(args.members)].sort();
  const msh = memberSetHash(members);
  const i = args.votes.findIndex((v) => v.member_set_hash !== msh || v.term !== args.term);
  if (i >= 0) {
    throw new TypeError(`quorumCertInputs: votes[${i}] is for another member set or term`);
  }
  return { members, member_set_hash: msh, term: args.term, votes: [...args.votes] };
}
