/**
 * Redaction of what the gateway shows (docs/security.md, "Redaction"): values that come from
 * chart inputs marked `sensitive: true` are replaced. With a redaction key
 * (`--redaction-key-file`) a value becomes `redacted:hmac-sha256-<hex>`, the HMAC of its UTF-8
 * bytes under that key, so an operator who holds the key can check a value they know and tell
 * two values apart; without one it becomes `redacted`, with nothing to test guesses against
 * (a plain digest of a low-entropy secret, a short token in a URL, could be brute-forced by
 * any reader). The state, its hashes and the records are unchanged (records never hold more
 * than a hash of the inputs); this is the projection only.
 */
import { createHmac } from 'node:crypto';
import type { Chart, InputSchema, State } from '../core/index.js';

/** The key sensitive values are shown under (null: shown as `redacted` only). */
export type RedactionKey = Uint8Array | null;

/** What a sensitive string becomes in a projection. */
export function redacted(value: string, key: RedactionKey): string {
  if (key === null) return 'redacted';
  return `redacted:hmac-sha256-${createHmac('sha256', key).update(value, 'utf8').digest('hex')}`;
}

/** The bytes of a redaction key file's text: 64 hex characters (32 bytes), else why not. */
export function parseRedactionKey(text: string): Uint8Array | string {
  return /^[0-9a-f]{64}$/i.test(text)
    ? Uint8Array.from(Buffer.from(text, 'hex'))
    : 'expected 64 hex characters (32 bytes; e.g. `openssl rand -hex 32`)';
}

/** `value` with every string the schema marks sensitive redacted (anything else as it is). */
export function redactBySchema(schema: InputSchema, value: unknown, key: RedactionKey): unknown {
  switch (schema.type) {
    case 'string':
      return schema.sensitive === true && typeof value === 'string' ? redacted(value, key) : value;
    case 'array':
      return Array.isArray(value) ? value.map((x) => redactBySchema(schema.items, x, key)) : value;
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const s = Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
        out[k] = s === undefined ? v : redactBySchema(s, v, key);
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

type Redactor = (section: unknown, chart: Chart, key: RedactionKey) => unknown;

/**
 * The state sections that keep values of sensitive inputs. Kept in step with the chart by
 * test/integration/redaction.test.ts, which proposes a canary in every sensitive input and
 * scans every projection, record and log line for it.
 */
const REDACTORS: Readonly<Record<string, Redactor>> = {
  // Ingestion_SourcesResolved sources[].uri, as the ingestion region keeps them.
  ingestion: (v, chart, key) => {
    const g = v as State['ingestion'];
    const spec = chart.transitions.find((t) => t.name === 'Ingestion_SourcesResolved');
    if (spec === undefined) return g;
    const inputs = redactBySchema(spec.inputs, { sources: g.sources }, key) as
      Pick<typeof g, 'sources'>;
    return { ...g, sources: inputs.sources };
  },
  // A quarantine keeps the policy subject it was checked against (src/core/domain/policy.ts),
  // whose `uris` are source URIs (to re-check them under a newer policy).
  policy: (v, _chart, key) => {
    const p = v as State['policy'];
    const q = p.quarantine;
    const uris = q?.breach.inputs['uris'];
    if (q === null || !Array.isArray(uris)) return p;
    const shown = (uris as unknown[])
      .map((u): unknown => (typeof u === 'string' ? redacted(u, key) : u));
    const inputs = { ...q.breach.inputs, uris: shown };
    return { ...p, quarantine: { ...q, breach: { ...q.breach, inputs } } };
  },
};

/** A state section as the gateway shows it. */
export function redactSection(
  name: string,
  value: unknown,
  chart: Chart,
  key: RedactionKey,
): unknown {
  const r = REDACTORS[name];
  return r === undefined ? value : r(value, chart, key);
}
