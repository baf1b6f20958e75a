/**
 * The state document (brief §7). JSON-compatible, integers only, never mutated: evolve returns
 * a new document that shares every section it did not change, so hashes cached by section
 * identity stay valid (see merkle.ts).
 */
import type { IdemSection } from '../decide/idem.js';
import type { JsonObject } from '../encoding/json.js';
import type { PolicyBreach } from './types.js';

/** Top-level configuration states (generated union lives in generated/chart.ts). */
export type TopStateId = string;

/** Machine metadata and the genesis configuration the instance runs under. */
export interface MetaSection {
  readonly machine: string;
  readonly machine_version: string;
  readonly chart_hash: string;
  readonly genesis_hash: string;
  readonly instance_id: string;
  readonly config: CoreConfig;
  /** The project this document governs; absent on the deployment's own document. */
  readonly project?: string;
}

/** Configuration taken from genesis (see genesis.ts for validation and defaults). */
export interface CoreConfig {
  /** Valid signed council votes needed for a quorum certificate. */
  readonly quorum_threshold: number;
  /** Distinct member approvals needed for Execution_ApprovalsThreshold. */
  readonly approvals_threshold: number;
  /** Phases each window class may act in (chart defaults overridden by genesis). */
  readonly window_policy: { readonly [windowClass: string]: readonly string[] };
  /** How long (HLC ms) accepted idem keys are remembered. */
  readonly idem_retention_ms: number;
  /** Upper bound on remembered idem keys, whatever their age. */
  readonly idem_max: number;
  /** How far a proposal's HLC may run ahead of the entry's log time. */
  readonly max_clock_skew_ms: number;
  /**
   * How far a proposal's HLC may lag behind the entry's log time (`hlc_too_old`). Absent when
   * a genesis does not set it (so such configurations hash as before): then
   * `proposalAgeMaxOf` gives idem_retention_ms, at least PROPOSAL_AGE_FLOOR_MS.
   */
  readonly max_proposal_age_ms?: number;
  /** Licence grace period before the hard stop. */
  readonly license_grace_ms: number;
  /** MCP tools required at TOOLING_SYNC, with their pinned versions. */
  readonly mcp_pins: { readonly [tool: string]: string };
  /**
   * Council roles every role plan of this project must name (sorted, unique; Project_Create
   * or genesis `required_roles`). Absent when there are none, so configurations written before
   * the field existed hash as they did.
   */
  readonly required_roles?: readonly string[];
}

/** BOOT region. */
export interface BootSection {
  readonly state: string;
  readonly config_hash: string | null;
  readonly licensed_at_ms: number | null;
}

/** Ingestion region. */
export interface IngestionSection {
  readonly state: string;
  readonly sources: readonly { readonly uri: string; readonly kind: string | null }[];
  readonly manifest_hash: string | null;
  readonly bytes_total: number | null;
  readonly schema_version: string | null;
  readonly validation: { readonly checked: number; readonly failed: number } | null;
  readonly content_hash: string | null;
  readonly version: string | null;
  readonly rollbacks: number;
}

/** A council candidate profile. */
export interface Candidate {
  readonly agent: string;
  readonly capabilities: readonly string[];
}

/** The council role plan (formation). */
export interface CouncilPlan {
  readonly required_roles: readonly string[];
  readonly candidates: readonly Candidate[];
  readonly assignments: readonly { readonly role: string; readonly agent: string }[];
  readonly unmatched_roles: readonly string[];
  /** Coverage as matched/required, kept as two integers (no floats in hashed state). */
  readonly coverage: { readonly matched: number; readonly required: number };
}

/** Council region. */
export interface CouncilSection {
  readonly state: string;
  readonly term: number;
  readonly plan: CouncilPlan | null;
  readonly ejected: readonly string[];
  readonly members: readonly string[];
  readonly member_set_hash: string | null;
  readonly quorum_cert: {
    readonly term: number;
    readonly member_set_hash: string;
    readonly voters: readonly string[];
  } | null;
  readonly tooling_green_at_ms: number | null;
}

/** Environment region. */
export interface EnvironmentSection {
  readonly state: string;
  readonly allocation: {
    readonly cpu_millis: number;
    readonly memory_mb: number;
    readonly slots: number;
  } | null;
  readonly assets: readonly string[];
  readonly env_version: string | null;
  readonly health: { readonly checks_passed: number } | null;
  readonly amber_reasons: readonly string[];
}

/** Pins recorded when EXECUTION was entered (index-swap and split-council protection). */
export interface ExecutionPins {
  readonly content_hash: string;
  readonly ingestion_version: string;
  readonly member_set_hash: string;
  readonly env_version: string;
}

/** Execution region: the PLAN → WORK → REVIEW → REVERB loop. */
export interface ExecutionSection {
  readonly state: string;
  readonly pins: ExecutionPins | null;
  /** Completed loops (REVERB → PLAN). */
  readonly loop: number;
  /** The BACKBEAT window the current loop was planned in. */
  readonly window_id: string | null;
  readonly plan_hash: string | null;
  readonly work_hash: string | null;
  /** Sorted, distinct council members who approved `work_hash`. */
  readonly approvals: readonly string[];
}

/** Control: the top configuration and the history stack. */
export interface ControlSection {
  readonly top: TopStateId;
  /** DEGRADED substate. */
  readonly degraded: 'GRACE' | 'HARD_STOP' | null;
  readonly grace_until_ms: number | null;
  /** Saved configurations, innermost last; `$history` pops. */
  readonly history: readonly TopStateId[];
  readonly reason: string | null;
}

/** Policy: quarantine status and rationale. */
export interface PolicySection {
  readonly quarantine: {
    readonly since_seq: number;
    readonly rationale: string;
    readonly breach: PolicyBreach;
  } | null;
  readonly quarantines: number;
  readonly releases: number;
}

/** Per-region epochs: each advances by exactly one per applied transition of its region. */
export type Epochs = { readonly [region: string]: number };

/** The last accepted proposal's HLC stamp and the count of applied transitions. */
export interface ClockSection {
  readonly hlc_last: string | null;
  readonly hlc_last_signer: string | null;
  readonly hlc_last_idem_key: string | null;
  /** Applied transitions so far (proposed and automatic): the TRANSITIONS stream fence. */
  readonly applied_count: number;
}

/**
 * Identity registry: signer → roles (sorted) and, optionally, the projects those roles are
 * limited to (sorted; contract v2 §2). An identity with `projects` holds no role in the
 * deployment chain (facts, control) nor in any other project.
 */
export type Identities = {
  readonly [signer: string]: {
    readonly roles: readonly string[];
    readonly projects?: readonly string[];
    /**
     * Log time (ms) from which the identity holds no role: entries logged at or after it are
     * refused (`identity_expired`). Absent: no expiry.
     */
    readonly not_after_ms?: number;
  };
};

/** True when `identity` carries an expiry that log time `logMs` has reached. */
export function expiredAt(identity: Identities[string] | undefined, logMs: number): boolean {
  return identity?.not_after_ms !== undefined && logMs >= identity.not_after_ms;
}

/**
 * The smallest age limit a configuration without `max_proposal_age_ms` gets. Why: a producer
 * stamps before it publishes, so log time is always a little after the HLC; a deployment that
 * remembers idem keys briefly must still take proposals that spent a moment in flight.
 */
export const PROPOSAL_AGE_FLOOR_MS = 60_000;

/** The proposal age limit of a configuration (see CoreConfig.max_proposal_age_ms). */
export function proposalAgeMaxOf(config: CoreConfig): number {
  return config.max_proposal_age_ms ?? Math.max(config.idem_retention_ms, PROPOSAL_AGE_FLOOR_MS);
}

/** The roles an identity holds in `project` (undefined: the deployment chain). */
export function rolesIn(
  identity: Identities[string] | undefined,
  project: string | undefined,
): readonly string[] {
  if (identity === undefined) return [];
  if (identity.projects === undefined) return identity.roles;
  return project !== undefined && identity.projects.includes(project) ? identity.roles : [];
}

/** SHHH policy rules (facts.policy). */
export interface PolicyRules {
  readonly version: number;
  /** Glob patterns (`*` matches any run of characters) that source URIs must not match. */
  readonly denied_source_patterns: readonly string[];
  /** Largest council (members or candidates); 0 means no limit. */
  readonly max_council_size: number;
  /** transition → evidence prefixes that must each be matched by one evidence entry. */
  readonly required_evidence: { readonly [transition: string]: readonly string[] };
}

/** Facts: observations of the world, hashed separately (facts_hash). */
export interface FactsSection {
  readonly license: {
    readonly status: 'unknown' | 'active' | 'revoked';
    readonly hlc: string | null;
    readonly since_ms: number | null;
    readonly license_id: string | null;
  };
  readonly backbeat: {
    readonly hlc: string | null;
    readonly cluster_id: string | null;
    readonly beat_index: number;
    readonly downbeat: boolean;
    readonly phase: string | null;
    readonly window_id: string | null;
    readonly deadline_ms: number | null;
    /** INT-A `tempo_bpm` × 1000, rounded (fractional tempos; the state holds integers). */
    readonly tempo_mbpm: number;
    /** BACKBEAT's own `hlc` of the frame (`XXXX:XXXX:XXXX`), kept as data. */
    readonly source_hlc: string | null;
  };
  readonly mcp: {
    readonly hlc: string | null;
    readonly tools: {
      readonly [tool: string]: { readonly reachable: boolean; readonly version: string };
    };
  };
  readonly policy: { readonly hlc: string | null; readonly rules: PolicyRules };
  readonly capacity: {
    readonly hlc: string | null;
    readonly cpu_millis: number;
    readonly memory_mb: number;
    readonly slots: number;
    readonly known: boolean;
  };
  readonly tick: { readonly hlc: string | null; readonly last_ms: number | null };
}

/** One project in the deployment's registry (contract v2 §2). */
export interface ProjectEntry {
  /** WAL seq of the Project_Create that started it (0: named by the genesis). */
  readonly created_seq: number;
  /** Hash of the project's configuration (its meta.config). */
  readonly config_hash: string;
}

/** The project registry: project id → entry. Empty in a project's own document. */
export type ProjectRegistry = { readonly [project: string]: ProjectEntry };

/** The whole state document. Section names are the Merkle leaves (see merkle.ts). */
export interface State {
  readonly meta: MetaSection;
  readonly boot: BootSection;
  readonly ingestion: IngestionSection;
  readonly council: CouncilSection;
  readonly environment: EnvironmentSection;
  readonly execution: ExecutionSection;
  readonly control: ControlSection;
  readonly policy: PolicySection;
  readonly epochs: Epochs;
  readonly clock: ClockSection;
  readonly identities: Identities;
  readonly idem: IdemSection;
  readonly projects: ProjectRegistry;
  readonly facts: FactsSection;
}

/**
 * Names of the sections that make up HEAD, in JCS key order: everything but the deployment's
 * facts and identities, which are hashed separately (facts_hash, identities_hash), so a beat or
 * a grant does not make every project's in-flight proposals stale (contract v2 §3).
 */
export const HEAD_SECTIONS = [
  'boot',
  'clock',
  'control',
  'council',
  'environment',
  'epochs',
  'execution',
  'idem',
  'ingestion',
  'meta',
  'policy',
  'projects',
] as const satisfies readonly (keyof State)[];

/** A HEAD section name. */
export type HeadSection = (typeof HEAD_SECTIONS)[number];

/** Fact kinds in a fixed order (the facts Merkle leaves). */
export const FACT_KINDS = ['backbeat', 'capacity', 'license', 'mcp', 'policy', 'tick'] as const;

/** Narrow a JSON object to the stored form of a fact kind (validated by facts.ts). */
export type FactValue = JsonObject;
