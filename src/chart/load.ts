/**
 * Statechart loader (shell side): parses `statechart.yaml`, validates it and returns the
 * `Chart` the core consumes. Every problem is collected (not just the first) with its line
 * number, and the whole list is thrown as one `ChartError`.
 *
 * Output is deterministic: record fields come in the order of the `Chart` types, name-keyed
 * maps (states, regions, roles, guards, window classes, schema properties) keep the order of
 * the YAML file, absent optional fields are omitted and defaults are filled in.
 */
import { readFileSync } from 'node:fs';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import {
  type Chart,
  type InputSchema,
  PATTERN_FLAGS,
  type RegionSpec,
  type TopStateKind,
  type TopStateSpec,
  type TransitionSpec,
  type WindowClassSpec,
} from '../core/index.js';

/**
 * Pattern forms whose meaning depends on the engine's Unicode tables (property escapes, the
 * Unicode whitespace classes, literal non-ASCII characters that case or class rules may touch).
 * A guard's verdict must not change when the runtime's Unicode version does.
 */
// eslint-disable-next-line no-control-regex -- the class is "anything outside ASCII"
const UNICODE_DEPENDENT_PATTERN = /\\[pPsS]|[^\x00-\x7f]/;

/** One problem found in a chart. `path` is e.g. `transitions[3].from[0]` ('' = the file). */
export interface ChartProblem {
  readonly message: string;
  readonly line: number | null;
  readonly path: string;
}

/** Thrown by the loader when the chart is invalid; lists every problem found. */
export class ChartError extends Error {
  /** Stable error code. */
  readonly code = 'chart_invalid';
  /** All problems, sorted by line. */
  readonly problems: readonly ChartProblem[];

  /** `source` names the file in the message (`source:line: path: message` per problem). */
  constructor(source: string, problems: readonly ChartProblem[]) {
    const n = problems.length;
    const lines = problems.map((p) => formatProblem(source, p));
    const head = `${source}: invalid statechart (${n} problem${n === 1 ? '' : 's'})`;
    super([head, ...lines].join('\n'));
    this.name = 'ChartError';
    this.problems = problems;
  }
}

function formatProblem(source: string, p: ChartProblem): string {
  const where = p.line === null ? source : `${source}:${p.line}`;
  return p.path === '' ? `${where}: ${p.message}` : `${where}: ${p.path}: ${p.message}`;
}

/** PascalCase form of a snake_case name: `ingestion` → `Ingestion`, `a_bc` → `ABc`. */
export function pascalCase(name: string): string {
  return name
    .split('_')
    .filter((w) => w !== '')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/** Reads and parses a chart file; the path names the file in error messages. */
export function loadChartFile(path: string): Chart {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ChartError(path, [{ message: `cannot read the file: ${why}`, line: null, path: '' }]);
  }
  return parseChart(text, path);
}

/** Parses and validates chart YAML text. Throws `ChartError` listing every problem. */
export function parseChart(text: string, source = 'statechart.yaml'): Chart {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const yamlProblems = [...doc.errors, ...doc.warnings].map(
    (e): ChartProblem => ({ message: e.message, line: lc.linePos(e.pos[0]).line, path: '' }),
  );
  if (yamlProblems.length > 0) throw new ChartError(source, sortProblems(yamlProblems));
  const lines = new Map<string, number>();
  const root: unknown = doc.contents;
  if (isNode(root) && root.range) lines.set('', lc.linePos(root.range[0]).line);
  mapLines(root, '', lc, lines);
  const ctx: Ctx = { problems: [], lines };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    report(ctx, '', e instanceof Error ? e.message : String(e));
  }
  const chart = ctx.problems.length === 0 ? readChart(ctx, raw) : null;
  if (chart === null || ctx.problems.length > 0) {
    throw new ChartError(source, sortProblems(ctx.problems));
  }
  return chart;
}

function sortProblems(problems: readonly ChartProblem[]): ChartProblem[] {
  return [...problems].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
}

// ---- paths and lines ------------------------------------------------------------------------

interface Ctx {
  readonly problems: ChartProblem[];
  readonly lines: ReadonlyMap<string, number>;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Records the line of every map key and sequence item, by path. */
function mapLines(node: unknown, path: string, lc: LineCounter, out: Map<string, number>): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key: unknown = pair.key;
      const p = join(path, isScalar(key) ? String(key.value) : String(key));
      if (isNode(key) && key.range) out.set(p, lc.linePos(key.range[0]).line);
      mapLines(pair.value, p, lc, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item: unknown, i) => {
      const p = `${path}[${i}]`;
      if (isNode(item) && item.range) out.set(p, lc.linePos(item.range[0]).line);
      mapLines(item, p, lc, out);
    });
  }
}

function parentPath(path: string): string {
  const i = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
  return i <= 0 ? '' : path.slice(0, i);
}

/** Line of `path`, or of its nearest ancestor that has one. */
function lineOf(ctx: Ctx, path: string): number | null {
  for (let p = path; ; p = parentPath(p)) {
    const line = ctx.lines.get(p);
    if (line !== undefined) return line;
    if (p === '') return null;
  }
}

function report(ctx: Ctx, path: string, message: string): void {
  ctx.problems.push({ message, line: lineOf(ctx, path), path });
}

// ---- generic readers ----------------------------------------------------------------------

type Obj = { readonly [k: string]: unknown };
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const UPPER = /^[A-Z][A-Z0-9_]*$/;
const LOWER = /^[a-z][a-z0-9_]*$/;
const PROP = /^[A-Za-z_][A-Za-z0-9_]*$/;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function quoteList(items: Iterable<string>): string {
  const list = [...items];
  return list.length === 0 ? '(none)' : list.join(', ');
}

/** A closed mapping: unknown keys and missing required keys are problems. */
function readObject(
  ctx: Ctx,
  v: unknown,
  path: string,
  required: readonly string[],
  optional: readonly string[],
): Obj | null {
  if (!isObj(v)) {
    report(ctx, path, 'expected a mapping');
    return null;
  }
  for (const k of Object.keys(v)) {
    if (!required.includes(k) && !optional.includes(k)) {
      const allowed = [...required, ...optional].join(', ');
      report(ctx, join(path, k), `unknown key "${k}" (allowed: ${allowed})`);
    }
  }
  for (const k of required) {
    if (!Object.hasOwn(v, k)) report(ctx, join(path, k), `missing required key "${k}"`);
  }
  return v;
}

/** Entries of a name-keyed mapping whose names match `re`. */
function readMap(
  ctx: Ctx,
  v: unknown,
  path: string,
  re: RegExp,
  what: string,
): [string, unknown][] {
  if (!isObj(v)) {
    report(ctx, path, 'expected a mapping');
    return [];
  }
  const out: [string, unknown][] = [];
  for (const [k, item] of Object.entries(v)) {
    if (re.test(k)) out.push([k, item]);
    else report(ctx, join(path, k), `"${k}" is not a valid ${what} name (${re.source})`);
  }
  return out;
}

function readString(ctx: Ctx, o: Obj, key: string, path: string): string | undefined {
  if (!Object.hasOwn(o, key)) return undefined;
  const v = o[key];
  if (typeof v === 'string' && v !== '') return v;
  report(ctx, join(path, key), 'expected a non-empty string');
  return undefined;
}

function readBool(ctx: Ctx, o: Obj, key: string, path: string): boolean | undefined {
  if (!Object.hasOwn(o, key)) return undefined;
  const v = o[key];
  if (typeof v === 'boolean') return v;
  report(ctx, join(path, key), 'expected true or false');
  return undefined;
}

function readEnum<T extends string>(
  ctx: Ctx,
  o: Obj,
  key: string,
  path: string,
  values: readonly T[],
): T | undefined {
  if (!Object.hasOwn(o, key)) return undefined;
  const v = o[key];
  const hit = values.find((x) => x === v);
  if (hit === undefined) report(ctx, join(path, key), `expected one of ${values.join(', ')}`);
  return hit;
}

interface ListOptions {
  /** Singular noun for messages. */
  readonly what: string;
  readonly re?: RegExp;
  readonly nonEmpty?: boolean;
  /** Further per-item check (cross references). */
  readonly check?: (item: string, path: string) => void;
}

/** A list of unique strings; returns the well-formed ones in order. */
function readList(ctx: Ctx, v: unknown, path: string, opts: ListOptions): string[] {
  if (!Array.isArray(v)) {
    report(ctx, path, `expected a list of ${opts.what} names`);
    return [];
  }
  const items: readonly unknown[] = v;
  if (opts.nonEmpty === true && items.length === 0) {
    report(ctx, path, `needs at least one ${opts.what}`);
  }
  const out: string[] = [];
  items.forEach((item, i) => {
    const p = `${path}[${i}]`;
    if (typeof item !== 'string' || (opts.re !== undefined && !opts.re.test(item))) {
      const expect = opts.re === undefined ? 'a string' : `a name matching ${opts.re.source}`;
      report(ctx, p, `expected ${opts.what} as ${expect}`);
    } else if (out.includes(item)) {
      report(ctx, p, `duplicate ${opts.what} "${item}"`);
    } else {
      out.push(item);
      opts.check?.(item, p);
    }
  });
  return out;
}

// ---- the chart ----------------------------------------------------------------------------

const ROOT_REQUIRED = ['version', 'machine', 'machine_version', 'top', 'regions', 'roles'];
const ROOT_OPTIONAL = ['guards', 'window_classes', 'defs', 'transitions', 'snapshot_after'];

function readChart(ctx: Ctx, raw: unknown): Chart | null {
  const o = readObject(ctx, raw, '', ROOT_REQUIRED, ROOT_OPTIONAL);
  if (o === null) return null;
  if (Object.hasOwn(o, 'version') && o['version'] !== 1) report(ctx, 'version', 'expected 1');
  const machine = readString(ctx, o, 'machine', '') ?? '';
  const machineVersion = readString(ctx, o, 'machine_version', '') ?? '';
  if (machineVersion !== '' && !/^\d+\.\d+\.\d+$/.test(machineVersion)) {
    report(ctx, 'machine_version', 'expected a version MAJOR.MINOR.PATCH');
  }
  const regions = readRegions(ctx, o['regions']);
  const top = readTop(ctx, o['top'], regions);
  checkRegionParents(ctx, regions, top.states);
  const env: Env = {
    top: top.states,
    regions,
    roles: readDescriptions(ctx, o['roles'], 'roles', 'role'),
    guards: readDescriptions(ctx, o['guards'] ?? {}, 'guards', 'guard'),
    windows: readWindowClasses(ctx, o['window_classes'] ?? {}),
    defs: readDefs(ctx, o['defs'] ?? {}),
  };
  const transitions = markSnapshots(
    ctx,
    readTransitions(ctx, env, o['transitions'] ?? []),
    o['snapshot_after'],
  );
  checkLocalReachability(ctx, regions, transitions);
  checkTopReachability(ctx, top.initial, top.states, transitions);
  return {
    version: 1,
    machine,
    machine_version: machineVersion,
    top: { initial: top.initial, states: Object.fromEntries(top.states) },
    regions: Object.fromEntries(regions),
    roles: Object.fromEntries(env.roles),
    window_classes: Object.fromEntries(env.windows),
    guards: Object.fromEntries(env.guards),
    transitions,
  };
}

/**
 * `snapshot_after`: transitions after which the writer snapshots. Kept as one list at the root
 * (the writer's concern, not a transition's rule); each named transition's spec gets
 * `snapshot: true`, which decide turns into the decision's `snapshot` flag.
 */
function markSnapshots(ctx: Ctx, transitions: TransitionSpec[], v: unknown): TransitionSpec[] {
  if (v === undefined) return transitions;
  const names = new Set(transitions.map((t) => t.name));
  const marked = new Set(readList(ctx, v, 'snapshot_after', {
    what: 'transition',
    check: (s, p) => {
      if (!names.has(s)) report(ctx, p, `unknown transition "${s}"`);
    },
  }));
  return transitions.map((t) => (marked.has(t.name) ? { ...t, snapshot: true } : t));
}

function readDescriptions(ctx: Ctx, v: unknown, path: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, text] of readMap(ctx, v, path, LOWER, what)) {
    if (typeof text === 'string' && text !== '') out.set(name, text);
    else report(ctx, join(path, name), `expected a one-line description of the ${what}`);
  }
  return out;
}

function readWindowClasses(ctx: Ctx, v: unknown): Map<string, WindowClassSpec> {
  const out = new Map<string, WindowClassSpec>();
  for (const [name, spec] of readMap(ctx, v, 'window_classes', LOWER, 'window class')) {
    const path = join('window_classes', name);
    const o = readObject(ctx, spec, path, ['phases'], ['new_window']);
    if (o === null) continue;
    const phases = readList(ctx, o['phases'] ?? [], join(path, 'phases'), {
      what: 'phase',
      re: LOWER,
      nonEmpty: true,
    });
    const newWindow = readBool(ctx, o, 'new_window', path);
    out.set(name, newWindow === undefined ? { phases } : { phases, new_window: newWindow });
  }
  return out;
}

// ---- regions and top states ---------------------------------------------------------------

function readRegions(ctx: Ctx, v: unknown): Map<string, RegionSpec> {
  const out = new Map<string, RegionSpec>();
  for (const [name, spec] of readMap(ctx, v, 'regions', LOWER, 'region')) {
    const path = join('regions', name);
    const o = readObject(ctx, spec, path, ['states'], ['parent', 'initial']);
    if (o === null) continue;
    const states = readList(ctx, o['states'] ?? [], join(path, 'states'), {
      what: 'local state',
      re: UPPER,
    });
    const parent = readString(ctx, o, 'parent', path);
    const initial = readString(ctx, o, 'initial', path);
    const has = states.length > 0;
    if (has !== (parent !== undefined)) {
      report(ctx, join(path, 'parent'), has ? 'needs a parent top state' : 'no states: no parent');
    }
    if (has !== (initial !== undefined)) {
      report(ctx, join(path, 'initial'), has ? 'needs an initial state' : 'no states: no initial');
    } else if (initial !== undefined && !states.includes(initial)) {
      report(ctx, join(path, 'initial'), `"${initial}" is not one of the region's states`);
    }
    out.set(name, {
      ...(parent === undefined ? {} : { parent }),
      ...(initial === undefined ? {} : { initial }),
      states,
    });
  }
  return out;
}

const TOP_KINDS: readonly TopStateKind[] = ['compound', 'parallel', 'control', 'policy', 'final'];

interface TopInfo {
  readonly initial: string;
  readonly states: Map<string, TopStateSpec>;
}

function readTop(ctx: Ctx, v: unknown, regions: ReadonlyMap<string, RegionSpec>): TopInfo {
  const states = new Map<string, TopStateSpec>();
  const o = readObject(ctx, v, 'top', ['initial', 'states'], []);
  if (o === null) return { initial: '', states };
  for (const [name, spec] of readMap(ctx, o['states'] ?? {}, 'top.states', UPPER, 'top state')) {
    const s = readTopState(ctx, name, spec, regions);
    if (s !== null) states.set(name, s);
  }
  const initial = readString(ctx, o, 'initial', 'top') ?? '';
  if (initial !== '' && !states.has(initial)) {
    report(ctx, 'top.initial', `unknown top state "${initial}"`);
  }
  return { initial, states };
}

const TOP_OPTIONAL = ['region', 'regions', 'substates', 'sticky', 'doc'];

function readTopState(
  ctx: Ctx,
  name: string,
  v: unknown,
  regions: ReadonlyMap<string, RegionSpec>,
): TopStateSpec | null {
  const path = join('top.states', name);
  const o = readObject(ctx, v, path, ['kind'], TOP_OPTIONAL);
  if (o === null) return null;
  const kind = readEnum(ctx, o, 'kind', path, TOP_KINDS) ?? 'control';
  const spec: Mutable<TopStateSpec> = { kind };
  const owned = (r: string, p: string): void => {
    const region = regions.get(r);
    if (region === undefined) report(ctx, p, `unknown region "${r}"`);
    else if (region.states.length === 0) report(ctx, p, `region "${r}" has no local states`);
    else if (region.parent !== undefined && region.parent !== name) {
      report(ctx, p, `region "${r}" belongs to ${region.parent}`);
    }
  };
  const region = readString(ctx, o, 'region', path);
  if (region !== undefined) {
    spec.region = region;
    owned(region, join(path, 'region'));
  }
  if (Object.hasOwn(o, 'regions')) {
    const p = join(path, 'regions');
    spec.regions = readList(ctx, o['regions'], p, { what: 'region', nonEmpty: true, check: owned });
  }
  if ((kind === 'compound') !== (region !== undefined)) {
    const why = region === undefined ? 'a compound state needs a region' : 'only compound states';
    report(ctx, join(path, 'region'), why);
  }
  if ((kind === 'parallel') !== (spec.regions !== undefined)) {
    const why = spec.regions === undefined ? 'a parallel state needs regions' : 'parallel only';
    report(ctx, join(path, 'regions'), why);
  }
  if (Object.hasOwn(o, 'substates')) {
    spec.substates = readList(ctx, o['substates'], join(path, 'substates'), {
      what: 'substate',
      re: UPPER,
      nonEmpty: true,
    });
  }
  const sticky = readBool(ctx, o, 'sticky', path);
  if (sticky !== undefined) spec.sticky = sticky;
  const doc = readString(ctx, o, 'doc', path);
  if (doc !== undefined) spec.doc = doc;
  return spec;
}

/** Each region with states sits in a top state that lists it. */
function checkRegionParents(
  ctx: Ctx,
  regions: ReadonlyMap<string, RegionSpec>,
  top: ReadonlyMap<string, TopStateSpec>,
): void {
  for (const [name, region] of regions) {
    if (region.parent === undefined) continue;
    const p = join(join('regions', name), 'parent');
    const parent = top.get(region.parent);
    if (parent === undefined) report(ctx, p, `unknown top state "${region.parent}"`);
    else if (parent.region !== name && !(parent.regions ?? []).includes(name)) {
      report(ctx, p, `top state ${region.parent} does not list region "${name}"`);
    }
  }
}

// ---- input schemas --------------------------------------------------------------------------

interface Defs {
  readonly raw: ReadonlyMap<string, unknown>;
  readonly done: Map<string, InputSchema | null>;
  readonly resolving: Set<string>;
}

function readDefs(ctx: Ctx, v: unknown): Defs {
  const defs: Defs = {
    raw: new Map(readMap(ctx, v, 'defs', LOWER, 'def')),
    done: new Map(),
    resolving: new Set(),
  };
  for (const name of defs.raw.keys()) resolveDef(ctx, defs, name, join('defs', name));
  return defs;
}

/** The resolved def, null when it is invalid (already reported), undefined when unknown. */
function resolveDef(
  ctx: Ctx,
  defs: Defs,
  name: string,
  refPath: string,
): InputSchema | null | undefined {
  if (defs.done.has(name)) return defs.done.get(name);
  if (!defs.raw.has(name)) return undefined;
  if (defs.resolving.has(name)) {
    report(ctx, refPath, `$ref "${name}" refers to itself`);
    return null;
  }
  defs.resolving.add(name);
  const schema = readSchema(ctx, defs.raw.get(name), join('defs', name), defs);
  defs.resolving.delete(name);
  defs.done.set(name, schema);
  return schema;
}

const SCHEMA_TYPES = ['object', 'array', 'string', 'integer', 'boolean'] as const;

/** An inputs schema in the InputSchema subset, with `$ref`s resolved; null when invalid. */
function readSchema(ctx: Ctx, v: unknown, path: string, defs: Defs): InputSchema | null {
  if (isObj(v) && Object.hasOwn(v, '$ref')) {
    readObject(ctx, v, path, ['$ref'], []);
    const ref = v['$ref'];
    if (typeof ref !== 'string') {
      report(ctx, join(path, '$ref'), 'expected the name of a def');
      return null;
    }
    const schema = resolveDef(ctx, defs, ref, join(path, '$ref'));
    if (schema === undefined) {
      const known = quoteList(defs.raw.keys());
      report(ctx, join(path, '$ref'), `unknown $ref "${ref}" (defs: ${known})`);
    }
    return schema ?? null;
  }
  if (!isObj(v)) {
    report(ctx, path, 'expected a schema mapping');
    return null;
  }
  const type = readEnum(ctx, v, 'type', path, SCHEMA_TYPES);
  if (!Object.hasOwn(v, 'type')) report(ctx, join(path, 'type'), 'missing required key "type"');
  switch (type) {
    case undefined:
      return null;
    case 'object':
      return readObjectSchema(ctx, v, path, defs);
    case 'array':
      return readArraySchema(ctx, v, path, defs);
    case 'string':
      return readStringSchema(ctx, v, path);
    case 'integer':
      return readIntegerSchema(ctx, v, path);
    case 'boolean':
      return readObject(ctx, v, path, ['type'], []) === null ? null : { type: 'boolean' };
  }
}

function readObjectSchema(ctx: Ctx, o: Obj, path: string, defs: Defs): InputSchema | null {
  readObject(ctx, o, path, ['type'], ['properties', 'required']);
  let ok = true;
  const properties: { [k: string]: InputSchema } = {};
  const propsPath = join(path, 'properties');
  for (const [name, sub] of readMap(ctx, o['properties'] ?? {}, propsPath, PROP, 'property')) {
    const s = readSchema(ctx, sub, join(propsPath, name), defs);
    if (s === null) ok = false;
    else properties[name] = s;
  }
  if (!Object.hasOwn(o, 'required')) return ok ? { type: 'object', properties } : null;
  const required = readList(ctx, o['required'], join(path, 'required'), {
    what: 'property',
    check: (k, p) => {
      const props = o['properties'];
      if (!isObj(props) || !Object.hasOwn(props, k)) report(ctx, p, `"${k}" is not a property`);
    },
  });
  return ok ? { type: 'object', properties, required } : null;
}

function readArraySchema(ctx: Ctx, o: Obj, path: string, defs: Defs): InputSchema | null {
  readObject(ctx, o, path, ['type', 'items'], ['minItems', 'maxItems', 'uniqueItems']);
  const items = Object.hasOwn(o, 'items')
    ? readSchema(ctx, o['items'], join(path, 'items'), defs)
    : null;
  const [minItems, maxItems] = readBounds(ctx, o, path, 'minItems', 'maxItems', true);
  const unique = readBool(ctx, o, 'uniqueItems', path);
  if (items === null) return null;
  const s: Mutable<Extract<InputSchema, { type: 'array' }>> = { type: 'array', items };
  if (minItems !== undefined) s.minItems = minItems;
  if (maxItems !== undefined) s.maxItems = maxItems;
  if (unique !== undefined) s.uniqueItems = unique;
  return s;
}

const FORMATS = ['hash', 'signer', 'signature'] as const;

function readStringSchema(ctx: Ctx, o: Obj, path: string): InputSchema {
  readObject(ctx, o, path, ['type'],
    ['minLength', 'maxLength', 'enum', 'format', 'pattern', 'sensitive']);
  const s: Mutable<Extract<InputSchema, { type: 'string' }>> = { type: 'string' };
  if (readBool(ctx, o, 'sensitive', path) === true) s.sensitive = true;
  const [minLength, maxLength] = readBounds(ctx, o, path, 'minLength', 'maxLength', true);
  if (minLength !== undefined) s.minLength = minLength;
  if (maxLength !== undefined) s.maxLength = maxLength;
  if (Object.hasOwn(o, 'enum')) {
    const p = join(path, 'enum');
    s.enum = readList(ctx, o['enum'], p, { what: 'enum value', nonEmpty: true });
  }
  const format = readEnum(ctx, o, 'format', path, FORMATS);
  if (format !== undefined) s.format = format;
  const pattern = readString(ctx, o, 'pattern', path);
  if (pattern !== undefined && UNICODE_DEPENDENT_PATTERN.test(pattern)) {
    report(ctx, join(path, 'pattern'),
      'pattern uses a Unicode-table-dependent form (\\p, \\P, \\s, \\S or a non-ASCII character), '
      + 'whose meaning changes with the runtime\'s Unicode version; spell the characters out');
  } else if (pattern !== undefined) {
    try {
      new RegExp(pattern, PATTERN_FLAGS);
      s.pattern = pattern;
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      report(ctx, join(path, 'pattern'), `invalid pattern: ${why}`);
    }
  }
  return s;
}

function readIntegerSchema(ctx: Ctx, o: Obj, path: string): InputSchema {
  readObject(ctx, o, path, ['type'], ['minimum', 'maximum']);
  const s: Mutable<Extract<InputSchema, { type: 'integer' }>> = { type: 'integer' };
  const [minimum, maximum] = readBounds(ctx, o, path, 'minimum', 'maximum', false);
  if (minimum !== undefined) s.minimum = minimum;
  if (maximum !== undefined) s.maximum = maximum;
  return s;
}

/** A pair of integer bounds (non-negative when `count`), min ≤ max. */
function readBounds(
  ctx: Ctx,
  o: Obj,
  path: string,
  minKey: string,
  maxKey: string,
  count: boolean,
): [number | undefined, number | undefined] {
  const one = (key: string): number | undefined => {
    if (!Object.hasOwn(o, key)) return undefined;
    const v = o[key];
    const int = typeof v === 'number' && Number.isSafeInteger(v) && !Object.is(v, -0);
    if (int && (!count || v >= 0)) return v;
    report(ctx, join(path, key), count ? 'expected an integer >= 0' : 'expected a safe integer');
    return undefined;
  };
  const min = one(minKey);
  const max = one(maxKey);
  if (min !== undefined && max !== undefined && min > max) {
    report(ctx, join(path, minKey), `${minKey} ${min} is greater than ${maxKey} ${max}`);
  }
  return [min, max];
}

// ---- transitions ----------------------------------------------------------------------------

interface Env {
  readonly top: ReadonlyMap<string, TopStateSpec>;
  readonly regions: ReadonlyMap<string, RegionSpec>;
  readonly roles: ReadonlyMap<string, string>;
  readonly guards: ReadonlyMap<string, string>;
  readonly windows: ReadonlyMap<string, WindowClassSpec>;
  readonly defs: Defs;
}

const T_REQUIRED = ['name', 'region', 'active_in', 'scope', 'coordination'];
const T_OPTIONAL = [
  'from',
  'to',
  'top',
  'substate',
  'roles',
  'guards',
  'window_class',
  'automatic',
  'compensation',
  'inputs',
  'doc',
];
const NAME_RE = /^([A-Z][A-Za-z0-9]*)_([A-Z][A-Za-z0-9]*)$/;
const HISTORY = '$history';

function readTransitions(ctx: Ctx, env: Env, v: unknown): TransitionSpec[] {
  if (!Array.isArray(v)) {
    report(ctx, 'transitions', 'expected a list of transitions');
    return [];
  }
  const items: readonly unknown[] = v;
  const out: TransitionSpec[] = [];
  const seen = new Map<string, string>();
  items.forEach((item, i) => {
    const path = `transitions[${i}]`;
    const t = readTransition(ctx, env, item, path);
    if (t === null) return;
    const first = seen.get(t.name);
    if (first !== undefined) {
      const where = lineOf(ctx, join(first, 'name'));
      const at = where === null ? '' : ` (first at line ${where})`;
      report(ctx, join(path, 'name'), `duplicate transition name "${t.name}"${at}`);
    } else if (t.name !== '') seen.set(t.name, path);
    out.push(t);
  });
  return out;
}

function readTransition(ctx: Ctx, env: Env, v: unknown, path: string): TransitionSpec | null {
  const o = readObject(ctx, v, path, T_REQUIRED, T_OPTIONAL);
  if (o === null) return null;
  const name = readString(ctx, o, 'name', path) ?? '';
  const region = readString(ctx, o, 'region', path) ?? '';
  if (Object.hasOwn(o, 'region') && region !== '' && !env.regions.has(region)) {
    report(ctx, join(path, 'region'), `unknown region "${region}"`);
  }
  checkTransitionName(ctx, name, region, env, path);
  const moves = readMoves(ctx, env, o, path, region);
  const rules = readRules(ctx, env, o, path);
  const inputs = readInputs(ctx, env, o, path);
  const doc = readString(ctx, o, 'doc', path);
  return {
    name,
    region,
    active_in: moves.active_in,
    from: moves.from,
    ...(moves.to === undefined ? {} : { to: moves.to }),
    ...(moves.top === undefined ? {} : { top: moves.top }),
    ...(moves.substate === undefined ? {} : { substate: moves.substate }),
    roles: rules.roles,
    guards: rules.guards,
    ...(rules.window_class === undefined ? {} : { window_class: rules.window_class }),
    scope: rules.scope,
    coordination: rules.coordination,
    automatic: rules.automatic,
    compensation: rules.compensation,
    inputs,
    ...(doc === undefined ? {} : { doc }),
  };
}

function checkTransitionName(ctx: Ctx, name: string, region: string, env: Env, path: string): void {
  if (name === '') return;
  const m = NAME_RE.exec(name);
  if (m === null) {
    report(ctx, join(path, 'name'), `"${name}" is not <Region>_<Event> in PascalCase`);
  } else if (env.regions.has(region) && m[1] !== pascalCase(region)) {
    const want = `${pascalCase(region)}_`;
    report(ctx, join(path, 'name'), `"${name}" must start with "${want}" (region ${region})`);
  }
}

type Moves = Pick<TransitionSpec, 'active_in' | 'from' | 'to' | 'top' | 'substate'>;

function readMoves(ctx: Ctx, env: Env, o: Obj, path: string, region: string): Moves {
  const active = readList(ctx, o['active_in'] ?? [], join(path, 'active_in'), {
    what: 'top state',
    nonEmpty: true,
    check: (s, p) => {
      const state = env.top.get(s);
      if (state === undefined) report(ctx, p, `unknown top state "${s}"`);
      else if (state.kind === 'final') report(ctx, p, `${s} is final: no transition leaves it`);
    },
  });
  const moves: Mutable<Moves> = { active_in: active, from: [] };
  const local = env.regions.get(region)?.states;
  const isLocal = (s: string, p: string): void => {
    if (local !== undefined && !local.includes(s)) {
      report(ctx, p, `"${s}" is not a local state of region "${region}" (${quoteList(local)})`);
    }
  };
  const noLocal = local !== undefined && local.length === 0;
  if (noLocal && (Object.hasOwn(o, 'from') || Object.hasOwn(o, 'to'))) {
    const key = Object.hasOwn(o, 'from') ? 'from' : 'to';
    report(ctx, join(path, key), `region "${region}" has no local states: no from/to`);
  } else {
    const p = join(path, 'from');
    if (!noLocal && local !== undefined && !Object.hasOwn(o, 'from')) {
      report(ctx, p, `region "${region}" has local states: list the ones it fires from`);
    }
    moves.from = readList(ctx, o['from'] ?? [], p, { what: 'local state', check: isLocal });
    const to = readString(ctx, o, 'to', path);
    if (to !== undefined) {
      moves.to = to;
      isLocal(to, join(path, 'to'));
    }
  }
  readTopMove(ctx, env, o, path, moves);
  return moves;
}

function readTopMove(ctx: Ctx, env: Env, o: Obj, path: string, moves: Mutable<Moves>): void {
  const top = readString(ctx, o, 'top', path);
  if (top !== undefined) {
    moves.top = top;
    if (top !== HISTORY && !env.top.has(top)) {
      report(ctx, join(path, 'top'), `unknown top state "${top}" (or ${HISTORY})`);
    }
  }
  const substate = readString(ctx, o, 'substate', path);
  if (substate === undefined) return;
  moves.substate = substate;
  const p = join(path, 'substate');
  const target = top === undefined || top === HISTORY ? undefined : env.top.get(top);
  if (top === undefined || top === HISTORY) report(ctx, p, 'a substate needs a top state');
  else if (target !== undefined && !(target.substates ?? []).includes(substate)) {
    const list = quoteList(target.substates ?? []);
    report(ctx, p, `"${substate}" is not a substate of ${top} (${list})`);
  }
}

const SCOPES = ['global', 'region'] as const;
const COORDINATIONS = ['monotone', 'non_monotone'] as const;

type Rules = Pick<
  TransitionSpec,
  'roles' | 'guards' | 'window_class' | 'scope' | 'coordination' | 'automatic' | 'compensation'
>;

function readRules(ctx: Ctx, env: Env, o: Obj, path: string): Rules {
  const known = (map: ReadonlyMap<string, unknown>, what: string) => (s: string, p: string) => {
    if (!map.has(s)) report(ctx, p, `unknown ${what} "${s}" (${quoteList(map.keys())})`);
  };
  const rolesPath = join(path, 'roles');
  const roles = readList(ctx, o['roles'] ?? [], rolesPath, {
    what: 'role',
    check: known(env.roles, 'role'),
  });
  const guardsPath = join(path, 'guards');
  const guards = readList(ctx, o['guards'] ?? [], guardsPath, {
    what: 'guard',
    check: known(env.guards, 'guard'),
  });
  const automatic = readBool(ctx, o, 'automatic', path) ?? false;
  if (automatic && roles.length > 0) {
    report(ctx, rolesPath, 'an automatic transition names no roles');
  }
  if (!automatic && roles.length === 0) {
    report(ctx, rolesPath, 'a proposable transition needs at least one role');
  }
  const windowClass = readString(ctx, o, 'window_class', path);
  const wcPath = join(path, 'window_class');
  if (windowClass !== undefined) known(env.windows, 'window class')(windowClass, wcPath);
  if (guards.includes('window') && windowClass === undefined) {
    report(ctx, guardsPath, 'the window guard needs a window_class');
  }
  if (windowClass !== undefined && !guards.includes('window')) {
    report(ctx, wcPath, 'a window_class needs the window guard');
  }
  const rules: Mutable<Rules> = {
    roles,
    guards,
    scope: readEnum(ctx, o, 'scope', path, SCOPES) ?? 'global',
    coordination: readEnum(ctx, o, 'coordination', path, COORDINATIONS) ?? 'non_monotone',
    automatic,
    compensation: readBool(ctx, o, 'compensation', path) ?? false,
  };
  if (windowClass !== undefined) rules.window_class = windowClass;
  return rules;
}

function readInputs(ctx: Ctx, env: Env, o: Obj, path: string): InputSchema {
  const empty: InputSchema = { type: 'object', properties: {} };
  if (!Object.hasOwn(o, 'inputs')) return empty;
  const p = join(path, 'inputs');
  const schema = readSchema(ctx, o['inputs'], p, env.defs);
  if (schema === null) return empty;
  if (schema.type !== 'object') {
    report(ctx, join(p, 'type'), 'inputs must be an object schema');
    return empty;
  }
  return schema;
}

// ---- reachability ---------------------------------------------------------------------------

function reachable(initial: string, edges: readonly (readonly [string, string])[]): Set<string> {
  const seen = new Set([initial]);
  const queue = [initial];
  for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
    for (const [a, b] of edges) {
      if (a === s && !seen.has(b)) {
        seen.add(b);
        queue.push(b);
      }
    }
  }
  return seen;
}

/** Every local state is reachable from its region's initial state via from → to edges. */
function checkLocalReachability(
  ctx: Ctx,
  regions: ReadonlyMap<string, RegionSpec>,
  transitions: readonly TransitionSpec[],
): void {
  for (const [name, region] of regions) {
    const initial = region.initial;
    if (initial === undefined || !region.states.includes(initial)) continue;
    const edges = transitions
      .filter((t) => t.region === name)
      .flatMap((t) => (t.to === undefined ? [] : t.from.map((f) => [f, t.to ?? f] as const)));
    const seen = reachable(initial, edges);
    region.states.forEach((s, i) => {
      if (!seen.has(s)) {
        const why = `state "${s}" is unreachable from "${initial}"`;
        report(ctx, `regions.${name}.states[${i}]`, why);
      }
    });
  }
}

/** Every top state is reachable from `top.initial` via active_in → top edges. */
function checkTopReachability(
  ctx: Ctx,
  initial: string,
  states: ReadonlyMap<string, TopStateSpec>,
  transitions: readonly TransitionSpec[],
): void {
  if (!states.has(initial)) return;
  const edges = transitions.flatMap((t) => {
    const to = t.top;
    return to === undefined || to === HISTORY ? [] : t.active_in.map((a) => [a, to] as const);
  });
  const seen = reachable(initial, edges);
  for (const s of states.keys()) {
    if (!seen.has(s)) {
      report(ctx, `top.states.${s}`, `top state "${s}" is unreachable from "${initial}"`);
    }
  }
}
