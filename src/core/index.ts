/**
 * The deterministic core: the only module the shell needs. `createCore(hasher)` builds a
 * reducer instance over an injected SHA-256 (node:crypto in the server, @noble/hashes in the
 * portable SDK); everything it does is a pure function of the state and the WAL entry.
 */
import { GUARDS } from './guards/index.js';
import type { Chart, TransitionSpec } from './model/chart-spec.js';
import type { GuardFn } from './guards/contract.js';
import { decide } from './decide/decide.js';
import { evolve } from './evolve/evolve.js';
import { CHART } from './generated/chart.js';
import {
  PLACEHOLDER_FACTS,
  chartHashOf,
  genesisState,
  parseGenesis,
  projectState,
  type Genesis,
  type GenesisError,
} from './genesis.js';
import {
  projectView,
  routeOf,
  stepChain,
  storedForm,
  type ChainStep,
  type WorldDeps,
} from './world/world.js';
import { hashJcs, type Hasher, type Sha256 } from './encoding/hash.js';
import { idemVerify } from './decide/idem.js';
import { assertInvariants } from './invariants.js';
import { createStateHasher, type StateHashes } from './encoding/merkle.js';
import { isJsonObject } from './encoding/json.js';
import { validateProposalObject, type ProposalProblem } from './decide/proposal.js';
import type { CoreConfig, State } from './model/state.js';
import type { Decision, WalEntry } from './model/types.js';

/** The result of one step: the decision, the next state and both states' hashes. */
export interface StepResult {
  readonly decision: Decision;
  readonly state: State;
  readonly pre: StateHashes;
  readonly post: StateHashes;
}

/** A reducer instance. */
export interface Core {
  readonly chart: Chart;
  readonly chartHash: Sha256;
  /** Validate a parsed genesis document. */
  parseGenesis(raw: unknown): { ok: true; value: Genesis } | { ok: false; error: GenesisError };
  /** The state before the first entry. */
  genesis(genesis: Genesis): State;
  decide(state: State, entry: WalEntry): Decision;
  evolve(state: State, decision: Decision): State;
  /** decide + evolve + invariants + hashes: what the writer and every replica run. */
  step(state: State, entry: WalEntry): StepResult;
  hashes(state: State): StateHashes;
  /** Check a state loaded from a snapshot: the idem chain and the chart it was made under. */
  verifyLoaded(state: State): string | null;
  /** `sha256-<hex>` of JCS(value). */
  hash(value: unknown): Sha256;
  /** The region a transition belongs to in this core's chart (`unknown` for no such transition). */
  readonly regionOf: (transition: string) => string;
  /**
   * The schema stage of a proposal object (without its signature), exactly as WAL entries get
   * it: null when valid, else the stable code, the field's path and a message naming it.
   */
  validateProposal(obj: unknown): ProposalProblem | null;
  /**
   * Many projects (world.ts): the deployment's document and every genesis project's first
   * document, sorted by id.
   */
  genesisWorld(genesis: Genesis): {
    readonly deployment: State;
    readonly projects: readonly (readonly [string, State])[];
  };
  /** The chain an entry is decided in: a project id or DEPLOYMENT_CHAIN. */
  route(deployment: State, entry: WalEntry): string;
  /** Decide one entry in its chain (`doc`: the project's stored document, if a project). */
  stepChain(deployment: State, chain: string, doc: State | undefined, entry: WalEntry): ChainStep;
  /** A project as readers see it: its view with the deployment's facts and the catch-up. */
  projectView(deployment: State, doc: State, logMs: number): State;
  /**
   * A project's stored document before its first record: what `Project_Create` (or the
   * genesis) gave it, a function of the deployment's meta, the id and its configuration only.
   */
  freshProject(deployment: State, project: string, config: CoreConfig): State;
}

/** What a reducer instance is built from besides the hasher; both default to this build's. */
export interface CoreOptions {
  readonly chart?: Chart;
  /** Guard id → provider; a guard reads the chart from its context, never a global. */
  readonly guards?: { readonly [id: string]: GuardFn };
}

/** Build a reducer instance. */
export function createCore(hasher: Hasher, options: CoreOptions = {}): Core {
  const chart = options.chart ?? CHART;
  const guards = options.guards ?? GUARDS;
  const specs = new Map<string, TransitionSpec>(chart.transitions.map((t) => [t.name, t]));
  const stateHasher = createStateHasher(hasher);
  const hash = (v: unknown): Sha256 => hashJcs(hasher, v);
  const chartHash = chartHashOf(hasher, chart);
  const decideDeps = { chart, specs, guards, hasher, stateHasher };
  const evolveDeps = { chart, specs, hasher, hash };
  const regionOf = (t: string): string => specs.get(t)?.region ?? 'unknown';
  const worldDeps: WorldDeps = {
    chart,
    specs,
    decideDeps,
    evolveDeps,
    hashes: (s) => stateHasher.hashes(s),
    regionOf,
    hash,
  };
  const core: Core = {
    chart,
    chartHash,
    parseGenesis: (raw) => parseGenesis(raw, chart),
    genesis: (g) => genesisState(hasher, chart, g),
    decide: (state, entry) => decide(decideDeps, state, entry),
    evolve: (state, decision) => evolve(evolveDeps, state, decision),
    step(state, entry) {
      const pre = stateHasher.hashes(state);
      const decision = decide(decideDeps, state, entry);
      const next = evolve(evolveDeps, state, decision);
      assertInvariants(state, decision, next, regionOf, hash);
      return { decision, state: next, pre, post: stateHasher.hashes(next) };
    },
    hashes: (state) => stateHasher.hashes(state),
    verifyLoaded(state) {
      if (state.meta.chart_hash !== chartHash) {
        return `state was made under chart ${state.meta.chart_hash}, this build runs ${chartHash}`;
      }
      return idemVerify(hasher, state.idem) ? null : 'idempotency chain does not reach its head';
    },
    hash,
    regionOf,
    validateProposal(obj) {
      if (!isJsonObject(obj)) {
        return { code: 'invalid_proposal', path: '', message: 'body: expected a JSON object' };
      }
      const v = validateProposalObject({ specs, hasher, chart }, obj);
      return v.ok ? null : v.problem;
    },
    genesisWorld(g) {
      const deployment = genesisState(hasher, chart, g);
      const projects = g.projects.map((p): readonly [string, State] => [
        p,
        storedForm(
          projectState(hasher, chart, deployment, p, g.config, PLACEHOLDER_FACTS),
          PLACEHOLDER_FACTS,
        ),
      ]);
      return { deployment, projects };
    },
    route: (dep, entry) => routeOf(worldDeps, dep, entry),
    stepChain: (dep, chain, doc, entry) =>
      stepChain(worldDeps, dep, chain, doc, entry, PLACEHOLDER_FACTS),
    projectView: (dep, doc, logMs) => projectView(worldDeps, dep, doc, logMs),
    freshProject: (dep, p, config) => storedForm(
      projectState(hasher, chart, dep, p, config, PLACEHOLDER_FACTS),
      PLACEHOLDER_FACTS,
    ),
  };
  return core;
}

export type { Chart, TransitionSpec } from './model/chart-spec.js';
export type { Genesis, GenesisError } from './genesis.js';
export type { Hasher, Sha256 } from './encoding/hash.js';
export type { StateHashes } from './encoding/merkle.js';
export type { CoreConfig, State } from './model/state.js';
export { DEPLOYMENT_CHAIN, type ChainStep } from './world/world.js';
export { DEFAULT_PROJECT, PROJECT_RE } from './genesis.js';
export { CONTROL_REGIONS, isControlTransition } from './decide/proposal.js';
export * from './model/types.js';
export { REJECTION_CODES, type RejectionCode } from './model/codes.js';
export { InvariantViolation } from './invariants.js';
export { jcs } from './encoding/json.js';
export type { ProposalProblem } from './decide/proposal.js';
export * as hlc from './model/hlc.js';

export { SIGNATURE_RE, SIGNER_RE } from './model/ids.js';
export { assertNever } from './model/never.js';
export { REGION_SECTIONS, hashTargetOf, type RegionSection } from './decide/hash-target.js';
// What the other layers use of the core, named here so src/core is reached through this file only.
export {
  EVIDENCE_MAX,
  IDEM_KEY_LENGTH_MAX,
  REF_LENGTH_MAX,
  validateProposalObject,
} from './decide/proposal.js';
export { hashJcs, hashText, isSha256 } from './encoding/hash.js';
export { describeJsonProblem, scanJson } from './encoding/json-scan.js';
export { isJsonObject, jcsOrProblem } from './encoding/json.js';
export { PATTERN_FLAGS, schemaToTs, validateInputs } from './encoding/schema.js';
export { FACT_PAYLOAD_SCHEMAS, checkFactPayload, licenceGraceEndOf } from './facts.js';
export type { FactProblem } from './facts.js';
export { CHART } from './generated/chart.js';
export { GENESIS_DEFAULTS, policyRulesFrom } from './genesis.js';
export { memberSetHash } from './domain/quorum.js';
export type {
  InputSchema,
  RegionSpec,
  TopStateKind,
  TopStateSpec,
  WindowClassSpec,
} from './model/chart-spec.js';
export {
  HLC_MS_MAX,
  compareHlc,
  formatHlc,
  formatIsoUtcMs,
  hlcReceive,
  hlcSend,
  parseHlc,
  parseIsoUtcMs,
} from './model/hlc.js';
export type { Hlc } from './model/hlc.js';
export { FACT_KINDS, rolesIn } from './model/state.js';
export type { PolicyRules } from './model/state.js';
export { WRITER_ROLE, writerAllowed, writerKeys } from './domain/writers.js';
export { isUcxlRef, parseUcxl, type Ucxl } from './domain/ucxl.js';
