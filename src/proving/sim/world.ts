/**
 * A test world: deterministic identities, a producer HLC, a log clock, and helpers that sign
 * proposals, votes and facts for real (noble) and verify them for real (node:crypto) through
 * the same entry builder the runtime uses. The core's tests, the chaos suite and the benchmarks use
 * it.
 *
 * It is a v1 producer's view of a deployment (contract v2 §9): proposals go to the v1 subject
 * (the default project; control transitions to the deployment chain), facts to the deployment
 * chain, and every entry is decided exactly as the runtime decides it (`core.route`,
 * `core.stepChain`). `state` is the default project's view. DeploymentSim drives many projects.
 */
import { createHash } from 'node:crypto';
import {
  type ChainStep,
  type Core,
  DEFAULT_PROJECT,
  DEPLOYMENT_CHAIN,
  isControlTransition,
  type Genesis,
  type Hlc,
  type JsonObject,
  type RegionSection,
  type State,
  type WalEntry,
  createCore,
  formatHlc,
  formatIsoUtcMs,
  hashTargetOf,
  hlcReceive,
  hlcSend,
  jcs,
  parseHlc,
} from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { keyPairFromSeed } from '../../crypto/keys.js';
import { signObject } from '../../crypto/sign.js';
import { DOMAIN } from '../../crypto/domains.js';
import { createNodeVerifier } from '../../crypto/verify.js';
import { entryFromRaw } from '../../protocol/entry.js';

/** A named test identity. */
export interface Actor {
  readonly name: string;
  readonly signer: string;
  readonly secretKey: Uint8Array;
}

/** Deterministic key pair for a name. */
export function actor(name: string): Actor {
  const seed = createHash('sha256').update(`swoosh-test/${name}`).digest();
  const kp = keyPairFromSeed(new Uint8Array(seed));
  return { name, signer: kp.signer, secretKey: kp.secretKey };
}

/** The cast every test starts with. */
export const CAST = {
  admin: actor('admin'),
  operator: actor('operator'),
  ingest: actor('ingest'),
  env: actor('env'),
  feeder: actor('feeder'),
  c1: actor('council-1'),
  c2: actor('council-2'),
  c3: actor('council-3'),
  v1: actor('voter-1'),
  v2: actor('voter-2'),
  v3: actor('voter-3'),
  stranger: actor('stranger'),
} as const;

/** Genesis document for the cast (override fields per test). */
export function castGenesis(over: Record<string, unknown> = {}): Record<string, unknown> {
  const ids: Record<string, { roles: string[] }> = {
    [CAST.admin.signer]: { roles: ['admin'] },
    [CAST.operator.signer]: { roles: ['operator'] },
    [CAST.ingest.signer]: { roles: ['ingestion'] },
    [CAST.env.signer]: { roles: ['environment'] },
    [CAST.feeder.signer]: { roles: ['feeder'] },
    [CAST.c1.signer]: { roles: ['council'] },
    [CAST.c2.signer]: { roles: ['council'] },
    [CAST.c3.signer]: { roles: ['council'] },
    [CAST.v1.signer]: { roles: ['voter'] },
    [CAST.v2.signer]: { roles: ['voter'] },
    [CAST.v3.signer]: { roles: ['voter'] },
  };
  return {
    instance_id: 'test',
    identities: ids,
    quorum_threshold: 2,
    approvals_threshold: 2,
    mcp_pins: { 'repo-tools': '1.2.0' },
    license_grace_ms: 60_000,
    ...over,
  };
}

/**
 * A genesis document parsed, for fixtures whose document is known good (the cast's, or one a
 * generator built): a refusal is a bug in the fixture, so it throws with the field's path.
 */
export function parseFixtureGenesis(
  raw: Record<string, unknown> = castGenesis(),
  core: Core = createCore(nodeHasher),
): Genesis {
  const g = core.parseGenesis(raw);
  if (!g.ok) throw new Error(`${g.error.path}: ${g.error.message}`);
  return g.value;
}

const verifier = createNodeVerifier();
const V1_SCOPE = { kind: 'project', project: null } as const;
const BASE_MS = Date.UTC(2025, 9, 19, 1, 0, 0);

/** Options for one proposal. */
export interface ProposeOpts {
  readonly hash?: string;
  readonly hlc?: string;
  readonly idem?: string;
  readonly window?: string;
  readonly evidence?: readonly string[];
  readonly name?: string;
  readonly tamper?: (body: string) => string;
  readonly inputsHash?: string;
}

/** A reducer, a state and clocks, stepping entries one at a time. */
export class World {
  readonly core: Core;
  /** The deployment's document (identities, facts, registry). */
  deployment: State;
  /**
   * The project this world proposes to and reads as `state`: `default` (the v1 form: bodies
   * name no project, the v1 subject) or another project (bodies and votes name it, its subject).
   */
  readonly focus: string;
  /** Every project's stored document. */
  readonly projects = new Map<string, State>();
  seq = 0;
  logMs = BASE_MS;
  private hlc: Hlc = { ms: BASE_MS, logical: 0 };
  private idemN = 0;
  /**
   * BACKBEAT windows the planner has opened (`backbeat:W-<n>`): per world, so equal seeds give
   * equal streams.
   */
  windows = 0;
  readonly results: ChainStep[] = [];
  /** Signature bytes by body text, so benchmarks can re-verify what was generated. */
  readonly sigs = new Map<string, Uint8Array>();

  constructor(
    genesis: Record<string, unknown> = castGenesis(),
    core?: Core,
    opts: { baseMs?: number; project?: string } = {},
  ) {
    this.core = core ?? createCore(nodeHasher);
    this.focus = opts.project ?? DEFAULT_PROJECT;
    if (opts.baseMs !== undefined) {
      this.logMs = opts.baseMs;
      this.hlc = { ms: opts.baseMs, logical: 0 };
    }
    const w = this.core.genesisWorld(parseFixtureGenesis(genesis, this.core));
    this.deployment = w.deployment;
    for (const [p, doc] of w.projects) this.projects.set(p, doc);
  }

  /** The default project as readers see it (the deployment's document if there is none). */
  get state(): State {
    const doc = this.projects.get(this.focus);
    return doc === undefined
      ? this.deployment
      : this.core.projectView(this.deployment, doc, this.logMs);
  }

  /** Move the log clock forward. */
  advance(ms: number): void {
    this.logMs += ms;
  }

  /** Next producer HLC (send rule against the log clock). */
  nextHlc(): string {
    this.hlc = hlcSend(this.hlc, this.logMs);
    return formatHlc(this.hlc);
  }

  /** Fold a server-reported HLC into the producer clock (the receive rule), as the SDK does. */
  observeHlc(hlc: string | null): void {
    if (hlc === null) return;
    const p = parseHlc(hlc);
    if (p.ok) this.hlc = hlcReceive(this.hlc, p.hlc, this.logMs);
  }

  /** HEAD hash of the current state. */
  head(): string {
    return this.core.hashes(this.state).head;
  }

  /** Hash of one section. */
  section(name: RegionSection): string {
    return this.core.hashes(this.state).sections[name];
  }

  /** Build a signed proposal entry (not yet applied). */
  proposalEntry(
    by: Actor,
    transition: string,
    inputs: JsonObject = {},
    o: ProposeOpts = {},
  ): WalEntry {
    const named = this.focus !== DEFAULT_PROJECT && !this.isControl(transition);
    const body = proposalBody(this.core, by, transition, inputs, o, {
      project: named ? this.focus : null,
      hash: () => this.defaultHash(transition),
      idem: () => `goal:${this.idemN++}:${transition}`,
      hlc: () => this.nextHlc(),
      window: this.deployment.facts.backbeat.window_id ?? '',
    });
    let text = jcs(body);
    const sig = signObject(DOMAIN.proposal, body, by.secretKey);
    if (o.tamper) text = o.tamper(text);
    return this.raw('proposal', o.name ?? transition, text, sig);
  }

  /** Build a signed fact entry. */
  factEntry(
    kind: string,
    payload: JsonObject,
    by: Actor = CAST.feeder,
    o: { hlc?: string } = {},
  ): WalEntry {
    const body = { kind, signer: by.signer, hlc: o.hlc ?? this.nextHlc(), payload };
    return this.raw('fact', kind, jcs(body), signObject(DOMAIN.fact, body, by.secretKey));
  }

  private raw(channel: 'proposal' | 'fact', name: string, text: string, sigHex: string): WalEntry {
    this.seq += 1;
    this.logMs += 1;
    this.sigs.set(text, Buffer.from(sigHex, 'hex'));
    const e = signedEntry(this.seq, this.logMs, channel, name, text, sigHex);
    // Proposals travel on the v1 subject `<prefix>.proposals.<transition>`.
    if (channel !== 'proposal') return e;
    const named = this.focus !== DEFAULT_PROJECT && !this.isControl(name);
    return { ...e, scope: named ? { kind: 'project', project: this.focus } : V1_SCOPE };
  }

  private isControl(transition: string): boolean {
    const spec = this.core.chart.transitions.find((t) => t.name === transition);
    return spec !== undefined && isControlTransition(spec);
  }

  /** The hash a well-behaved producer names for `transition` (control: the deployment's). */
  defaultHash(transition: string): string {
    const spec = this.core.chart.transitions.find((t) => t.name === transition);
    if (spec !== undefined && isControlTransition(spec)) {
      return this.core.hashes(this.deployment).head;
    }
    const target = spec === undefined ? 'head' : hashTargetOf(spec);
    return target === 'head' ? this.head() : this.section(target);
  }

  /** The same bytes delivered again at the next sequence (a re-send). */
  resend(entry: WalEntry): WalEntry {
    this.seq += 1;
    this.logMs += 1;
    return { ...entry, seq: this.seq as WalEntry['seq'], log_ms: this.logMs };
  }

  /** Decide an entry in its chain, as the runtime does, and keep the result. */
  apply(entry: WalEntry): ChainStep {
    const r = decideInChain(this.core, this, entry);
    this.results.push(r);
    return r;
  }

  /** Propose and apply. */
  propose(by: Actor, transition: string, inputs: JsonObject = {}, o: ProposeOpts = {}): ChainStep {
    return this.apply(this.proposalEntry(by, transition, inputs, o));
  }

  /** Record a fact. */
  fact(kind: string, payload: JsonObject, by: Actor = CAST.feeder): ChainStep {
    return this.apply(this.factEntry(kind, payload, by));
  }

  /** A signed council vote. */
  vote(by: Actor, memberSetHash: string, term: number): JsonObject {
    const v = {
      voter: by.signer,
      ...(this.focus === DEFAULT_PROJECT ? {} : { project: this.focus }),
      member_set_hash: memberSetHash,
      term,
    };
    return { ...v, signature: signObject(DOMAIN.vote, v, by.secretKey) };
  }

  /** Record a beat frame for `windowId` in `phase`, open for `openMs`. */
  beat(windowId: string, phase: 'plan' | 'execute' | 'review', openMs = 60_000): ChainStep {
    const index = this.deployment.facts.backbeat.beat_index + 1;
    return this.fact('backbeat', beatFrame(index, windowId, phase, this.logMs, openMs));
  }
}

/** A WAL entry built from signed bytes and verified as the runtime verifies it. */
export function signedEntry(
  seq: number,
  logMs: number,
  channel: 'proposal' | 'fact',
  name: string,
  text: string,
  sigHex: string,
): WalEntry {
  return entryFromRaw(
    {
      seq,
      logMs,
      channel,
      name,
      body: new TextEncoder().encode(text),
      sig: Buffer.from(sigHex, 'hex'),
    },
    verifier,
  );
}

/** A BACKBEAT INT-A beat frame payload for window `windowId` in `phase`, open for `openMs`. */
export function beatFrame(
  beatIndex: number,
  windowId: string,
  phase: 'plan' | 'execute' | 'review',
  logMs: number,
  openMs: number,
): JsonObject {
  return {
    type: 'backbeat.beatframe.v1',
    cluster_id: 'c1',
    beat_index: beatIndex,
    downbeat: false,
    phase,
    hlc: formatHlc({ ms: logMs, logical: 0 }),
    deadline_at: formatIsoUtcMs(logMs + openMs),
    tempo_bpm: 120,
    window_id: windowId,
  };
}

/** A sha256-… value derived from a label (for content hashes in tests). */
export function h(label: string): string {
  return `sha256-${createHash('sha256').update(label).digest('hex')}`;
}

/** Documents a simulated deployment holds: the deployment's and each project's. */
export interface SimDocs {
  deployment: State;
  readonly projects: Map<string, State>;
}

/** Decide `entry` in the chain `core.route` names and keep the documents it leaves. */
export function decideInChain(core: Core, docs: SimDocs, entry: WalEntry): ChainStep {
  const chain = core.route(docs.deployment, entry);
  const doc = chain === DEPLOYMENT_CHAIN ? undefined : docs.projects.get(chain);
  const r = core.stepChain(docs.deployment, chain, doc, entry);
  docs.deployment = r.deployment;
  if (chain !== DEPLOYMENT_CHAIN) docs.projects.set(chain, r.stored);
  for (const c of r.created) docs.projects.set(c.project, c.state);
  return r;
}

/**
 * The fields of a proposal a simulated producer signs: `o` overrides each default, which is
 * computed only when not overridden (an idem key or an HLC is drawn only when used).
 */
export function proposalBody(
  core: Core,
  by: Actor,
  transition: string,
  inputs: JsonObject,
  o: ProposeOpts,
  d: {
    readonly project: string | null;
    readonly hash: () => string;
    readonly idem: () => string;
    readonly hlc: () => string;
    readonly window: string;
  },
): Record<string, unknown> {
  return {
    ...(d.project === null ? {} : { project: d.project }),
    current_state_hash: o.hash ?? d.hash(),
    transition,
    inputs,
    inputs_hash: o.inputsHash ?? core.hash(inputs),
    signer: by.signer,
    idem_key: o.idem ?? d.idem(),
    hlc: o.hlc ?? d.hlc(),
    window_id: o.window ?? d.window,
    evidence: [...(o.evidence ?? [])],
  };
}
