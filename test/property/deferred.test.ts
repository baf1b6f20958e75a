/**
 * Deciding held chains only (docs/adr/0006-deciding-held-chains.md): a replica that queues some
 * projects' entries and decides them later — when it takes the project up, when a read needs
 * it, or after adopting the project's snapshot — gives every chain exactly the records, heads
 * and documents of a replica that decided every entry as it came.
 * Every run prints its seed; replay one with SWOOSH_SEED=<n>.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEPLOYMENT_CHAIN, createCore, jcs } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { createNodeVerifier } from '../../src/crypto/verify.js';
import { Replica, type Decided } from '../../src/server/replication/replica.js';
import { verdictsOf } from '../../src/protocol/entry.js';
import { castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';
import { NOISE, PROJECTS, run } from '../support/schedule.js';
import { announceSeed } from '../support/seed.js';

const seed = Math.abs(announceSeed('deferred projects'));
fc.configureGlobal({ seed });

const core = createCore(nodeHasher);
const verifier = createNodeVerifier();
const genesis = parseFixtureGenesis(castGenesis({ projects: PROJECTS }), core);

/** What a chain's records say, in chain order. */
type Chains = Map<string, string[]>;

function note(chains: Chains, d: Decided): void {
  const c = d.content.project;
  const list = chains.get(c) ?? [];
  expect(d.content.chain_index).toBe(list.length + 1);
  list.push(`${d.hash}|${d.chainAppliedBefore}`);
  chains.set(c, list);
}

/**
 * An action between two entries: 0 take a project up, 1 queue it, 2 read it, 3 adopt, 4 evict
 * its document from memory (docs/adr/0007-resident-projects.md).
 */
const action = fc.record({
  at: fc.nat(),
  kind: fc.integer({ min: 0, max: 4 }),
  project: fc.constantFrom(...PROJECTS),
});

const counts = { evicted: 0, loaded: 0 };

describe('queued projects decide as if decided at once', () => {
  it('Given any interleaving and any schedule of queueing, taking up, reads, snapshot adoptions and evictions, When every project is finally taken up, Then every chain has the same records, heads and documents', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: PROJECTS.length + NOISE.length - 1 }), { minLength: 30, maxLength: 140 }),
        fc.array(action, { maxLength: 30 }),
        fc.subarray(PROJECTS),
        (schedule, actions, queuedAtStart) => {
          const sim = run(core, schedule);
          const msgs = sim.messages();
          const all = Replica.fromGenesis(core, nodeHasher, verifier, genesis);
          const held = Replica.fromGenesis(core, nodeHasher, verifier, genesis);
          const want: Chains = new Map();
          const got: Chains = new Map();
          /** Every record of the full replica, by chain and index (for snapshots to adopt). */
          const byIndex = new Map<string, Decided[]>();
          for (const p of queuedAtStart) held.defer(p);
          let evicted = 0;
          let loaded = 0;
          /** Load a cold project: first a wrong copy (refused), then its record's document. */
          const load = (p: string): void => {
            if (held.coldOf(p) === undefined) return;
            const index = held.chainHead(p).index;
            const list = byIndex.get(p) ?? [];
            const other = list[index === 1 ? 1 : 0];
            if (other !== undefined && other.content.state_post_hash !==
              list[index - 1]?.content.state_post_hash) {
              expect(held.warm(p, other.step.stored)).not.toBeNull();
              expect(held.coldOf(p)).toBeDefined();
            }
            expect(held.warm(p, (list[index - 1] as Decided).step.stored)).toBeNull();
            expect(held.coldOf(p)).toBeUndefined();
            loaded += 1;
          };
          const verdicts = (p: string): boolean[][] => held.queueOf(p).map((e) => {
            const x = Replica.prepare(e.msg).prepared;
            return x.kind === 'final' ? [] : verdictsOf(x.checks, verifier);
          });
          msgs.forEach((m, i) => {
            for (const a of actions.filter((x) => x.at % msgs.length === i)) {
              const p = a.project;
              if (!held.projectIds().includes(p)) continue;
              if (a.kind === 0 && held.isDeferred(p)) {
                load(p);
                for (const d of held.materialize(p, verdicts(p), true)) note(got, d);
              } else if (a.kind === 1) {
                held.defer(p);
              } else if (a.kind === 2 && held.coldOf(p) !== undefined) {
                // A read of a cold project loads its document for that read only.
                const index = held.chainHead(p).index;
                const doc = (byIndex.get(p)?.[index - 1] as Decided).step.stored;
                expect(jcs(held.viewFrom(p, doc, 0))).toBe(jcs(all.view(p)));
                expect(() => held.view(p)).toThrow(/cold/);
              } else if (a.kind === 2) {
                expect(jcs(held.view(p))).toBe(jcs(all.view(p)));
              } else if (a.kind === 3 && held.isDeferred(p)) {
                // The newest record of p the full replica has made: its snapshot.
                const d = byIndex.get(p)?.at(-1);
                if (d === undefined) continue;
                const head = { index: d.content.chain_index, drHash: d.hash,
                  applied: d.chainAppliedBefore + d.content.applied.length };
                const before = held.chainHead(p).index;
                if (held.adopt(p, d.step.stored, head, d.msg.seq)) {
                  // What the snapshot covers is never decided here: take it from the full run.
                  const list = got.get(p) ?? [];
                  for (const x of (byIndex.get(p) ?? []).slice(before, head.index)) {
                    list.push(`${x.hash}|${x.chainAppliedBefore}`);
                  }
                  got.set(p, list);
                } else {
                  expect(head.index).toBeLessThanOrEqual(before);
                }
              } else if (a.kind === 4 && held.isResident(p)) {
                const index = held.chainHead(p).index;
                if (index > 0 && !held.isDeferred(p)) {
                  // Not deferred: refused, unchanged; a member defers it first.
                  expect(held.evict(p)).toMatch(/not deferred/);
                  expect(held.isResident(p)).toBe(true);
                  held.defer(p);
                }
                if (index > 0 && held.queueOf(p).length > 0) {
                  expect(held.evict(p)).toMatch(/empty queue/);
                  // A member decides the queue in place first (or adopts a snapshot).
                  for (const d of held.materialize(p, verdicts(p), false)) note(got, d);
                }
                expect(held.evict(p)).toBe(held.chainHead(p).index === 0 ? 'fresh' : 'cold');
                expect(held.isResident(p)).toBe(false);
                if (held.coldOf(p) !== undefined) {
                  // Taking up a cold project with nothing queued decides nothing and leaves it
                  // queued: its entries can never reach a replica that lacks its document.
                  expect(held.materialize(p, [], true)).toEqual([]);
                  expect(held.isDeferred(p)).toBe(true);
                }
                evicted += 1;
              }
            }
            const d = all.decideNext(m);
            note(want, d);
            const list = byIndex.get(d.content.project) ?? [];
            list.push(d);
            byIndex.set(d.content.project, list);
            const chain = held.routeOf(m);
            expect(chain).toBe(d.content.project);
            if (chain !== DEPLOYMENT_CHAIN && held.isDeferred(chain)) held.deferNext(m, chain);
            else note(got, held.decideNext(m));
          });
          for (const p of [...held.deferredProjects()]) {
            load(p);
            for (const d of held.materialize(p, verdicts(p), true)) note(got, d);
          }
          counts.evicted += evicted;
          counts.loaded += loaded;
          expect(held.queuedBytes).toBe(0);
          expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
          for (const [c, list] of want) expect(got.get(c)).toEqual(list);
          expect(held.projectIds()).toEqual(all.projectIds());
          for (const p of all.projectIds()) {
            expect(held.chainHead(p)).toEqual(all.chainHead(p));
            expect(jcs(held.view(p))).toBe(jcs(all.view(p)));
          }
          expect(jcs(held.deployment)).toBe(jcs(all.deployment));
        },
      ),
      { numRuns: 40 },
    );
    // The schedules did evict, and did load cold projects back.
    expect(counts.evicted).toBeGreaterThan(10);
    expect(counts.loaded).toBeGreaterThan(3);
  });

  it('Given a project queued with entries, When a snapshot behind what the replica has is offered, Then it is refused and nothing changes', () => {
    const sim = run(core, Array.from({ length: 80 }, (_, i) => i % PROJECTS.length));
    const msgs = sim.messages();
    const r = Replica.fromGenesis(core, nodeHasher, verifier, genesis);
    const p = PROJECTS[0] as string;
    const first = msgs.findIndex((m) => r.routeOf(m) === p);
    let d0: Decided | null = null;
    msgs.forEach((m, i) => {
      if (i === first + 1) r.defer(p);
      const c = r.routeOf(m);
      if (c !== DEPLOYMENT_CHAIN && r.isDeferred(c)) r.deferNext(m, c);
      else {
        const d = r.decideNext(m);
        if (c === p) d0 = d;
      }
    });
    const queued = r.queueOf(p).length;
    expect(queued).toBeGreaterThan(0);
    const d = d0 as unknown as Decided;
    const head = r.chainHead(p);
    expect(r.adopt(p, d.step.stored, { index: d.content.chain_index, drHash: d.hash, applied: 0 }, d.msg.seq)).toBe(false);
    expect(r.queueOf(p).length).toBe(queued);
    expect(r.chainHead(p)).toEqual(head);
  });
});
