/** The Merkle state hash: per-section hashes, HEAD over sections, facts hashed apart. */
import { describe, expect, it } from 'vitest';
import { createCore, jcs } from '../../../src/core/index.js';
import { HEAD_SECTIONS } from '../../../src/core/model/state.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { nobleHasher } from '../../../src/crypto/hasher-portable.js';
import { CAST, World, h } from '../../../src/proving/sim/world.js';
import { boot, ok } from '../../../src/proving/sim/walk.js';
import { createHash } from 'node:crypto';

const sha = (s: string): string => `sha256-${createHash('sha256').update(s, 'utf8').digest('hex')}`;

describe('state hash construction (docs/hashing.md)', () => {
  it('Given a state, Then HEAD and facts_hash follow the documented construction exactly', () => {
    const w = new World();
    boot(w);
    const s = w.state;
    const hs = w.core.hashes(s);
    const sections: Record<string, string> = {};
    for (const name of HEAD_SECTIONS) {
      sections[name] = name === 'idem'
        ? sha(jcs({ base: s.idem.base, count: s.idem.count, head: s.idem.head }))
        : sha(jcs(s[name]));
    }
    expect(hs.sections).toEqual(sections);
    expect(hs.head).toBe(sha(jcs({ v: 1, sections })));
    const facts: Record<string, string> = {};
    for (const k of ['backbeat', 'capacity', 'license', 'mcp', 'policy', 'tick'] as const) facts[k] = sha(jcs(s.facts[k]));
    expect(hs.facts).toBe(sha(jcs({ v: 1, facts })));
  });

  it('Given a region transition, Then only the sections it touched change their hash', () => {
    const w = new World();
    boot(w);
    const r = ok(w.propose(CAST.ingest, 'Ingestion_SourcesResolved', { sources: [{ uri: 'git://x' }] }));
    const changed = HEAD_SECTIONS.filter((n) => r.pre.sections[n] !== r.post.sections[n]);
    expect(changed.sort()).toEqual(['clock', 'epochs', 'idem', 'ingestion']);
  });

  it('Given the node and the portable SHA-256, Then identical state hashes', () => {
    const a = new World(undefined, createCore(nodeHasher));
    const b = new World(undefined, createCore(nobleHasher));
    for (const w of [a, b]) boot(w);
    expect(b.core.hashes(b.state)).toEqual(a.core.hashes(a.state));
    expect(a.head()).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(h('x')).toMatch(/^sha256-/);
  });
});
