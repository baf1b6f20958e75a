/**
 * Projects are independent histories (contract v2; issue "many projects", How it is checked):
 * folding any interleaving of N projects' entries and the deployment's facts and control
 * proposals gives each project the same records and the same final hash as folding that
 * project alone with the same facts at the same WAL positions, and the deployment chain's
 * decisions are identical in every fold (every writer decides them the same way).
 * Every run prints its seed; replay one with SWOOSH_SEED=<n>.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEPLOYMENT_CHAIN,
  createCore,
  jcs,
  type Core,
  type State,
} from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { nobleHasher } from '../../src/crypto/hasher-portable.js';
import type { DeploymentSim } from '../../src/proving/sim/deployment.js';
import { castGenesis, parseFixtureGenesis } from '../../src/proving/sim/world.js';
import { NOISE, PROJECTS, run } from '../support/schedule.js';
import { announceSeed } from '../support/seed.js';

const seed = Math.abs(announceSeed('world properties'));
fc.configureGlobal({ seed });

/** Fold only the entries of one project's chain and of the deployment chain, in log order. */
function foldAlone(core: Core, full: DeploymentSim, project: string): {
  readonly decisions: Map<number, string>;
  readonly deploymentDecisions: string[];
  readonly final: State | undefined;
} {
  const g = core.genesisWorld(parseFixtureGenesis(castGenesis({ projects: PROJECTS }), core));
  let dep = g.deployment;
  const docs = new Map(g.projects);
  const decisions = new Map<number, string>();
  const deploymentDecisions: string[] = [];
  for (const s of full.log) {
    if (s.chain !== project && s.chain !== DEPLOYMENT_CHAIN) continue;
    const chain = core.route(dep, s.entry);
    expect(chain).toBe(s.chain);
    const r = core.stepChain(dep, chain, chain === DEPLOYMENT_CHAIN ? undefined : docs.get(chain), s.entry);
    dep = r.deployment;
    for (const c of r.created) docs.set(c.project, c.state);
    if (chain === DEPLOYMENT_CHAIN) deploymentDecisions.push(jcs(r.decision));
    else {
      docs.set(chain, r.stored);
      decisions.set(s.entry.seq, `${r.pre.head}>${r.post.head}|${jcs(r.decision)}`);
    }
  }
  return { decisions, deploymentDecisions, final: docs.get(project) };
}

describe('projects are independent histories', () => {
  it('Given any interleaving of three projects with facts and control, When each project is folded alone with the same facts, Then its records and final hash are the same', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: PROJECTS.length + NOISE.length - 1 }), { minLength: 30, maxLength: 160 }),
        (schedule) => {
          const full = run(createCore(nodeHasher), schedule);
          const fullDeployment = full.log
            .filter((s) => s.chain === DEPLOYMENT_CHAIN)
            .map((s) => jcs(s.decision));
          for (const p of PROJECTS) {
            const alone = foldAlone(createCore(nobleHasher), full, p);
            const mine = full.log.filter((s) => s.chain === p);
            expect(alone.decisions.size).toBe(mine.length);
            for (const s of mine) {
              expect(alone.decisions.get(s.entry.seq)).toBe(`${s.pre.head}>${s.post.head}|${jcs(s.decision)}`);
            }
            expect(alone.final === undefined ? null : jcs(alone.final)).toBe(jcs(full.projects.get(p)));
            expect(alone.deploymentDecisions).toEqual(fullDeployment);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('Given every entry of a run, When counted per chain, Then each entry has exactly one decision in exactly one chain', () => {
    const schedule = Array.from({ length: 400 }, (_, i) => (i * 7 + (i >> 3)) % (PROJECTS.length + NOISE.length));
    const sim = run(createCore(nodeHasher), schedule);
    const seqs = sim.log.map((s) => s.entry.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const chains = new Set(sim.log.map((s) => s.chain));
    for (const p of PROJECTS) expect(chains.has(p)).toBe(true);
    expect(chains.has(DEPLOYMENT_CHAIN)).toBe(true);
    // The schedule did real work: some project got into EXECUTION.
    expect(PROJECTS.some((p) => sim.view(p).clock.applied_count > 10)).toBe(true);
  });
});
