/**
 * The feeders' one HTTP client call: a GET that expects JSON, with a bounded time and a
 * bounded body, never following redirects. It never throws: every failure becomes a short
 * reason fit for a log line (it names the status or the network error, never a header, so a
 * bearer token cannot leak through it).
 */
import type { ReadableStream } from 'node:stream/web';

/**
 * Largest response body read. Why: licence and version answers are a few hundred bytes; a
 * larger body means something other than the expected service answered, and reading it whole
 * would let a misbehaving endpoint fill the feeder's memory.
 */
export const HTTP_BODY_BYTES_MAX = 65_536;

/** Longest request timeout accepted. Why: a feeder that waits minutes per check is stuck. */
export const HTTP_TIMEOUT_MS_MAX = 120_000;

/** Options of getJson. */
export interface GetJsonOptions {
  /** Abort the request (connect, headers and body) after this long. */
  readonly timeoutMs: number;
  /** Extra request headers (e.g. `authorization`); never logged. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Body size limit; HTTP_BODY_BYTES_MAX unless given. */
  readonly bodyBytesMax?: number;
}

/** What getJson found: the parsed JSON of a 2xx answer, or why there is none. */
export type GetJsonResult =
  | { readonly ok: true; readonly status: number; readonly json: unknown }
  | { readonly ok: false; readonly reason: string };

/** The network error code (ECONNREFUSED, ENOTFOUND, …) or message of a failed fetch. */
function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: unknown; message?: unknown } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return `timed out after ${timeoutMs} ms`;
  }
  const code = e.cause?.code;
  if (typeof code === 'string') return `connection failed: ${code}`;
  const causeMessage = e.cause?.message;
  if (typeof causeMessage === 'string') return `request failed: ${causeMessage}`;
  return `request failed: ${e.message}`;
}

/** Reads at most `max` bytes of the body; null when it is larger. */
async function readBounded(res: Response, max: number): Promise<Uint8Array | null> {
  if (res.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = (res.body as unknown as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) break;
    const value = chunk.value;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * GET `url` and parse a 2xx JSON answer. Redirects count as failures: a licence token must
 * never be replayed to another origin, and a moved endpoint is a configuration problem.
 */
export async function getJson(url: string, opts: GetJsonOptions): Promise<GetJsonResult> {
  const max = opts.bodyBytesMax ?? HTTP_BODY_BYTES_MAX;
  try {
    const res = await fetch(url, {
      method: 'GET',
      headers: { accept: 'application/json', ...opts.headers },
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel();
      return { ok: false, reason: `HTTP ${res.status}` };
    }
    const bytes = await readBounded(res, max);
    if (bytes === null) return { ok: false, reason: `body larger than ${max} bytes` };
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch (err) {
      return { ok: false, reason: `body is not JSON: ${(err as Error).message}` };
    }
    return { ok: true, status: res.status, json };
  } catch (err) {
    return { ok: false, reason: networkReason(err, opts.timeoutMs) };
  }
}

/** A URL without its query, user info and fragment: safe to log. */
export function loggableUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch (err) {
    return `<unparsable URL: ${(err as Error).message}>`;
  }
}

/** Why `url` is not an absolute http(s) URL, or null when it is. */
export function urlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    return `not a URL (${(err as Error).message})`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'expected an http or https URL';
  return null;
}
