/**
 * Redaction of what the gateway shows (docs/security.md, "Redaction"): values that come from
 * chart inputs marked `sensitive: true` are replaced by `redacted:sha256-<hex>` — the SHA-256
 * of the value's UTF-8 bytes, so an operator can check a value they know without the gateway
 * ever showing one. The state, its hashes and the records are unchanged (records never hold
 * more than a hash of the inputs); this is the projection only.
 */
import { createHash } from 'node:crypto';
import type { Chart, InputSchema, State } from '../core/index.js';

/** What a sensitive string becomes in a projection. */
export function redacted(value: string): string {
  return `redacted:sha256-${createHash('sha256').update(value, 'utf8').digest('hex')}`;
}

/** `value` with every string the schema marks sensitive redacted (anything else as it is). */
export function redactBySchema(schema: InputSchema, value: unknown): unknown {
  switch (schema.type) {
    case 'string':
      return schema.sensitive === true && typeof value === 'string' ? redacted(value) : value;
    case 'array':
      return Array.isArray(value) ? value.map((x) => redactBySchema(schema.items, x)) : value;
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const s = Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
        out[k] = s === undefined ? v : redactBySchema(s, v);
      }
      return out;
    }
    default:
      return value;
  }
}

/** True when some string in `schema` is marked sensitive. */
export function hasSensitive(schema: InputSchema): boolean {
  switch (schema.type) {
    case 'string': return schema.sensitive === true;
    case 'array': return hasSensitive(schema.items);
    case 'object': return Object.values(schema.properties).some(hasSensitive);
    default: return false;
  }
}

type Redactor = (section: unknown, chart: Chart) => unknown;

/**
 * The state sections that keep values of sensitive inputs. Kept in step with the chart by
 * test/integration/redaction.test.ts, which proposes a canary in every sensitive input and
 * scans every projection, record and log line for it.
 */
const REDACTORS: Readonly<Record<string, Redactor>> = {
  // Ingestion_SourcesResolved sources[].uri, as the ingestion region keeps them.
  ingestion: (v, chart) => {
    const g = v as State['ingestion'];
    const spec = chart.transitions.find((t) => t.name === 'Ingestion_SourcesResolved');
    if (spec === undefined) return g;
    const inputs = redactBySchema(spec.inputs, { sources: g.sources }) as Pick<typeof g, 'sources'>;
    return { ...g, sources: inputs.sources };
  },
  // A quarantine keeps the policy subject it was checked against (src/core/domain/policy.ts),
  // whose `uris` are source URIs (to re-check them under a newer policy).
  policy: (v) => {
    const p = v as State['policy'];
    const q = p.quarantine;
    const uris = q?.breach.inputs['uris'];
    if (q === null || !Array.isArray(uris)) return p;
    const shown = (uris as unknown[])
      .map((u): unknown => (typeof u === 'string' ? redacted(u) : u));
    const inputs = { ...q.breach.inputs, uris: shown };
    return { ...p, quarantine: { ...q, breach: { ...q.breach, inputs } } };
  },
};

/** A state section as the gateway shows it. */
export function redactSection(name: string, value: unknown, chart: Chart): unknown {
  const r = REDACTORS[name];
  return r === undefined ? value : r(value, chart);
}
