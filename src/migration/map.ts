/**
 * The WHOOSH mapping (migration/whoosh-map.yaml; docs/migration.md): each WHOOSH event kind →
 * exactly one transition with its inputs, or `ignore` (with a reason), or `unmapped` (counted,
 * answered 501). Loading checks every entry against the chart; mapping an event is a pure
 * function of the map, the kind and the payload.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import { jcs, type Chart } from '../core/index.js';
import { SwooshError } from '../protocol/errors.js';
import { giteaIssueProject } from './gitea.js';

/** Where an input's value comes from. */
export type InputSource =
  | { readonly derive: DeriveName }
  | { readonly path: string }
  | { readonly const: string | number | boolean };

/** The payload functions an input may name. */
export const DERIVATIONS = {
  /** The project a Gitea issue starts: `<repository slug>-<number>-<8 hex>` (see gitea.ts). */
  gitea_issue_project: (payload: unknown): string | null => giteaIssueProject(payload),
} as const;
export type DeriveName = keyof typeof DERIVATIONS;

/** One entry of the map. */
export type MapEntry =
  | {
      readonly kind: 'transition';
      readonly transition: string;
      readonly inputs: { readonly [name: string]: InputSource };
      /** Gitea issues: the event counts only when the issue carries this label. */
      readonly requiresLabel?: string;
    }
  | { readonly kind: 'ignore'; readonly reason: string }
  | { readonly kind: 'unmapped'; readonly reason: string };

/** A loaded map. */
export interface WhooshMap {
  readonly version: number;
  readonly events: ReadonlyMap<string, MapEntry>;
  /** `sha256-<hex>` of the file's JCS form: reported with every answer. */
  readonly hash: string;
}

/** What an event maps to. */
export type Mapped =
  | {
      readonly kind: 'transition';
      readonly transition: string;
      readonly inputs: { readonly [name: string]: string | number | boolean };
      /** The map entry that matched. */
      readonly entry: string;
    }
  | { readonly kind: 'ignore'; readonly reason: string; readonly entry: string }
  | { readonly kind: 'unmapped'; readonly reason: string; readonly entry: string | null }
  /** The payload lacks what the entry needs (a field, a derivation's parts). */
  | { readonly kind: 'invalid'; readonly path: string; readonly message: string };

const KIND_RE = /^(gitea|whoosh)(\.[a-z0-9_]+)*(\.\*)?$/;

function bad(where: string, message: string): never {
  throw new SwooshError('invalid_config', `${where}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sourceOf(where: string, v: unknown): InputSource {
  if (!isObject(v) || Object.keys(v).length !== 1) {
    return bad(where, 'expected one of { derive: <name> }, { path: <a.b> }, { const: <value> }');
  }
  if ('derive' in v) {
    if (typeof v['derive'] !== 'string' || !Object.hasOwn(DERIVATIONS, v['derive'])) {
      return bad(`${where}.derive`, `expected one of ${Object.keys(DERIVATIONS).join(', ')}`);
    }
    return { derive: v['derive'] as DeriveName };
  }
  if ('path' in v) {
    const p = v['path'];
    if (typeof p !== 'string' || !/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/.test(p)) {
      return bad(`${where}.path`, 'expected a dotted path of field names');
    }
    return { path: p };
  }
  const c = v['const'];
  if (!('const' in v) || !['string', 'number', 'boolean'].includes(typeof c) ||
    (typeof c === 'number' && !Number.isFinite(c))) {
    return bad(where, 'expected one of { derive: <name> }, { path: <a.b> }, { const: <value> }');
  }
  return { const: c as string | number | boolean };
}

function entryOf(chart: Chart, kind: string, v: unknown): MapEntry {
  const where = `events.${kind}`;
  if (!isObject(v)) return bad(where, 'expected a mapping');
  const keys = ['transition', 'ignore', 'unmapped'].filter((k) => k in v);
  if (keys.length !== 1) return bad(where, 'expected exactly one of transition, ignore, unmapped');
  const allowed = keys[0] === 'transition' ? ['transition', 'inputs', 'requires_label'] : keys;
  const extra = Object.keys(v).find((k) => !allowed.includes(k));
  if (extra !== undefined) return bad(`${where}.${extra}`, 'unknown field');
  if (keys[0] !== 'transition') {
    const reason = v[keys[0] as string];
    if (typeof reason !== 'string' || reason.trim() === '') {
      return bad(`${where}.${keys[0] as string}`, 'expected the reason, a non-empty string');
    }
    return { kind: keys[0] as 'ignore' | 'unmapped', reason };
  }
  const t = v['transition'];
  if (typeof t !== 'string' || !chart.transitions.some((x) => x.name === t)) {
    return bad(`${where}.transition`, `expected a transition of the chart, got ${String(t)}`);
  }
  const rawInputs = v['inputs'] ?? {};
  if (!isObject(rawInputs)) return bad(`${where}.inputs`, 'expected a mapping');
  const inputs: Record<string, InputSource> = {};
  for (const k of Object.keys(rawInputs).sort()) {
    inputs[k] = sourceOf(`${where}.inputs.${k}`, rawInputs[k]);
  }
  const label = v['requires_label'];
  if (label !== undefined && (typeof label !== 'string' || label === '')) {
    return bad(`${where}.requires_label`, 'expected a label name');
  }
  return {
    kind: 'transition', transition: t, inputs,
    ...(label === undefined ? {} : { requiresLabel: label }),
  };
}

/** Check a parsed map document against `chart`; throws `invalid_config` naming the field. */
export function whooshMapFrom(chart: Chart, doc: unknown): WhooshMap {
  if (!isObject(doc)) return bad('map', 'expected a mapping with version and events');
  const extra = Object.keys(doc).find((k) => k !== 'version' && k !== 'events');
  if (extra !== undefined) return bad(extra, 'unknown field');
  const version = doc['version'];
  if (!Number.isSafeInteger(version) || (version as number) < 1) {
    return bad('version', 'expected a positive integer');
  }
  const events = doc['events'];
  if (!isObject(events)) return bad('events', 'expected a mapping of event kinds');
  const out = new Map<string, MapEntry>();
  for (const kind of Object.keys(events).sort()) {
    if (!KIND_RE.test(kind)) {
      return bad(`events.${kind}`,
        'expected gitea.<event>[.<action>] or whoosh.<path>, a trailing .* allowed');
    }
    out.set(kind, entryOf(chart, kind, events[kind]));
  }
  const hash = `sha256-${createHash('sha256').update(jcs(doc), 'utf8').digest('hex')}`;
  return { version: version as number, events: out, hash };
}

/** Load and check the map file at `path`. */
export function loadWhooshMap(chart: Chart, path: string): WhooshMap {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SwooshError('invalid_config', `--map ${path}: cannot read it (${
      (err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new SwooshError('invalid_config', `--map ${path}: not YAML`, { cause: err });
  }
  return whooshMapFrom(chart, doc);
}

/** The entry for `kind`: exact, then `<source>.<event>.*`, then `<source>.*`. */
function lookUp(map: WhooshMap, kind: string): [string, MapEntry] | null {
  const parts = kind.split('.');
  const tries = [kind];
  for (let n = parts.length - 1; n >= 1; n--) tries.push(`${parts.slice(0, n).join('.')}.*`);
  for (const t of tries) {
    const e = map.events.get(t);
    if (e !== undefined) return [t, e];
  }
  return null;
}

/** A string or number at a dotted path of `payload`, or undefined. */
function at(payload: unknown, path: string): unknown {
  let v: unknown = payload;
  for (const k of path.split('.')) {
    if (!isObject(v) || !Object.hasOwn(v, k)) return undefined;
    v = v[k];
  }
  return v;
}

/** Whether a Gitea issues payload's issue carries `label`. */
function hasLabel(payload: unknown, label: string): boolean {
  const labels = at(payload, 'issue.labels');
  return Array.isArray(labels) && labels.some((l) => isObject(l) && l['name'] === label);
}

/** What WHOOSH event `kind` with `payload` maps to. */
export function mapEvent(map: WhooshMap, kind: string, payload: unknown): Mapped {
  const hit = lookUp(map, kind);
  if (hit === null) return { kind: 'unmapped', reason: `no entry for ${kind}`, entry: null };
  const [entry, e] = hit;
  if (e.kind !== 'transition') return { ...e, entry };
  if (e.requiresLabel !== undefined && !hasLabel(payload, e.requiresLabel)) {
    return { kind: 'ignore', reason: `the issue is not labelled ${e.requiresLabel}`, entry };
  }
  const inputs: Record<string, string | number | boolean> = {};
  for (const [name, src] of Object.entries(e.inputs)) {
    if ('const' in src) {
      inputs[name] = src.const;
    } else if ('path' in src) {
      const v = at(payload, src.path);
      if (typeof v !== 'string' && typeof v !== 'number') {
        const message = `${src.path}: expected a string or number`;
        return { kind: 'invalid', path: src.path, message };
      }
      inputs[name] = v;
    } else {
      const v = DERIVATIONS[src.derive](payload);
      if (v === null) {
        const message = `${src.derive}: the payload lacks its parts`;
        return { kind: 'invalid', path: src.derive, message };
      }
      inputs[name] = v;
    }
  }
  return { kind: 'transition', transition: e.transition, inputs, entry };
}
