/**
 * A snapshot's documents must agree with the signed record at its WAL seq (recovery.ts
 * recordMismatch): the chain's HEAD, the facts, the identities and the chain head. A snapshot
 * whose own `state_hash` was recomputed after an edit certifies only itself; this is what
 * catches it.
 */
import { describe, expect, it } from 'vitest';
import { DEPLOYMENT_CHAIN, type State } from '../../../src/core/index.js';
import type { DecisionRecord } from '../../../src/protocol/decision-record.js';
import { recordMismatch } from '../../../src/server/replication/recovery.js';
import type { WorldState } from '../../../src/server/replication/replica.js';
import { DeploymentSim } from '../../../src/proving/sim/deployment.js';
import { CAST, h } from '../../../src/proving/sim/world.js';
import { ok } from '../../../src/proving/sim/walk.js';

function setup(): { world: WorldState; rec: DecisionRecord; sim: DeploymentSim } {
  const sim = new DeploymentSim();
  ok(sim.fact('license', { status: 'active', license_id: 'l' }));
  const last = ok(sim.propose(CAST.operator, 'default', 'Boot_ConfigOk', { config_hash: h('c') }));
  const rec = {
    project: last.chain, chain_index: 1, state_post_hash: last.post.head,
    facts_post_hash: last.post.facts, identities_post_hash: last.post.identities,
  } as unknown as DecisionRecord;
  const world: WorldState = {
    deployment: sim.deployment,
    projects: new Map(sim.projects),
    chains: new Map([['default', { index: 1, drHash: 'sha256-rec' }], [DEPLOYMENT_CHAIN, { index: 1, drHash: 'x' }]]),
    appliedTotal: 1,
  };
  return { world, rec, sim };
}

describe('a snapshot against the record at its seq', () => {
  it('Given the documents the record was made from, Then no mismatch', () => {
    const { world, rec } = setup();
    expect(recordMismatch(setup().sim.core, world, rec, 'sha256-rec')).toBeNull();
  });

  it('Given an admin role granted in the snapshot\'s identities (state_hash recomputed), Then refused', () => {
    const { world, rec, sim } = setup();
    const identities = { ...world.deployment.identities, [CAST.stranger.signer]: { roles: ['admin'] } };
    const edited: WorldState = { ...world, deployment: { ...world.deployment, identities } };
    expect(recordMismatch(sim.core, edited, rec, 'sha256-rec')).toBe('identities differ from the record');
  });

  it('Given an edited project document, another chain head, or a registered project without a document, Then refused naming it', () => {
    const { world, rec, sim } = setup();
    const doc = world.projects.get('default') as State;
    const projects = new Map(world.projects).set('default', { ...doc, policy: { ...doc.policy, quarantines: 9 } });
    expect(recordMismatch(sim.core, { ...world, projects }, rec, 'sha256-rec')).toMatch(/^chain default hashes to/);
    expect(recordMismatch(sim.core, world, rec, 'sha256-other')).toMatch(/head is not the record/);
    const none = new Map(world.projects);
    none.delete('default');
    expect(recordMismatch(sim.core, { ...world, projects: none }, rec, 'sha256-rec')).toBe('no document for chain default');
  });
});
