/**
 * MCP registry prober: every `intervalMs` it GETs each configured tool's URL and publishes
 * `mcp` facts `{ tools: [{ name, reachable, version }] }`, sorted by name.
 *
 * - A tool is reachable when it answers 2xx with a JSON object whose `version` is a string of
 *   1..200 characters (other fields are ignored). Anything else — a timeout, a network error,
 *   another status, another body — reports `reachable: false, version: "unknown"`: the core
 *   compares versions with the genesis `mcp_pins`, and a tool that cannot say which version
 *   it runs must not pass for a pinned one.
 * - It publishes when any tool's reachability or version changed since the last fact, and
 *   re-affirms the unchanged list once `reaffirmMs` have passed since the last publish.
 *
 * Configuration file (JSON, or YAML for any other extension):
 * `{ "tools": [{ "name": "search", "url": "http://search:8080/version" }] }`
 * (a bare list of tools is accepted too).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { isJsonObject, jcs, type JsonObject } from '../core/index.js';
import { SwooshError } from '../protocol/errors.js';
import {
  checkIntOption, Loop, reportUnpublished, resumeFrom, type Feeder, type FeederContext,
} from './common.js';
import { getJson, HTTP_TIMEOUT_MS_MAX, loggableUrl, urlProblem } from './http-get.js';

/** Most tools. Why: the core's mcp schema accepts at most 1000 items. */
export const MCP_TOOLS_MAX = 1000;
/** Probes in flight at once. Why: a thousand tools must not open a thousand sockets. */
export const MCP_PROBES_IN_FLIGHT_MAX = 16;
/** Tool names as the genesis `mcp_pins` accept them. */
const TOOL_NAME_RE = /^[A-Za-z0-9_.:@/-]{1,200}$/;
/** Version length bounds of the core's mcp schema. */
const VERSION_CHARS_MAX = 200;
/** The version reported for a tool that did not answer properly. */
export const VERSION_UNKNOWN = 'unknown';

/** One tool to probe. */
export interface McpTool {
  readonly name: string;
  readonly url: string;
}

/** Options of the prober. */
export interface McpFeederOptions {
  readonly tools: readonly McpTool[];
  readonly intervalMs: number;
  readonly reaffirmMs: number;
  readonly timeoutMs: number;
}

/** Defaults of the CLI. */
export const MCP_DEFAULTS = {
  /** Thirty seconds: a tool going down is seen within half a minute. */
  intervalMs: 30_000,
  /** Five minutes. */
  reaffirmMs: 300_000,
  timeoutMs: 3_000,
} as const;

/** One probe's result, as published. */
export interface McpToolStatus {
  readonly name: string;
  readonly reachable: boolean;
  readonly version: string;
}

/** The prober's counters. */
export interface McpStats {
  readonly rounds: number;
  readonly published: number;
  readonly failed: number;
  /** The last list published, null before the first. */
  readonly tools: readonly McpToolStatus[] | null;
}

const configError = (path: string, message: string): SwooshError =>
  new SwooshError('invalid_config', `${path}: ${message}`);

/** Validate a parsed configuration; `source` names the file in errors. */
export function parseMcpConfig(raw: unknown, source: string): McpTool[] {
  const list: unknown = isJsonObject(raw) ? raw['tools'] : raw;
  const base = isJsonObject(raw) ? `${source}: tools` : source;
  if (isJsonObject(raw)) {
    const extra = Object.keys(raw).find((k) => k !== 'tools');
    if (extra !== undefined) throw configError(`${source}: ${extra}`, 'unknown field');
  }
  if (!Array.isArray(list) || list.length === 0 || list.length > MCP_TOOLS_MAX) {
    throw configError(base, `expected a list of 1..${MCP_TOOLS_MAX} tools { name, url }`);
  }
  const seen = new Set<string>();
  return list.map((t: unknown, i): McpTool => {
    const at = `${base}[${i}]`;
    if (!isJsonObject(t)) throw configError(at, 'expected { name, url }');
    const extra = Object.keys(t).find((k) => k !== 'name' && k !== 'url');
    if (extra !== undefined) throw configError(`${at}.${extra}`, 'unknown field');
    const { name, url } = t;
    if (typeof name !== 'string' || !TOOL_NAME_RE.test(name)) {
      throw configError(`${at}.name`, 'expected 1..200 characters of [A-Za-z0-9_.:@/-]');
    }
    if (seen.has(name)) throw configError(`${at}.name`, `duplicate tool "${name}"`);
    seen.add(name);
    const problem = typeof url === 'string' ? urlProblem(url) : 'expected a string';
    if (problem !== null || typeof url !== 'string') throw configError(`${at}.url`, problem ?? '');
    return { name, url };
  });
}

/** Read and validate a configuration file (JSON when it ends in .json, else YAML). */
export function loadMcpConfig(path: string): McpTool[] {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const msg = `${path}: cannot read: ${(err as Error).message}`;
    throw new SwooshError('invalid_config', msg, { cause: err });
  }
  return parseMcpConfig(raw, path);
}

/** The version in a tool's answer, or why there is none. */
export function versionOf(body: unknown): { version: string } | { reason: string } {
  if (!isJsonObject(body)) return { reason: 'answer: expected a JSON object' };
  const v = body['version'];
  if (typeof v !== 'string') return { reason: 'answer.version: expected a string' };
  const n = [...v].length;
  if (n < 1 || n > VERSION_CHARS_MAX) {
    return { reason: `answer.version: expected 1..${VERSION_CHARS_MAX} characters` };
  }
  return { version: v };
}

/** Map `items` through `fn` with at most `limit` calls in flight, keeping the order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

class McpProber implements Feeder<McpStats> {
  readonly kind = 'mcp' as const;
  private readonly loop: Loop;
  private readonly tools: readonly McpTool[];
  private rounds = 0;
  private published = 0;
  private failed = 0;
  private last: readonly McpToolStatus[] | null = null;
  private lastPublishMs = 0;

  constructor(private readonly ctx: FeederContext, private readonly o: McpFeederOptions) {
    this.tools = [...o.tools].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.loop = new Loop(() => this.round(), () => o.intervalMs,
      (err) => ctx.log.error({ err }, 'MCP probe round failed unexpectedly'));
  }

  start(): void {
    this.loop.start();
  }

  stats(): McpStats {
    const { rounds, published, failed } = this;
    return { rounds, published, failed, tools: this.last };
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async probe(t: McpTool): Promise<McpToolStatus> {
    const r = await getJson(t.url, { timeoutMs: this.o.timeoutMs });
    const v = r.ok ? versionOf(r.json) : r;
    if ('version' in v) return { name: t.name, reachable: true, version: v.version };
    const was = this.last?.find((x) => x.name === t.name);
    if (was === undefined || was.reachable) {
      const fields = { tool: t.name, url: loggableUrl(t.url), reason: v.reason };
      this.ctx.log.warn(fields, 'MCP tool unreachable');
    }
    return { name: t.name, reachable: false, version: VERSION_UNKNOWN };
  }

  private async round(): Promise<void> {
    this.rounds += 1;
    const tools = await mapLimit(this.tools, MCP_PROBES_IN_FLIGHT_MAX, (t) => this.probe(t));
    const now = Date.now();
    const changed = this.last === null || jcs(this.last) !== jcs(tools);
    if (!changed && now - this.lastPublishMs < this.o.reaffirmMs) return;
    const payload: JsonObject = { tools: tools.map((t) => ({ ...t })) };
    try {
      const f = await this.ctx.publisher.publish('mcp', payload);
      this.published += 1;
      this.last = tools;
      this.lastPublishMs = now;
      const up = tools.filter((t) => t.reachable).length;
      const msg = changed ? 'MCP tool status published' : 'MCP tool status re-affirmed';
      this.ctx.log.info({ reachable: up, tools: tools.length, hlc: f.hlc, seq: f.seq }, msg);
    } catch (err) {
      if (reportUnpublished(this.ctx.log, err, {}, 'publishing the MCP tool status failed')) {
        this.failed += 1;
      }
    }
  }
}

function checkOptions(o: McpFeederOptions): void {
  parseMcpConfig(o.tools, 'tools');
  checkIntOption('interval ms', o.intervalMs, 1, 86_400_000);
  checkIntOption('reaffirm ms', o.reaffirmMs, 1, 30 * 86_400_000);
  checkIntOption('timeout ms', o.timeoutMs, 1, HTTP_TIMEOUT_MS_MAX);
}

/** Start the prober: validates the options, then probes immediately. */
export async function startMcpFeeder(
  ctx: FeederContext,
  o: McpFeederOptions,
): Promise<Feeder<McpStats>> {
  checkOptions(o);
  await resumeFrom(ctx, 'mcp');
  const p = new McpProber(ctx, o);
  p.start();
  return p;
}
