/**
 * The canonical-body rule shared by proposals and facts: a signed body must be its own JCS
 * form, judged by SWOOSH's own scanner before `JSON.parse` runs.
 */
import { isJsonObject, jcsOrProblem, type JsonObject } from './json.js';
import { describeJsonProblem, scanJson } from './json-scan.js';

/**
 * Parse a JSON body and insist it is its own JCS form (so signed bytes are unambiguous). Every
 * message is SWOOSH's own wording: the scanner (json-scan.ts) judges the grammar and the
 * nesting depth before `JSON.parse` runs, and JCS reports its own reason; no engine text.
 */
export function parseCanonical(
  body: string,
): { ok: true; value: JsonObject } | { ok: false; message: string; canonical: boolean } {
  const scan = scanJson(body);
  if (!scan.ok) {
    return { ok: false, message: `body: ${describeJsonProblem(body, scan)}`, canonical: true };
  }
  const value: unknown = JSON.parse(body); // cannot throw: the scanner accepted the grammar
  if (!isJsonObject(value)) {
    return { ok: false, message: 'body is not a JSON object', canonical: true };
  }
  const text = jcsOrProblem(value);
  if (!text.ok) {
    return { ok: false, message: `body has no canonical form: ${text.problem}`, canonical: true };
  }
  if (text.text !== body) {
    return { ok: false, message: 'body is not in RFC 8785 (JCS) form', canonical: false };
  }
  return { ok: true, value };
}
