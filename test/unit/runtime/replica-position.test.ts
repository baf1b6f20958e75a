/**
 * A replica's position is everything reads depend on: going back to one (a refused batch)
 * restores the log time that projects are caught up to, not only the documents.
 */
import { describe, expect, it } from 'vitest';
import { createCore } from '../../../src/core/index.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { createNodeVerifier } from '../../../src/crypto/verify.js';
import { Replica } from '../../../src/server/replication/replica.js';
import { castGenesis, parseFixtureGenesis, World } from '../../../src/proving/sim/world.js';
import { encodeEnvelope } from '../../../src/protocol/envelope.js';

describe('replica positions', () => {
  it('Given entries decided after a position, When the replica goes back to it, Then its sequence, hashes and log time are the position\'s', () => {
    const core = createCore(nodeHasher);
    const genesis = parseFixtureGenesis(castGenesis(), core);
    const r = Replica.fromGenesis(core, nodeHasher, createNodeVerifier(), genesis);
    const w = new World(castGenesis(), core, { baseMs: 1_800_000_000_000 });
    const msgOf = (seq: number, logMs: number) => {
      const e = w.factEntry('tick', {});
      if (e.type !== 'signed') throw new Error('unsigned');
      const sig = w.sigs.get(e.body) as Uint8Array;
      return { seq, logMs, subject: 'swoosh.facts.tick', data: encodeEnvelope(new TextEncoder().encode(e.body), sig) };
    };
    r.decideNext(msgOf(1, 1_800_000_000_100));
    const at = r.position();
    const hash = r.lastDrHash;
    r.decideNext(msgOf(2, 1_800_000_900_000));
    expect(r.lastLogMs).toBe(1_800_000_900_000);
    r.restore(at);
    expect(r.lastSeq).toBe(1);
    expect(r.lastDrHash).toBe(hash);
    expect(r.lastLogMs).toBe(1_800_000_000_100);
  });
});
