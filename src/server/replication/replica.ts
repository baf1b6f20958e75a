/**
 * A replica: every chain's document (the deployment's and each project's) plus where it stands
 * in the WAL and in each decision-record chain.
 * The writer and every follower are replicas; they differ only in what they do at the tail
 * (the writer publishes decision records, a follower compares them). Recovery is the same
 * for both: load the newest valid snapshot, then replay the WAL against the stored records.
 */
import {
  type ChainStep,
  type Core,
  type CoreConfig,
  type Genesis,
  type Hasher,
  type State,
  type WalEntry,
  type WalSeq,
  DEFAULT_PROJECT,
  DEPLOYMENT_CHAIN,
  compareHlc,
  hashText,
  jcs,
  parseHlc,
} from '../../core/index.js';
import type { SignatureVerifier } from '../../crypto/verify.js';
import {
  chainStart,
  contentMembers,
  contentOf,
  contentTextOf,
  drContent,
  type ContentText,
  type DecisionRecord,
  type DrContent,
} from '../../protocol/decision-record.js';
import { decodeEnvelope, walEntryHash, type Decoded } from '../../protocol/envelope.js';
import {
  completeEntry,
  prepareEntry,
  verdictsOf,
  type PreparedEntry,
} from '../../protocol/entry.js';
import { parseWalSubject, type WalMessage } from '../../protocol/wal-message.js';
import { CowMap } from './cow-map.js';

/**
 * Thrown when a recomputed record differs from the stored one: a determinism bug or a lost write.
 */
export class ReplayMismatchError extends Error {
  readonly code = 'replay_mismatch';
  constructor(
    readonly seq: number,
    readonly field: string,
    readonly stored: string,
    readonly recomputed: string,
  ) {
    super(
      `decision record ${seq} differs from its recomputation at ${field}: stored ${stored}, ` +
      `recomputed ${recomputed}. ` +
        'This is a determinism bug or a lost write; the writer stops rather than paper over it.',
    );
    this.name = 'ReplayMismatchError';
  }
}

/** The first differing top-level field of two contents (for a specific error). */
function firstDifference(a: DrContent, b: DrContent): [string, string, string] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const k of keys) {
    const x = jcs((a as unknown as Record<string, unknown>)[k] ?? null);
    const y = jcs((b as unknown as Record<string, unknown>)[k] ?? null);
    if (x !== y) return [k, x.slice(0, 200), y.slice(0, 200)];
  }
  return ['(none)', '', ''];
}

/** One decided entry: the step, its record content and the content hash. */
export interface Decided {
  readonly msg: WalMessage;
  readonly step: ChainStep;
  readonly content: DrContent;
  /** JCS text of the content (what the hash covers and replicas compare), with member offsets. */
  readonly text: ContentText;
  /** = text.text */
  readonly contentText: string;
  readonly hash: string;
  /**
   * Transitions applied before this entry, all chains (its transitions take the next indexes):
   * the single writer's TRANSITIONS numbering. Meaningless where projects are deferred.
   */
  readonly appliedBefore: number;
  /** Transitions applied before this entry in its own chain (writers by bucket number by chain). */
  readonly chainAppliedBefore: number;
  /**
   * Where things stood just before this entry (what a snapshot taken before it needs): the
   * deployment's document and chain head, and the project's stored document (undefined for the
   * deployment chain).
   */
  readonly before: {
    readonly deployment: State;
    readonly deploymentHead: ChainHead;
    readonly doc: State | undefined;
  };
}

/** The head of one decision chain: its last record's index and content hash. */
export interface ChainHead {
  readonly index: number;
  readonly drHash: string;
  /**
   * Transitions applied in this chain so far (writers by bucket number TRANSITIONS records per
   * chain). Absent in snapshots taken before it was kept.
   */
  readonly applied?: number;
}

/**
 * A WAL entry of a project this replica does not decide now (writers by bucket, deciding held
 * chains only): the message and the deployment's document at its position, which is all its
 * decision depends on besides the project's document (world.ts). Decided later, in order, when
 * the project is needed (docs/adr/0006-deciding-held-chains.md).
 */
export interface QueuedEntry {
  readonly msg: WalMessage;
  readonly deployment: State;
  /** The deployment chain's head at that position (where a snapshot taken there starts). */
  readonly deploymentHead: ChainHead;
}

/** Every chain's document and head: what a replica folds, and what a snapshot stores. */
export interface WorldState {
  readonly deployment: State;
  readonly projects: ReadonlyMap<string, State>;
  readonly chains: ReadonlyMap<string, ChainHead>;
  /** Transitions applied so far, all chains: the TRANSITIONS stream's fence. */
  readonly appliedTotal: number;
}

/** Where a replica stands. */
export interface ReplicaPosition extends WorldState {
  readonly lastSeq: number;
  /** Content hash of the last record (whatever its chain): the record at `lastSeq`. */
  readonly lastDrHash: string;
  readonly lastWalEntryHash: string;
  /** Log time of the entry at `lastSeq` (what reads catch projects up to); 0 before any. */
  readonly lastLogMs?: number;
}

/** A snapshot of a copy-on-write map is O(chunks); any other map is copied once. */
function cowOf<V>(m: ReadonlyMap<string, V>): CowMap<V> {
  return m instanceof CowMap ? (m as CowMap<V>).snapshot() : new CowMap(m.entries());
}

/** A replica's documents as a snapshot stores them (JSON). */
export interface WorldDoc {
  readonly v: 2;
  readonly deployment: State;
  readonly projects: { readonly [project: string]: State };
  readonly chains: { readonly [chain: string]: ChainHead | HeldChainHead };
  readonly applied_total: number;
  /**
   * Held snapshots only: project configurations by the registry's config hash, for the
   * projects with no record yet whose documents it does not hold (`fresh` heads).
   */
  readonly configs?: { readonly [configHash: string]: CoreConfig };
}

/**
 * A project's head in a snapshot of a member deciding held chains (ADR 0006): its document is
 * at its own position, not the snapshot's. `covered`: the WAL seq up to which the document holds
 * the project's entries (later ones are replayed); `dr_seq`: the DECISIONS seq of the record at
 * `index` (0 when unknown), where reading the chain's records resumes.
 */
export interface HeldChainHead extends ChainHead {
  readonly covered: number;
  readonly dr_seq: number;
  /**
   * Present when the project was cold (its document not in memory, see `Replica.evict`): the
   * head hash of its stored document at `index`, which the snapshot then does not hold, and the
   * document's `hlc_last`. A member starting from the snapshot loads the document from the
   * project's snapshot when it needs it, checked against this hash.
   */
  readonly cold_hash?: string;
  readonly hlc_last?: string | null;
  /**
   * Present when the project has no record yet and its document was out of memory: the snapshot
   * does not hold it; it is rebuilt from its configuration (the snapshot's `configs`).
   */
  readonly fresh?: true;
}

/** A project whose document is not in memory (see `Replica.evict`). */
export interface ColdProject {
  /** Head hash of its stored document at its chain head: what a reloaded one must hash to. */
  readonly postHash: string;
  readonly hlc: string | null;
}

/** The snapshot form of a position's documents (projects and chains sorted by id). */
export function worldDocOf(p: WorldState): WorldDoc {
  const projects: Record<string, State> = {};
  for (const id of [...p.projects.keys()].sort()) projects[id] = p.projects.get(id) as State;
  const chains: Record<string, ChainHead> = {};
  for (const id of [...p.chains.keys()].sort()) chains[id] = p.chains.get(id) as ChainHead;
  return { v: 2, deployment: p.deployment, projects, chains, applied_total: p.appliedTotal };
}

/** Back from the snapshot form. */
export function worldStateOf(d: WorldDoc): WorldState {
  return {
    deployment: d.deployment,
    projects: new Map(Object.entries(d.projects)),
    chains: new Map(Object.entries(d.chains)),
    appliedTotal: d.applied_total,
  };
}

/**
 * One hash over every chain's document: H(JCS({deployment: HEAD, facts, identities, projects:
 * {id: HEAD}})). What a snapshot claims and is verified against; O(projects), so it is computed
 * per snapshot, never per decision.
 */
export function worldHash(core: Core, w: WorldState): string {
  const d = core.hashes(w.deployment);
  const projects: Record<string, string> = {};
  for (const id of [...w.projects.keys()].sort()) {
    projects[id] = core.hashes(w.projects.get(id) as State).head;
  }
  return core.hash({ deployment: d.head, facts: d.facts, identities: d.identities, projects });
}

/** The newest accepted HLC of any chain (null before the first accepted proposal). */
export function latestHlc(w: WorldState): string | null {
  let best: string | null = w.deployment.clock.hlc_last;
  for (const doc of w.projects.values()) {
    const h = doc.clock.hlc_last;
    if (h !== null && (best === null || compareHlcText(h, best) > 0)) best = h;
  }
  return best;
}

/** The later of two HLCs (null is earliest). */
export function newerHlc(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareHlcText(b, a) > 0 ? b : a;
}

function compareHlcText(a: string, b: string): number {
  const x = parseHlc(a);
  const y = parseHlc(b);
  if (!x.ok || !y.ok) return a < b ? -1 : a > b ? 1 : 0;
  return compareHlc(x.hlc, y.hlc);
}

/** Why loaded documents cannot be used (chart, idem chains), or null. */
export function verifyWorld(core: Core, w: WorldState): string | null {
  const d = core.verifyLoaded(w.deployment);
  if (d !== null) return `deployment: ${d}`;
  for (const [id, doc] of w.projects) {
    const p = core.verifyLoaded(doc);
    if (p !== null) return `project ${id}: ${p}`;
    if (!Object.hasOwn(w.deployment.projects, id)) return `project ${id} is not in the registry`;
  }
  return null;
}

/** The world before the first entry, for a genesis. */
export function genesisPosition(core: Core, hasher: Hasher, genesis: Genesis): ReplicaPosition {
  const w = core.genesisWorld(genesis);
  const genesisHash = w.deployment.meta.genesis_hash;
  return {
    deployment: w.deployment,
    projects: new Map(w.projects),
    chains: new Map(),
    appliedTotal: 0,
    lastSeq: 0,
    lastDrHash: chainStart(hasher, genesisHash, DEPLOYMENT_CHAIN),
    lastWalEntryHash: '',
  };
}

/** What a read of a queued fresh project out of memory folded its queue from (`caughtUpDoc`). */
const FRESH_BASE = Symbol('fresh project');
/** Queued projects whose last read's result a replica keeps at most. */
const READ_CACHE_MAX = 256;

/** A cold project's document was needed before it was loaded (see `Replica.warm`). */
export class ColdProjectError extends Error {
  readonly code = 'project_cold';
  constructor(readonly project: string) {
    super(`replica: project ${project} is cold; load its document first`);
    this.name = 'ColdProjectError';
  }
}

/** Replica state and the deterministic step shared by writer, follower and recovery. */
export class Replica {
  deployment: State;
  /** Copy-on-write: a position's snapshot of them costs O(chunks), not O(projects). */
  private projects: CowMap<State>;
  private chains: CowMap<ChainHead>;
  appliedTotal: number;
  lastSeq: number;
  lastDrHash: string;
  lastWalEntryHash: string;
  /** Log time of the last entry decided (what reads catch projects up to). */
  lastLogMs = 0;

  constructor(
    readonly core: Core,
    readonly hasher: Hasher,
    readonly verifier: SignatureVerifier,
    private readonly instance: string,
    pos: ReplicaPosition,
  ) {
    this.deployment = pos.deployment;
    this.projects = cowOf(pos.projects);
    this.chains = cowOf(pos.chains);
    this.appliedTotal = pos.appliedTotal;
    this.lastSeq = pos.lastSeq;
    this.lastDrHash = pos.lastDrHash;
    this.lastWalEntryHash = pos.lastWalEntryHash;
    this.lastLogMs = pos.lastLogMs ?? 0;
  }

  /** A replica at the genesis. */
  static fromGenesis(
    core: Core,
    hasher: Hasher,
    verifier: SignatureVerifier,
    genesis: Genesis,
  ): Replica {
    const start = genesisPosition(core, hasher, genesis);
    return new Replica(core, hasher, verifier, genesis.instance_id, start);
  }

  /** Where the replica stands (to return to it if the next step must be undone). */
  position(): ReplicaPosition {
    if (this.deferred.size > 0) {
      throw new Error('replica: a position does not cover deferred projects\' queues');
    }
    return {
      deployment: this.deployment,
      projects: this.projects.snapshot(),
      chains: this.chains.snapshot(),
      appliedTotal: this.appliedTotal,
      lastSeq: this.lastSeq,
      lastDrHash: this.lastDrHash,
      lastWalEntryHash: this.lastWalEntryHash,
      lastLogMs: this.lastLogMs,
    };
  }

  /** Go back to a position taken earlier (documents are immutable, so this is exact). */
  restore(p: ReplicaPosition): void {
    this.deployment = p.deployment;
    this.projects = cowOf(p.projects);
    this.chains = cowOf(p.chains);
    this.appliedTotal = p.appliedTotal;
    this.lastSeq = p.lastSeq;
    this.lastDrHash = p.lastDrHash;
    this.lastWalEntryHash = p.lastWalEntryHash;
    this.lastLogMs = p.lastLogMs ?? 0;
  }

  /** Project ids (the registry's), sorted. */
  projectIds(): string[] {
    return Object.keys(this.deployment.projects).sort();
  }

  /**
   * A project as readers see it (caught up to the deployment's facts), or null when there is no
   * such project. A cold project must be warmed first (throws `ColdProjectError`).
   */
  view(project: string): State | null {
    if (this.cold.has(project)) throw new ColdProjectError(project);
    const doc = this.caughtUpDoc(project);
    return doc === undefined ? null : this.core.projectView(this.deployment, doc, this.lastLogMs);
  }

  /** A chain's head (index 0 and its start hash before its first record). */
  chainHead(chain: string): ChainHead {
    return this.chains.get(chain) ?? {
      index: 0,
      drHash: chainStart(this.hasher, this.deployment.meta.genesis_hash, chain),
      applied: 0,
    };
  }

  /**
   * The state v1 readers know: the default project's view, or the deployment's document when
   * the deployment has no default project.
   */
  get state(): State {
    return this.view(DEFAULT_PROJECT) ?? this.deployment;
  }

  /**
   * A WAL message decoded into the core's entry-to-be and its signature checks. The verdicts
   * can then be computed anywhere (this thread, or a worker pool ahead of the reducer): they
   * are a pure function of the bytes.
   */
  static prepare(msg: WalMessage): { decoded: Decoded; prepared: PreparedEntry } {
    const decoded = decodeEnvelope(msg.data);
    const { name, channel, scope } = parseWalSubject(msg.subject);
    const scoped = scope === undefined ? {} : { scope };
    if (!decoded.ok) {
      return {
        decoded,
        prepared: {
          kind: 'final',
          entry: {
            type: 'malformed',
            seq: msg.seq as WalSeq,
            log_ms: msg.logMs,
            channel,
            name,
            code: decoded.code,
            message: decoded.message,
            ...scoped,
          },
        },
      };
    }
    return {
      decoded,
      prepared: prepareEntry({
        seq: msg.seq,
        logMs: msg.logMs,
        channel,
        name,
        body: decoded.body,
        sig: decoded.sig,
        ...scoped,
      }),
    };
  }

  /** The core's entry for a WAL message, verified in this thread. */
  entryOf(msg: WalMessage): WalEntry {
    const { prepared } = Replica.prepare(msg);
    return completeEntry(
      prepared,
      prepared.kind === 'final' ? [] : verdictsOf(prepared.checks, this.verifier),
    );
  }

  /**
   * Decide the next entry (must be lastSeq + 1) and advance. `pre` carries the prepared entry
   * and its verdicts when they were computed ahead (the writer's pool); otherwise this thread
   * verifies. The entry's project must not be deferred (see `deferNext`).
   */
  decideNext(
    msg: WalMessage,
    pre?: { decoded: Decoded; prepared: PreparedEntry; verdicts: readonly boolean[] },
  ): Decided {
    this.checkNext(msg);
    const { decoded, entry } = this.entryWith(msg, pre);
    const chain = this.core.route(this.deployment, entry);
    if (this.deferred.has(chain)) {
      throw new Error(`replica: WAL seq ${msg.seq} is for project ${chain}, which is deferred`);
    }
    const doc = chain === DEPLOYMENT_CHAIN ? undefined : this.docOf(chain);
    if ((this.covered.get(chain) ?? 0) >= msg.seq) {
      throw new Error(`replica: WAL seq ${msg.seq} of ${chain} is to be passed over, not decided`);
    }
    const d = this.stepIn(msg, decoded, entry, this.deployment, chain, doc,
      this.chainHead(DEPLOYMENT_CHAIN));
    this.deployment = d.step.deployment;
    for (const c of d.step.created) this.projects.set(c.project, c.state);
    this.appliedTotal += d.step.decision.applied.length;
    this.lastSeq = msg.seq;
    this.lastLogMs = msg.logMs;
    this.lastDrHash = d.hash;
    this.lastWalEntryHash = d.content.wal_entry_hash;
    return d;
  }

  private checkNext(msg: WalMessage): void {
    if (msg.seq !== this.lastSeq + 1) {
      throw new Error(
        `replica at ${this.lastSeq} was handed WAL seq ${msg.seq}: ` +
          'entries must be decided in order',
      );
    }
  }

  private entryWith(
    msg: WalMessage,
    pre?: { decoded: Decoded; prepared: PreparedEntry; verdicts: readonly boolean[] },
  ): { decoded: Decoded; entry: WalEntry } {
    if (pre !== undefined) {
      return { decoded: pre.decoded, entry: completeEntry(pre.prepared, pre.verdicts) };
    }
    const p = Replica.prepare(msg); // decoded once: for the entry and for its hash
    return {
      decoded: p.decoded,
      entry: completeEntry(
        p.prepared,
        p.prepared.kind === 'final' ? [] : verdictsOf(p.prepared.checks, this.verifier),
      ),
    };
  }

  /**
   * One entry decided in `chain` against `deployment` (the deployment's document at the entry's
   * position): the record, and the chain's document and head moved on. The deployment's
   * document and the replica's position are the caller's to move.
   */
  private stepIn(
    msg: WalMessage,
    decoded: Decoded,
    entry: WalEntry,
    deployment: State,
    chain: string,
    doc: State | undefined,
    deploymentHead: ChainHead,
  ): Decided {
    const appliedBefore = this.appliedTotal;
    const step = this.core.stepChain(deployment, chain, doc, entry);
    const entryHash = walEntryHash(msg.subject, msg.data, decoded);
    const head = this.chainHead(chain);
    const content = drContent(
      this.instance,
      { seq: msg.seq, wal_entry_hash: entryHash },
      step,
      { index: head.index + 1, prevDrHash: head.drHash },
    );
    const text = contentTextOf(contentMembers(content));
    const contentText = text.text;
    const hash = hashText(this.hasher, contentText);
    if (chain !== DEPLOYMENT_CHAIN) this.projects.set(chain, step.stored);
    const chainAppliedBefore = head.applied ?? 0;
    this.chains.set(chain, {
      index: head.index + 1,
      drHash: hash,
      applied: chainAppliedBefore + step.decision.applied.length,
    });
    return {
      msg, step, content, text, contentText, hash, appliedBefore, chainAppliedBefore,
      before: { deployment, deploymentHead, doc },
    };
  }

  // ---- Deciding held chains only (writers by bucket; docs/adr/0006-deciding-held-chains.md) ----

  /** Deferred projects: their entries since their document, in WAL order. */
  private deferred = new Map<string, QueuedEntry[]>();
  private deferredBytes = 0;

  /** The chain a WAL message is decided in, from its subject and the registry (cheap). */
  routeOf(msg: WalMessage): string {
    const { name, channel, scope } = parseWalSubject(msg.subject);
    const entry = {
      type: 'malformed', seq: msg.seq as WalSeq, log_ms: msg.logMs, channel, name,
      code: 'invalid_proposal', message: '', ...(scope === undefined ? {} : { scope }),
    } as WalEntry;
    return this.core.route(this.deployment, entry);
  }

  /** True when `project`'s entries are queued rather than decided. */
  isDeferred(project: string): boolean {
    return this.deferred.has(project);
  }

  /** Projects deferred now. */
  deferredProjects(): IterableIterator<string> {
    return this.deferred.keys();
  }

  /** Entries queued for `project` (empty when it is not deferred). */
  queueOf(project: string): readonly QueuedEntry[] {
    return this.deferred.get(project) ?? [];
  }

  /** Bytes of WAL messages queued, all projects. */
  get queuedBytes(): number {
    return this.deferredBytes;
  }

  /** Stop deciding `project`: its later entries are queued (its document stays as it is). */
  defer(project: string): void {
    if (project === DEPLOYMENT_CHAIN) {
      throw new Error('replica: the deployment chain is always decided');
    }
    if (!this.deferred.has(project)) this.deferred.set(project, []);
  }

  /**
   * Take the next entry (lastSeq + 1), whose project is deferred, into that project's queue.
   * The replica moves past it; its record is decided when the project is materialized.
   */
  deferNext(msg: WalMessage, project: string): void {
    this.checkNext(msg);
    const q = this.deferred.get(project);
    if (q === undefined) throw new Error(`replica: project ${project} is not deferred`);
    const skip = this.covered.get(project);
    if (skip !== undefined && msg.seq > skip) this.covered.delete(project);
    if (skip !== undefined && msg.seq <= skip) {
      // In the project's document already (a snapshot taken by a member that decided it).
    } else {
      const deploymentHead = this.chainHead(DEPLOYMENT_CHAIN);
      q.push({ msg, deployment: this.deployment, deploymentHead });
      this.deferredBytes += msg.data.length;
    }
    this.lastSeq = msg.seq;
    this.lastLogMs = msg.logMs;
  }

  /**
   * Per project, the WAL seq up to which its document already holds its entries (a snapshot of
   * a member deciding held chains: its projects' documents are at different positions). Those
   * entries are passed over when they come (`deferNext`).
   */
  private covered = new Map<string, number>();

  /** Drop the covered positions this replica has passed. */
  forgetCoveredBehind(): void {
    for (const [p, seq] of this.covered) if (seq <= this.lastSeq) this.covered.delete(p);
  }

  /** True while entries of `project` up to a later WAL seq are to be passed over. */
  coversAhead(project: string): boolean {
    return (this.covered.get(project) ?? 0) > this.lastSeq;
  }

  /** Projects whose document is ahead of the replica's position, with that position. */
  coveredAhead(): ReadonlyMap<string, number> {
    return this.covered;
  }

  // ---- Residency (members deciding held chains bound the documents they keep; ADR 0007) ----

  /** Projects whose document is not in memory and must be loaded (`warm`) before use. */
  private readonly cold = new Map<string, ColdProject>();
  /** Configurations of evicted fresh projects, by the registry's config hash (few distinct). */
  private readonly configs = new Map<string, CoreConfig>();

  /**
   * A project's stored document (the base, for a deferred one): the one in memory, or, for a
   * project with no record yet whose document was evicted, its first document rebuilt from the
   * registry's configuration. Undefined for an unknown project and for a cold one.
   */
  docOf(project: string): State | undefined {
    const doc = this.projects.get(project);
    if (doc !== undefined || this.cold.has(project)) return doc;
    const entry = Object.hasOwn(this.deployment.projects, project)
      ? this.deployment.projects[project] : undefined;
    if (entry === undefined || this.chainHead(project).index !== 0) return undefined;
    const config = this.configs.get(entry.config_hash);
    return config === undefined ? undefined
      : this.core.freshProject(this.deployment, project, config);
  }

  /** Projects whose document is in memory now. */
  residentIds(): IterableIterator<string> {
    return this.projects.keys();
  }

  /** How many projects' documents are in memory. */
  get residentCount(): number {
    return this.projects.size;
  }

  /** The cold marker of `project`, if its document is out of memory and must be loaded. */
  coldOf(project: string): ColdProject | undefined {
    return this.cold.get(project);
  }

  /** Cold projects now. */
  get coldCount(): number {
    return this.cold.size;
  }

  /**
   * Drop `project`'s document from memory. A project with no record yet is rebuilt from its
   * configuration when next needed (`docOf`; checked here to give the same document). Any other
   * becomes cold: only its document's hash stays, and it must be deferred with nothing queued
   * (its next entries are queued until a caller loads it, `warm`); the caller makes sure a copy
   * can be loaded (a project snapshot at its chain head). Returns what happened, or why not.
   */
  evict(project: string): string {
    const doc = this.projects.get(project);
    if (doc === undefined) return 'not in memory';
    if (this.chainHead(project).index === 0) {
      const entry = this.deployment.projects[project];
      if (entry === undefined || this.core.hash(doc.meta.config) !== entry.config_hash) {
        return 'its configuration is not the registry\'s';
      }
      const rebuilt = this.core.freshProject(this.deployment, project, doc.meta.config);
      if (this.core.hashes(rebuilt).head !== this.core.hashes(doc).head) {
        return 'its first document cannot be rebuilt';
      }
      this.configs.set(entry.config_hash, doc.meta.config);
      this.projects.delete(project);
      this.readCache.delete(project);
      return 'fresh';
    }
    const q = this.deferred.get(project);
    if (q === undefined || q.length > 0) return 'not deferred with an empty queue';
    if (this.coversAhead(project)) return 'its document is ahead of the replica';
    this.cold.set(project, { postHash: this.core.hashes(doc).head, hlc: doc.clock.hlc_last });
    this.projects.delete(project);
    this.readCache.delete(project);
    return 'cold';
  }

  /** Configurations this replica rebuilds evicted fresh projects from, by config hash. */
  freshConfigs(): ReadonlyMap<string, CoreConfig> {
    return this.configs;
  }

  /** The config hashes of the projects out of memory as fresh now (what `docOf` rebuilds). */
  freshConfigHashes(): Set<string> {
    const out = new Set<string>();
    for (const [p, entry] of Object.entries(this.deployment.projects)) {
      if (!this.projects.has(p) && !this.cold.has(p) && this.chainHead(p).index === 0) {
        out.add(entry.config_hash);
      }
    }
    return out;
  }

  /** Forget the configurations not in `used` (re-learnt from a document when it is evicted). */
  keepConfigs(used: ReadonlySet<string>): void {
    for (const k of [...this.configs.keys()]) if (!used.has(k)) this.configs.delete(k);
  }

  /** Learn a configuration (a snapshot's); refused (false) unless it hashes to `configHash`. */
  addConfig(configHash: string, config: CoreConfig): boolean {
    if (this.core.hash(config) !== configHash) return false;
    this.configs.set(configHash, config);
    return true;
  }

  /** Start with `project` cold (a snapshot that held it so). */
  markCold(project: string, cold: ColdProject): void {
    if (this.projects.has(project)) throw new Error(`replica: project ${project} is in memory`);
    this.cold.set(project, cold);
  }

  /**
   * Bring a cold project's document back: `doc` must hash to the one evicted (a copy at the
   * same chain index; a newer one goes through `adopt`). Returns null, or why it is refused.
   */
  warm(project: string, doc: State): string | null {
    const why = this.coldProblem(project, doc);
    if (why !== null || !this.cold.has(project)) return why;
    this.cold.delete(project);
    this.projects.set(project, doc);
    return null;
  }

  /** Why `doc` is not the document `project` was evicted with, or null (also when not cold). */
  coldProblem(project: string, doc: State): string | null {
    const c = this.cold.get(project);
    if (c === undefined) return null;
    const loaded = this.core.verifyLoaded(doc);
    if (loaded !== null) return loaded;
    const head = this.core.hashes(doc).head;
    return head === c.postHash ? null : `document hashes to ${head}, ${c.postHash} was evicted`;
  }

  /** True while `project`'s document is in memory. */
  isResident(project: string): boolean {
    return this.projects.has(project);
  }

  /**
   * `project` as readers see it from `base` (its document loaded for one read), with its queued
   * entries after WAL seq `after` decided on top in this thread; the replica is not changed.
   */
  viewFrom(project: string, base: State, after: number): State {
    let doc = base;
    for (const e of this.deferred.get(project) ?? []) {
      if (e.msg.seq <= after) continue;
      doc = this.core.stepChain(e.deployment, project, doc, this.entryOf(e.msg)).stored;
    }
    return this.core.projectView(this.deployment, doc, this.lastLogMs);
  }

  /** See `covered`: set once, when the replica starts from such a snapshot. */
  coverUpTo(project: string, seq: number): void {
    if (seq > this.lastSeq) this.covered.set(project, seq);
  }

  /**
   * Decide `project`'s queued entries in order, each against the deployment's document at its
   * position, with `verdicts` (one list per queued entry, as `Replica.prepare` orders the
   * checks). The project's document and chain head move on; it stays deferred (its queue now
   * empty) unless `live`. Exactly what deciding them as they arrived would have given.
   */
  materialize(
    project: string,
    verdicts: readonly (readonly boolean[])[],
    live: boolean,
    prepared?: readonly ReturnType<typeof Replica.prepare>[],
  ): Decided[] {
    const q = this.deferred.get(project);
    if (q === undefined) throw new Error(`replica: project ${project} is not deferred`);
    if (this.cold.has(project)) {
      // Nothing to decide without its document; with nothing queued it stays deferred (a cold
      // project is never decided as it comes: its document is not here).
      if (q.length > 0) throw new ColdProjectError(project);
      return [];
    }
    const out: Decided[] = [];
    // `prepared`: the caller's, when it prepared this very queue to compute the verdicts.
    const mine = prepared !== undefined && prepared.length === q.length ? prepared : undefined;
    q.forEach((e, i) => {
      const p = mine?.[i] ?? Replica.prepare(e.msg);
      const v = verdicts[i];
      if (v === undefined) throw new Error(`replica: no verdicts for queued entry ${e.msg.seq}`);
      out.push(this.stepIn(e.msg, p.decoded, completeEntry(p.prepared, v), e.deployment, project,
        this.docOf(project), e.deploymentHead));
      this.deferredBytes -= e.msg.data.length;
    });
    if (live) this.deferred.delete(project);
    else this.deferred.set(project, []);
    this.readCache.delete(project);
    return out;
  }

  /**
   * A newer document of a deferred project (a verified per-project snapshot): adopt it and its
   * chain head, and drop the queued entries it covers (WAL seq ≤ `walSeq`). Refused (false) when
   * it is not ahead of what the replica has.
   */
  adopt(project: string, doc: State, head: ChainHead, walSeq: number): boolean {
    const q = this.deferred.get(project);
    if (q === undefined || head.index <= this.chainHead(project).index) return false;
    this.cold.delete(project);
    this.projects.set(project, doc);
    this.chains.set(project, head);
    const keep = q.filter((e) => e.msg.seq > walSeq);
    for (const e of q) if (e.msg.seq <= walSeq) this.deferredBytes -= e.msg.data.length;
    this.deferred.set(project, keep);
    this.readCache.delete(project);
    return true;
  }

  /**
   * A deferred project's document with its queue decided, verified in this thread, without
   * changing the replica (what reads of a project this replica does not decide see).
   */
  private caughtUpDoc(project: string): State | undefined {
    const q = this.deferred.get(project);
    if (q === undefined || q.length === 0) {
      this.readCache.delete(project);
      return this.docOf(project);
    }
    // Queues only grow until they are decided or cut (which changes the base or the first
    // entry), so a read continues from the last one's result. A fresh project out of memory
    // has no base object to compare: its rebuilt document is the same while it stays so.
    const resident = this.projects.get(project);
    const key = resident ?? FRESH_BASE;
    const c = this.readCache.get(project);
    const cached = c !== undefined && c.base === key && c.first === q[0] && c.n <= q.length;
    const base = cached ? c.doc : this.docOf(project);
    if (base === undefined) {
      this.readCache.delete(project);
      return undefined;
    }
    let doc = base;
    for (let i = cached ? c.n : 0; i < q.length; i++) {
      const e = q[i] as QueuedEntry;
      doc = this.core.stepChain(e.deployment, project, doc, this.entryOf(e.msg)).stored;
    }
    // Bounded: the oldest read goes first (a Map keeps insertion order).
    this.readCache.delete(project);
    this.readCache.set(project, { base: key, first: q[0] as QueuedEntry, n: q.length, doc });
    if (this.readCache.size > READ_CACHE_MAX) {
      const oldest = this.readCache.keys().next();
      if (oldest.done !== true) this.readCache.delete(oldest.value);
    }
    return doc;
  }

  /** Per deferred project read: what its last read folded (see `caughtUpDoc`). */
  private readonly readCache = new Map<string, {
    base: State | typeof FRESH_BASE; first: QueuedEntry; n: number; doc: State;
  }>();

  /** Compare a recomputed record with the stored one; throws ReplayMismatchError on any byte. */
  static compare(decided: Decided, stored: DecisionRecord): void {
    const a = jcs(contentOf(stored));
    const b = decided.contentText;
    if (a === b) return;
    const [field, x, y] = firstDifference(contentOf(stored), decided.content);
    throw new ReplayMismatchError(decided.msg.seq, field, x, y);
  }
}

