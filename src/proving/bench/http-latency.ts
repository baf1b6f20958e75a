/**
 * POST /transition latency at fixed request rates, open loop: request i is sent at
 * t0 + i/rate whatever the answers do (no coordinated omission: latency counts from the
 * scheduled time), over a pool of keep-alive connections (the concurrent clients).
 */
import { Agent, request } from 'node:http';
import type { Instance } from '../../server/process/instance.js';
import { createHttpServer } from '../../http/server.js';

/** One rate's figures. */
export interface HttpRate {
  readonly rate: number;
  readonly seconds: number;
  readonly sent: number;
  readonly p50_ms: number;
  readonly p95_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  /** `<HTTP status> <answer>` → count (202 accepted / duplicate, 400 rejected:<code>, …). */
  readonly statuses: Readonly<Record<string, number>>;
  readonly errors: number;
  readonly timeouts: number;
}

/** `accepted`, `duplicate`, `rejected:<code>` or the error code of an answer body. */
function classify(text: string): string {
  try {
    const b = JSON.parse(text) as { status?: unknown; duplicate?: unknown; code?: unknown };
    if (b.status === 'accepted') return b.duplicate === true ? 'duplicate' : 'accepted';
    const status = typeof b.status === 'string' ? b.status : 'error';
    return `${status}:${typeof b.code === 'string' ? b.code : '?'}`;
  } catch {
    return 'unparsable';
  }
}

function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return +(sorted[Math.max(0, i)] ?? 0).toFixed(2);
}

/**
 * Serve the gateway for `inst` on loopback, run each rate for `seconds` (request i's body is
 * `bodyAt(i)`, built at send time), close.
 */
export async function httpLatency(
  inst: Instance,
  bodyAt: (i: number) => string,
  rates: readonly number[],
  seconds: number,
  clients: number,
  timeoutMs: number,
): Promise<HttpRate[]> {
  const app = await createHttpServer({ instance: inst });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  let next = 0;
  try {
    const out: HttpRate[] = [];
    // A 2-second warm-up at the lowest rate (JIT, connections, the writer's first pulls), dropped.
    const lowest = Math.min(...rates);
    for (const [i, rate] of [lowest, ...rates].entries()) {
      const warmup = i === 0;
      const total = Math.round(rate * (warmup ? 2 : seconds));
      const lat: number[] = [];
      const statuses: Record<string, number> = {};
      let errors = 0;
      let timeouts = 0;
      const one = (body: string, scheduled: number): Promise<void> =>
        new Promise((resolve) => {
          const req = request(
            {
              host: '127.0.0.1',
              port,
              path: '/transition',
              method: 'POST',
              agent,
              timeout: timeoutMs,
              headers: {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(body),
              },
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => {
                lat.push(performance.now() - scheduled);
                const k = `${res.statusCode ?? 0} ` +
                  `${classify(Buffer.concat(chunks).toString('utf8'))}`;
                statuses[k] = (statuses[k] ?? 0) + 1;
                resolve();
              });
            },
          );
          req.on('timeout', () => {
            timeouts += 1;
            req.destroy();
          });
          req.on('error', () => {
            errors += 1;
            resolve();
          });
          req.end(body);
        });
      const t0 = performance.now();
      const pending: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const at = t0 + (i * 1000) / rate;
        const wait = at - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const body = bodyAt(next);
        next += 1;
        pending.push(one(body, at));
      }
      await Promise.all(pending);
      lat.sort((a, b) => a - b);
      if (warmup) continue;
      out.push({
        rate,
        seconds,
        sent: total,
        p50_ms: pct(lat, 50),
        p95_ms: pct(lat, 95),
        p99_ms: pct(lat, 99),
        max_ms: pct(lat, 100),
        statuses,
        errors: errors - timeouts,
        timeouts,
      });
    }
    return out;
  } finally {
    agent.destroy();
    await app.close();
  }
}
