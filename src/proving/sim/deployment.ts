/**
 * A test deployment of many projects (contract v2): the deployment's document, one document
 * per project, one log clock and one producer HLC shared by all, and a `lens` per project
 * that offers the single-project World's surface (propose, fact, beat, vote, state), so the
 * happy-path walk (walk.ts) drives any project. Entries are built and verified exactly as the
 * runtime builds them, then decided with `core.stepChain` in the chain `core.route` names.
 */
import {
  type ChainStep,
  type Core,
  type EntryScope,
  type JsonObject,
  type State,
  type WalEntry,
  DEPLOYMENT_CHAIN,
  createCore,
  formatHlc,
  hashTargetOf,
  hlcSend,
  jcs,
  type Hlc,
} from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { signObject } from '../../crypto/sign.js';
import { DOMAIN } from '../../crypto/domains.js';
import {
  CAST,
  beatFrame,
  castGenesis,
  decideInChain,
  parseFixtureGenesis,
  proposalBody,
  signedEntry,
  type Actor,
  type ProposeOpts,
} from './world.js';

import { encodeEnvelope } from '../../protocol/envelope.js';
import type { WalMessage } from '../../protocol/wal-message.js';

const BASE_MS = Date.UTC(2025, 9, 19, 1, 0, 0);

/** One decided entry of the deployment's log. */
export interface LogStep extends ChainStep {
  readonly entry: WalEntry;
}

/** Many projects, one log. */
export class DeploymentSim {
  readonly core: Core;
  deployment: State;
  readonly projects = new Map<string, State>();
  seq = 0;
  logMs = BASE_MS;
  private hlc: Hlc = { ms: BASE_MS, logical: 0 };
  private idemN = 0;
  readonly log: LogStep[] = [];

  constructor(genesis: Record<string, unknown> = castGenesis(), core?: Core) {
    this.core = core ?? createCore(nodeHasher);
    const w = this.core.genesisWorld(parseFixtureGenesis(genesis, this.core));
    this.deployment = w.deployment;
    for (const [p, s] of w.projects) this.projects.set(p, s);
  }

  /** Move the log clock forward. */
  advance(ms: number): void {
    this.logMs += ms;
  }

  nextHlc(): string {
    this.hlc = hlcSend(this.hlc, this.logMs);
    return formatHlc(this.hlc);
  }

  /** A project as readers see it (its view, caught up to the deployment's facts). */
  view(project: string): State {
    const doc = this.projects.get(project);
    if (doc === undefined) throw new Error(`no project ${project}`);
    return this.core.projectView(this.deployment, doc, this.logMs);
  }

  /** HEAD of a project (or of the deployment's document). */
  head(chain: string): string {
    const s = chain === DEPLOYMENT_CHAIN ? this.deployment : this.view(chain);
    return this.core.hashes(s).head;
  }

  /**
   * A signed proposal entry. `project` null builds a control proposal (`<prefix>.control.<t>`);
   * `o.bodyProject` overrides the project the body names (undefined: the subject's).
   */
  proposalEntry(
    by: Actor,
    project: string | null,
    transition: string,
    inputs: JsonObject = {},
    o: ProposeOpts & { bodyProject?: string | null; v1?: boolean } = {},
  ): WalEntry {
    const scope: EntryScope = project === null
      ? { kind: 'control' }
      : { kind: 'project', project: o.v1 === true ? null : project };
    const bodyProject = o.bodyProject === undefined ? project : o.bodyProject;
    const state =
      project === null || !this.projects.has(project) ? this.deployment : this.view(project);
    const spec = this.core.chart.transitions.find((t) => t.name === transition);
    const target = spec === undefined ? 'head' : hashTargetOf(spec);
    const hs = this.core.hashes(state);
    const body = proposalBody(this.core, by, transition, inputs, o, {
      project: bodyProject,
      hash: () => (target === 'head' ? hs.head : hs.sections[target]),
      idem: () => `goal:${this.idemN++}:${transition}`,
      hlc: () => this.nextHlc(),
      window: this.deployment.facts.backbeat.window_id ?? '',
    });
    const sig = signObject(DOMAIN.proposal, body, by.secretKey);
    return { ...this.raw('proposal', o.name ?? transition, jcs(body), sig), scope };
  }

  /** A signed fact entry. */
  factEntry(kind: string, payload: JsonObject, by: Actor = CAST.feeder): WalEntry {
    const body = { kind, signer: by.signer, hlc: this.nextHlc(), payload };
    return this.raw('fact', kind, jcs(body), signObject(DOMAIN.fact, body, by.secretKey));
  }

  private raw(channel: 'proposal' | 'fact', name: string, text: string, sigHex: string): WalEntry {
    this.seq += 1;
    this.logMs += 1;
    this.signed.set(this.seq, { text, sigHex });
    return signedEntry(this.seq, this.logMs, channel, name, text, sigHex);
  }

  /** Body text and signature of every signed entry made, by WAL seq. */
  private readonly signed = new Map<number, { text: string; sigHex: string }>();

  /**
   * The log as a WAL holds it: each applied entry's subject (under `prefix`) and envelope bytes,
   * for replicas and members that read messages rather than core entries.
   */
  messages(prefix = 'swoosh'): WalMessage[] {
    return this.log.map(({ entry }) => {
      const w = this.signed.get(entry.seq);
      if (entry.type !== 'signed' || w === undefined) {
        throw new Error(`sim: entry ${entry.seq} was not made by this sim`);
      }
      const scope = entry.scope;
      const subject = entry.channel === 'fact'
        ? `${prefix}.facts.${entry.name}`
        : scope?.kind === 'control'
          ? `${prefix}.control.${entry.name}`
          : scope?.kind === 'project' && scope.project !== null
            ? `${prefix}.proposals.${scope.project}.${entry.name}`
            : `${prefix}.proposals.${entry.name}`;
      const data = encodeEnvelope(new TextEncoder().encode(w.text), Buffer.from(w.sigHex, 'hex'));
      return { seq: entry.seq, logMs: entry.log_ms, subject, data };
    });
  }

  /** Decide an entry in its chain and keep the result. */
  apply(entry: WalEntry): LogStep {
    const step = { ...decideInChain(this.core, this, entry), entry };
    this.log.push(step);
    return step;
  }

  /** Propose to a project (or, with `project` null, a control proposal) and apply it. */
  propose(
    by: Actor,
    project: string | null,
    transition: string,
    inputs: JsonObject = {},
    o: ProposeOpts & { bodyProject?: string | null; v1?: boolean } = {},
  ): LogStep {
    return this.apply(this.proposalEntry(by, project, transition, inputs, o));
  }

  /** Record a fact. */
  fact(kind: string, payload: JsonObject, by: Actor = CAST.feeder): LogStep {
    return this.apply(this.factEntry(kind, payload, by));
  }

  /** Create a project (an admin's Project_Create). */
  create(project: string, params: JsonObject = {}): LogStep {
    return this.propose(CAST.admin, null, 'Project_Create', { project, ...params });
  }

  /** Record a beat frame for `windowId` in `phase`, open for `openMs`. */
  beat(windowId: string, phase: 'plan' | 'execute' | 'review', openMs = 60_000): LogStep {
    const index = this.deployment.facts.backbeat.beat_index + 1;
    return this.fact('backbeat', beatFrame(index, windowId, phase, this.logMs, openMs));
  }

  /** The World-like surface of one project, for walk.ts. */
  lens(project: string): ProjectLens {
    return new ProjectLens(this, project);
  }
}

/** One project of a DeploymentSim, with the single-project World's surface. */
export class ProjectLens {
  constructor(readonly sim: DeploymentSim, readonly project: string) {}

  get core(): Core {
    return this.sim.core;
  }

  /** The project's view (with the deployment's facts and identities). */
  get state(): State {
    return this.sim.view(this.project);
  }

  propose(by: Actor, transition: string, inputs: JsonObject = {}, o: ProposeOpts = {}): LogStep {
    return this.sim.propose(by, this.project, transition, inputs, o);
  }

  fact(kind: string, payload: JsonObject, by: Actor = CAST.feeder): LogStep {
    return this.sim.fact(kind, payload, by);
  }

  beat(windowId: string, phase: 'plan' | 'execute' | 'review', openMs = 60_000): LogStep {
    return this.sim.beat(windowId, phase, openMs);
  }

  /** A council vote signed for this project. */
  vote(by: Actor, memberSetHash: string, term: number): JsonObject {
    const v = { voter: by.signer, project: this.project, member_set_hash: memberSetHash, term };
    return { ...v, signature: signObject(DOMAIN.vote, v, by.secretKey) };
  }
}
