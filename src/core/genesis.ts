/**
 * Genesis: the configuration an instance starts from, validated, and the initial state it
 * produces. The shell reads the file (JSON or YAML); this module only sees parsed values.
 */
import type { Chart } from './model/chart-spec.js';
import { hashJcs, hashText, type Hasher, type Sha256 } from './encoding/hash.js';
import { emptyIdem } from './decide/idem.js';
import { isJsonObject, type JsonObject } from './encoding/json.js';
import type {
  CoreConfig,
  FactsSection,
  Identities,
  PolicyRules,
  ProjectEntry,
  ProjectRegistry,
  State,
} from './model/state.js';
import { SIGNER_RE } from './model/ids.js';
import { rotateWriters } from './domain/writers.js';

/** Defaults, each with the reason it is what it is. */
export const GENESIS_DEFAULTS = {
  /** One day of HLC time: longer than any producer's retry horizon. */
  idem_retention_ms: 86_400_000,
  /** Bounds idempotency memory (~100 bytes an entry, so ~10 MB at the limit). */
  idem_max: 100_000,
  /**
   * Producers' clocks may run this far ahead of the server's log time. Also its upper bound
   * (MAX_CLOCK_SKEW_MS_MAX): an HLC far in the future would let one proposal fence every later
   * one of its chain out (hlc_regression) until the log time catches up. NTP keeps hosts
   * within milliseconds.
   */
  max_clock_skew_ms: 5_000,
  /** Five minutes of grace after a licence is revoked. */
  license_grace_ms: 300_000,
  quorum_threshold: 1,
  approvals_threshold: 1,
} as const;

/** The largest `max_clock_skew_ms` a genesis may set (see GENESIS_DEFAULTS). */
export const MAX_CLOCK_SKEW_MS_MAX = 5_000;

/** Largest identity registry accepted at genesis: keeps the identities section hashable. */
export const GENESIS_IDENTITIES_MAX = 100_000;
/** BACKBEAT phases (INT-A). */
export const BEAT_PHASES = ['plan', 'execute', 'review'] as const;

const NAME_RE = /^[A-Za-z0-9_.:@/-]{1,200}$/;

/** A genesis problem: stable code, the field's path, and what was expected. */
export interface GenesisError {
  readonly code: 'invalid_genesis';
  readonly path: string;
  readonly message: string;
}

/** A validated genesis. */
export interface Genesis {
  readonly instance_id: string;
  readonly identities: Identities;
  readonly config: CoreConfig;
  readonly policy: PolicyRules;
  /**
   * Projects that exist from the start, sorted. Absent in the document means `["default"]`:
   * a v1 single-project genesis is a deployment with one project (contract v2 §9).
   */
  readonly projects: readonly string[];
}

/** A project id (contract v2 §3). */
export const PROJECT_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The project a v1 genesis, `swoosh dev` and the v1 paths use. */
export const DEFAULT_PROJECT = 'default';
/** Most projects a genesis may name (more are created with Project_Create). */
export const GENESIS_PROJECTS_MAX = 10_000;

type Result<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: GenesisError };

const fail = (path: string, message: string): { ok: false; error: GenesisError } => ({
  ok: false,
  error: { code: 'invalid_genesis', path, message },
});

function intField(
  o: JsonObject,
  key: string,
  dflt: number,
  min: number,
  max: number,
): number | string {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    return `genesis.${key}: expected an integer in ${min}..${max}`;
  }
  return v;
}

function stringList(v: unknown, path: string, maxItems: number): readonly string[] | string {
  if (!Array.isArray(v) || v.length > maxItems) {
    return `${path}: expected an array of at most ${maxItems} strings`;
  }
  for (let i = 0; i < v.length; i++) {
    const s: unknown = v[i];
    if (typeof s !== 'string' || s.length === 0 || s.length > 2000) {
      return `${path}[${i}]: expected a non-empty string of at most 2000 characters`;
    }
  }
  return [...new Set(v as string[])].sort();
}

const IDENTITY_FIELDS = ['roles', 'projects', 'not_after_ms'];

/** Latest `not_after_ms` an identity may carry: the last millisecond of year 9999 UTC. */
export const NOT_AFTER_MS_MAX = 253_402_300_799_999;

function parseIdentities(v: unknown, chart: Chart): Result<Identities> {
  if (!isJsonObject(v)) {
    return fail('genesis.identities', 'expected an object of signer → { roles }');
  }
  const keys = Object.keys(v).sort();
  if (keys.length === 0) return fail('genesis.identities', 'expected at least one identity');
  if (keys.length > GENESIS_IDENTITIES_MAX) {
    return fail('genesis.identities', `expected at most ${GENESIS_IDENTITIES_MAX} identities`);
  }
  type Entry = { roles: readonly string[]; projects?: readonly string[]; not_after_ms?: number };
  const out: Record<string, Entry> = {};
  for (const signer of keys) {
    const path = `genesis.identities["${signer}"]`;
    if (!SIGNER_RE.test(signer)) {
      return fail(path, 'expected a key of the form hmmm:pubkey:<64 hex>');
    }
    const entry = v[signer];
    if (!isJsonObject(entry) || Object.keys(entry).some((k) => !IDENTITY_FIELDS.includes(k))) {
      return fail(path, 'expected { roles: [...], projects?: [...], not_after_ms?: <ms> }');
    }
    const roles = stringList(entry['roles'], `${path}.roles`, 16);
    if (typeof roles === 'string') return fail(`${path}.roles`, roles);
    const unknown = roles.find((r) => !Object.hasOwn(chart.roles, r));
    if (unknown !== undefined) return fail(`${path}.roles`, `unknown role "${unknown}"`);
    let e: Entry = { roles };
    if (entry['projects'] !== undefined) {
      const projects = stringList(entry['projects'], `${path}.projects`, 1000);
      if (typeof projects === 'string') return fail(`${path}.projects`, projects);
      const bad = projects.find((p) => !PROJECT_RE.test(p));
      if (bad !== undefined) return fail(`${path}.projects`, `"${bad}" is not a project id`);
      e = { ...e, projects };
    }
    if (entry['not_after_ms'] !== undefined) {
      const t = intField(entry, 'not_after_ms', 0, 0, NOT_AFTER_MS_MAX);
      if (typeof t === 'string') {
        return fail(`${path}.not_after_ms`, `expected an integer in 0..${NOT_AFTER_MS_MAX} (ms)`);
      }
      e = { ...e, not_after_ms: t };
    }
    out[signer] = e;
  }
  return { ok: true, value: out };
}

/**
 * `writers`: the keys that may sign decision records, merged into the registry as the
 * `writer` role (contract §2). Absent, the registry keeps whatever writer roles `identities`
 * names; naming none leaves the deployment unpinned.
 */
function parseWriters(v: unknown, ids: Identities): Result<Identities> {
  if (v === undefined) return { ok: true, value: ids };
  const path = 'genesis.writers';
  const keys = stringList(v, path, 16);
  if (typeof keys === 'string') return fail(path, keys.replace(`${path}: `, ''));
  if (keys.length === 0) return fail(path, 'expected at least one key (or leave writers out)');
  const bad = keys.find((k) => !SIGNER_RE.test(k));
  if (bad !== undefined) return fail(path, `"${bad}" is not of the form hmmm:pubkey:<64 hex>`);
  return { ok: true, value: rotateWriters(ids, keys, []) };
}

function parsePolicy(v: unknown): Result<PolicyRules> {
  if (v === undefined) {
    return {
      ok: true,
      value: { version: 0, denied_source_patterns: [], max_council_size: 0, required_evidence: {} },
    };
  }
  return policyRulesFrom(v, 'genesis.policy');
}

/** Validate SHHH policy rules (genesis or a policy fact payload). */
export function policyRulesFrom(v: unknown, path: string): Result<PolicyRules> {
  if (!isJsonObject(v)) return fail(path, 'expected an object');
  const allowed = ['version', 'denied_source_patterns', 'max_council_size', 'required_evidence'];
  const extra = Object.keys(v).sort().find((k) => !allowed.includes(k));
  if (extra !== undefined) return fail(`${path}.${extra}`, 'unknown field');
  const version = intField(v, 'version', 0, 0, Number.MAX_SAFE_INTEGER);
  if (typeof version === 'string') {
    return fail(`${path}.version`, 'expected a non-negative integer');
  }
  const size = intField(v, 'max_council_size', 0, 0, 10_000);
  if (typeof size === 'string') {
    return fail(`${path}.max_council_size`, 'expected an integer in 0..10000');
  }
  const denied = stringList(
    v['denied_source_patterns'] ?? [],
    `${path}.denied_source_patterns`,
    1000,
  );
  if (typeof denied === 'string') return fail(`${path}.denied_source_patterns`, denied);
  const reqRaw = v['required_evidence'] ?? {};
  if (!isJsonObject(reqRaw)) {
    return fail(`${path}.required_evidence`, 'expected transition → [prefix]');
  }
  const required: Record<string, readonly string[]> = {};
  for (const t of Object.keys(reqRaw).sort()) {
    const list = stringList(reqRaw[t], `${path}.required_evidence.${t}`, 64);
    if (typeof list === 'string') return fail(`${path}.required_evidence.${t}`, list);
    required[t] = list;
  }
  return {
    ok: true,
    value: {
      version,
      denied_source_patterns: denied,
      max_council_size: size,
      required_evidence: required,
    },
  };
}

export function parseWindowPolicy(v: unknown, chart: Chart): Result<CoreConfig['window_policy']> {
  const out: Record<string, readonly string[]> = {};
  for (const cls of Object.keys(chart.window_classes).sort()) {
    out[cls] = [...(chart.window_classes[cls]?.phases ?? [])].sort();
  }
  if (v === undefined) return { ok: true, value: out };
  if (!isJsonObject(v)) return fail('genesis.window_policy', 'expected window class → [phase]');
  for (const cls of Object.keys(v).sort()) {
    const path = `genesis.window_policy.${cls}`;
    if (!Object.hasOwn(chart.window_classes, cls)) return fail(path, 'unknown window class');
    const phases = stringList(v[cls], path, 3);
    if (typeof phases === 'string') return fail(path, phases);
    const bad = phases.find((p) => !(BEAT_PHASES as readonly string[]).includes(p));
    if (bad !== undefined) {
      return fail(path, `unknown phase "${bad}" (expected plan|execute|review)`);
    }
    out[cls] = phases;
  }
  return { ok: true, value: out };
}

export function parsePins(v: unknown): Result<CoreConfig['mcp_pins']> {
  if (v === undefined) return { ok: true, value: {} };
  if (!isJsonObject(v)) return fail('genesis.mcp_pins', 'expected tool → version');
  const out: Record<string, string> = {};
  for (const tool of Object.keys(v).sort()) {
    const ver = v[tool];
    if (!NAME_RE.test(tool)) return fail(`genesis.mcp_pins.${tool}`, 'expected a tool name');
    if (typeof ver !== 'string' || !NAME_RE.test(ver)) {
      return fail(`genesis.mcp_pins.${tool}`, 'expected a version string');
    }
    out[tool] = ver;
  }
  return { ok: true, value: out };
}

const GENESIS_KEYS = [
  'instance_id', 'identities', 'quorum_threshold', 'approvals_threshold', 'window_policy',
  'idem_retention_ms', 'idem_max', 'max_clock_skew_ms', 'license_grace_ms', 'mcp_pins', 'policy',
  'projects', 'required_roles', 'writers', 'max_proposal_age_ms',
];

/** Bounds of a genesis `max_proposal_age_ms`: a second (clock jitter) to a year. */
export const PROPOSAL_AGE_MS_MIN = 1_000;
export const PROPOSAL_AGE_MS_MAX = 365 * 86_400_000;

/** Most council roles a project may require. */
export const REQUIRED_ROLES_MAX = 32;

/**
 * Council roles a role plan must name: sorted and unique, or undefined for none (an empty list
 * is none, so the configuration hashes as one that never named any).
 */
export function parseRequiredRoles(
  v: unknown,
  path: string,
): Result<readonly string[] | undefined> {
  if (v === undefined) return { ok: true, value: undefined };
  if (!Array.isArray(v) || v.length > REQUIRED_ROLES_MAX) {
    return fail(path, `expected an array of at most ${REQUIRED_ROLES_MAX} role names`);
  }
  for (let i = 0; i < v.length; i++) {
    const r: unknown = v[i];
    if (typeof r !== 'string' || !NAME_RE.test(r)) {
      return fail(`${path}[${i}]`, 'expected a role name');
    }
  }
  const roles = [...new Set(v as string[])].sort();
  if (roles.length !== v.length) return fail(path, 'a role is named twice');
  return { ok: true, value: roles.length === 0 ? undefined : roles };
}

function parseProjects(v: unknown): Result<readonly string[]> {
  if (v === undefined) return { ok: true, value: [DEFAULT_PROJECT] };
  if (!Array.isArray(v) || v.length > GENESIS_PROJECTS_MAX) {
    return fail('genesis.projects', `expected an array of at most ${GENESIS_PROJECTS_MAX} ids`);
  }
  for (let i = 0; i < v.length; i++) {
    const p: unknown = v[i];
    if (typeof p !== 'string' || !PROJECT_RE.test(p)) {
      return fail(
        `genesis.projects[${i}]`,
        'expected a project id matching ^[a-z0-9][a-z0-9-]{0,62}$',
      );
    }
  }
  const ids = [...new Set(v as string[])].sort();
  if (ids.length !== v.length) return fail('genesis.projects', 'expected distinct project ids');
  return { ok: true, value: ids };
}

/** Validate a parsed genesis document. The first problem wins, in field order. */
export function parseGenesis(raw: unknown, chart: Chart): Result<Genesis> {
  if (!isJsonObject(raw)) return fail('genesis', 'expected an object');
  const extra = Object.keys(raw).sort().find((k) => !GENESIS_KEYS.includes(k));
  if (extra !== undefined) return fail(`genesis.${extra}`, 'unknown field');
  const id = raw['instance_id'];
  if (typeof id !== 'string' || !NAME_RE.test(id)) {
    return fail('genesis.instance_id', 'expected 1..200 characters of [A-Za-z0-9_.:@/-]');
  }
  const parsedIds = parseIdentities(raw['identities'], chart);
  if (!parsedIds.ok) return parsedIds;
  const identities = parseWriters(raw['writers'], parsedIds.value);
  if (!identities.ok) return identities;
  const d = GENESIS_DEFAULTS;
  const ints: Record<string, number> = {};
  const limits: [string, number, number, number][] = [
    ['quorum_threshold', d.quorum_threshold, 1, 256],
    ['approvals_threshold', d.approvals_threshold, 1, 256],
    ['idem_retention_ms', d.idem_retention_ms, 0, 365 * 86_400_000],
    ['idem_max', d.idem_max, 1, 10_000_000],
    ['max_clock_skew_ms', d.max_clock_skew_ms, 0, MAX_CLOCK_SKEW_MS_MAX],
    ['license_grace_ms', d.license_grace_ms, 0, 30 * 86_400_000],
  ];
  for (const [key, dflt, min, max] of limits) {
    const v = intField(raw, key, dflt, min, max);
    if (typeof v === 'string') return fail(`genesis.${key}`, v.replace(`genesis.${key}: `, ''));
    ints[key] = v;
  }
  let age: number | undefined;
  if (raw['max_proposal_age_ms'] !== undefined) {
    const v = intField(raw, 'max_proposal_age_ms', 0, PROPOSAL_AGE_MS_MIN, PROPOSAL_AGE_MS_MAX);
    if (typeof v === 'string') {
      return fail('genesis.max_proposal_age_ms', v.replace('genesis.max_proposal_age_ms: ', ''));
    }
    age = v;
  }
  const windows = parseWindowPolicy(raw['window_policy'], chart);
  if (!windows.ok) return windows;
  const pins = parsePins(raw['mcp_pins']);
  if (!pins.ok) return pins;
  const policy = parsePolicy(raw['policy']);
  if (!policy.ok) return policy;
  const projects = parseProjects(raw['projects']);
  if (!projects.ok) return projects;
  const required = parseRequiredRoles(raw['required_roles'], 'genesis.required_roles');
  if (!required.ok) return required;
  const config: CoreConfig = {
    quorum_threshold: ints['quorum_threshold'] ?? d.quorum_threshold,
    approvals_threshold: ints['approvals_threshold'] ?? d.approvals_threshold,
    window_policy: windows.value,
    idem_retention_ms: ints['idem_retention_ms'] ?? d.idem_retention_ms,
    idem_max: ints['idem_max'] ?? d.idem_max,
    max_clock_skew_ms: ints['max_clock_skew_ms'] ?? d.max_clock_skew_ms,
    license_grace_ms: ints['license_grace_ms'] ?? d.license_grace_ms,
    mcp_pins: pins.value,
    ...(required.value === undefined ? {} : { required_roles: required.value }),
    ...(age === undefined ? {} : { max_proposal_age_ms: age }),
  };
  return {
    ok: true,
    value: {
      instance_id: id,
      identities: identities.value,
      config,
      policy: policy.value,
      projects: projects.value,
    },
  };
}

function initialFacts(policy: PolicyRules): FactsSection {
  return {
    license: { status: 'unknown', hlc: null, since_ms: null, license_id: null },
    backbeat: {
      hlc: null, cluster_id: null, beat_index: -1, downbeat: false, phase: null,
      window_id: null, deadline_ms: null, tempo_mbpm: 0, source_hlc: null,
    },
    mcp: { hlc: null, tools: {} },
    policy: { hlc: null, rules: policy },
    capacity: { hlc: null, cpu_millis: 0, memory_mb: 0, slots: 0, known: false },
    tick: { hlc: null, last_ms: null },
  };
}

function initialOf(chart: Chart, region: string): string {
  const initial = chart.regions[region]?.initial;
  if (initial === undefined) throw new Error(`chart: region ${region} has no initial state`);
  return initial;
}

/**
 * `chart_hash`: the JCS hash of the chart without its `snapshot` hints. The hint tells the
 * writer when to snapshot and changes no decision, so adding or moving it keeps every existing
 * log, snapshot and record verifying.
 */
export function chartHashOf(hasher: Hasher, chart: Chart): Sha256 {
  const transitions = chart.transitions.map(({ snapshot: _hint, ...t }) => t);
  return hashJcs(hasher, { ...chart, transitions });
}

/**
 * The deployment's document before the first WAL entry: the registry of identities and projects,
 * the facts, and the deployment chain's clock and idempotency memory. A single-project core
 * (tests, the SDK's offline checks) decides on it directly.
 */
export function genesisState(hasher: Hasher, chart: Chart, genesis: Genesis): State {
  const genesisHash = hashJcs(hasher, genesis);
  const configHash = hashJcs(hasher, genesis.config);
  const projects: Record<string, ProjectEntry> = {};
  for (const p of genesis.projects) projects[p] = { created_seq: 0, config_hash: configHash };
  return {
    ...initialDocument(chart, {
      machine: chart.machine,
      machine_version: chart.machine_version,
      chart_hash: chartHashOf(hasher, chart),
      genesis_hash: genesisHash,
      instance_id: genesis.instance_id,
      config: genesis.config,
    }),
    identities: genesis.identities,
    idem: emptyIdem(hasher, genesisHash),
    projects,
    facts: initialFacts(genesis.policy),
  };
}

/** A project's identities section: the deployment's registry is read at decision time. */
const NO_IDENTITIES: Identities = Object.freeze({});
/** A project's registry section: projects live in the deployment's document. */
const NO_PROJECTS: ProjectRegistry = Object.freeze({});

/**
 * A project's document when it starts: the deployment's meta with the project's id and
 * configuration, every region at its initial state, its own idempotency chain (seeded from the
 * genesis hash and the id, so two projects' chains never coincide) and none of the deployment's
 * sections (identities, registry; facts stay the genesis facts and are swapped for the
 * deployment's at decision time, see world.ts).
 */
export function projectState(
  hasher: Hasher,
  chart: Chart,
  deployment: State,
  project: string,
  config: CoreConfig,
  genesisFacts: FactsSection,
): State {
  const genesisHash = deployment.meta.genesis_hash;
  return {
    ...initialDocument(chart, { ...deployment.meta, config, project }),
    identities: NO_IDENTITIES,
    idem: emptyIdem(hasher, hashText(hasher, `swoosh/project/v1|${genesisHash}|${project}`)),
    projects: NO_PROJECTS,
    facts: genesisFacts,
  };
}

/**
 * What a project's stored document carries in its facts section: nothing. The deployment's
 * facts are swapped in at decision time (world.ts); facts are not part of HEAD.
 */
export const PLACEHOLDER_FACTS: FactsSection = initialFacts({
  version: 0,
  denied_source_patterns: [],
  max_council_size: 0,
  required_evidence: {},
});

function initialDocument(
  chart: Chart,
  meta: State['meta'],
): Omit<State, 'identities' | 'idem' | 'projects' | 'facts'> {
  const epochs: Record<string, number> = {};
  for (const r of Object.keys(chart.regions).sort()) epochs[r] = 0;
  return {
    meta,
    boot: { state: initialOf(chart, 'boot'), config_hash: null, licensed_at_ms: null },
    ingestion: {
      state: initialOf(chart, 'ingestion'),
      sources: [],
      manifest_hash: null,
      bytes_total: null,
      schema_version: null,
      validation: null,
      content_hash: null,
      version: null,
      rollbacks: 0,
    },
    council: {
      state: initialOf(chart, 'council'),
      term: 0,
      plan: null,
      ejected: [],
      members: [],
      member_set_hash: null,
      quorum_cert: null,
      tooling_green_at_ms: null,
    },
    environment: {
      state: initialOf(chart, 'environment'),
      allocation: null,
      assets: [],
      env_version: null,
      health: null,
      amber_reasons: [],
    },
    execution: {
      state: initialOf(chart, 'execution'),
      pins: null,
      loop: 0,
      window_id: null,
      plan_hash: null,
      work_hash: null,
      approvals: [],
    },
    control: {
      top: chart.top.initial,
      degraded: null,
      grace_until_ms: null,
      history: [],
      reason: null,
    },
    policy: { quarantine: null, quarantines: 0, releases: 0 },
    epochs,
    clock: { hlc_last: null, hlc_last_signer: null, hlc_last_idem_key: null, applied_count: 0 },
  };
}
