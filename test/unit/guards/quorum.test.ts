/**
 * HMMM quorum guard verdict table (guards/quorum). The council is in term 3; a certificate for
 * term 3 must carry votes signed for term 3: votes from the old term 2 (or a future term 4)
 * must not be replayable into it.
 */
import { describe, expect, it } from 'vitest';
import { quorumGuard } from '../../../src/core/guards/quorum.js';
import { memberSetHash } from '../../../src/core/domain/quorum.js';
import type { JsonObject, State } from '../../../src/core/index.js';
import { CAST, World, h } from '../../../src/proving/sim/world.js';
import { boot, ingest, ok } from '../../../src/proving/sim/walk.js';
import { COUNCIL_INPUTS } from '../../../src/proving/sim/walk.js';
import { ctx, expectVerdict, genesisState, hash } from './context.js';

const TERM = 3;
const members = [CAST.c1.signer, CAST.c2.signer].sort();
const MSH = memberSetHash(hash, members);
const s0 = genesisState();
const state: State = {
  ...s0,
  council: {
    ...s0.council, state: 'ELECT', term: TERM,
    plan: {
      required_roles: ['a', 'b'], candidates: [], unmatched_roles: [], coverage: { matched: 2, required: 2 },
      assignments: [{ role: 'a', agent: CAST.c1.signer }, { role: 'b', agent: CAST.c2.signer }],
    },
  },
};
const vote = (voter: string, term = TERM, msh = MSH): JsonObject => ({ voter, member_set_hash: msh, term, signature: 'ab' });
const cert = (o: { m?: string[]; msh?: string; term?: number; votes?: JsonObject[] } = {}): JsonObject => ({
  members: o.m ?? members, member_set_hash: o.msh ?? MSH, term: o.term ?? TERM,
  votes: o.votes ?? [vote(CAST.v1.signer), vote(CAST.v2.signer)],
});

describe('quorum guard', () => {
  it.each([
    ['two valid votes for this term and member set', null, cert(), [true, true]],
    ['three valid votes', null, cert({ votes: [vote(CAST.v1.signer), vote(CAST.v2.signer), vote(CAST.v3.signer)] }), [true, true, true]],
    ['a member_set_hash that is not the members', 'member_set_hash_mismatch', cert({ msh: h('forged') }), [true, true]],
    ['members the plan did not assign', 'members_not_planned', cert({ m: [CAST.c1.signer, CAST.c3.signer].sort(), msh: memberSetHash(hash, [CAST.c1.signer, CAST.c3.signer]) }), [true, true]],
    ['a certificate for another term', 'wrong_term', cert({ term: TERM + 1 }), [true, true]],
    ['a vote signed for the previous term', 'vote_mismatch', cert({ votes: [vote(CAST.v1.signer), vote(CAST.v2.signer, TERM - 1)] }), [true, true]],
    ['a vote signed for a later term', 'vote_mismatch', cert({ votes: [vote(CAST.v1.signer, TERM + 1), vote(CAST.v2.signer)] }), [true, true]],
    ['a vote for another member set', 'vote_mismatch', cert({ votes: [vote(CAST.v1.signer), vote(CAST.v2.signer, TERM, h('x'))] }), [true, true]],
    ['a vote whose signature does not verify', 'bad_vote_signature', cert(), [true, false]],
    ['a vote without a verdict', 'bad_vote_signature', cert(), [true]],
    ['a voter without the voter role', 'ineligible_voter', cert({ votes: [vote(CAST.v1.signer), vote(CAST.c3.signer)] }), [true, true]],
    ['the same voter twice', 'duplicate_voter', cert({ votes: [vote(CAST.v1.signer), vote(CAST.v1.signer)] }), [true, true]],
    ['one vote of two needed', 'quorum_not_met', cert({ votes: [vote(CAST.v1.signer)] }), [true]],
  ] as const)('Given %s, When Council_QuorumCert is checked, Then verdict %s (null: pass)', (_what, code, inputs, embedded) => {
    expectVerdict(quorumGuard(ctx('Council_QuorumCert', state, { inputs, embedded })), code);
  });

  it('Given really signed votes for term 1 while the council is in term 0, When the certificate names term 0, Then rejected as vote_mismatch and the council stays in ELECT', () => {
    const w = new World();
    boot(w);
    ingest(w);
    ok(w.propose(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS));
    const term = w.state.council.term;
    const msh = w.core.hash(members);
    const r = w.propose(CAST.c1, 'Council_QuorumCert', {
      members, member_set_hash: msh, term, votes: [w.vote(CAST.v1, msh, term + 1), w.vote(CAST.v2, msh, term + 1)],
    });
    expect(r.decision).toMatchObject({ outcome: 'rejected', failing_guard: 'quorum', code: 'vote_mismatch' });
    expect(w.state.council.state).toBe('ELECT');
    expect(w.state.council.quorum_cert).toBeNull();
  });
});
