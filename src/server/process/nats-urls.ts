/**
 * NATS_URL as a server list. A cluster is given as comma-separated URLs
 * (`nats://a:4222,nats://b:4222`). The CLI's short-lived connections take the whole list;
 * an instance (src/server/process/main.ts, `swoosh serve`) connects to the first server of the list
 * that accepts a TCP connection, and learns the other nodes from that server (the cluster
 * gossips its client URLs to every client), so it reconnects to them when its node goes away.
 */
import { Socket } from 'node:net';
import { SwooshError } from '../../protocol/errors.js';
import { redactNatsUrl } from '../../protocol/nats-auth.js';

/** The default NATS client port, for a URL that names none. */
const NATS_PORT_DEFAULT = 4222;

/** host and port of one server URL (`nats://h:p`, `tls://h:p`, `h:p` or `h`). */
export function hostPortOf(url: string, field = 'NATS_URL'): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url.includes('://') ? url : `nats://${url}`);
  } catch (err) {
    const shown = redactNatsUrl(url);
    throw new SwooshError('invalid_config', `${field}: "${shown}" is not a server URL`, {
      cause: err,
    });
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') {
    throw new SwooshError('invalid_config', `${field}: "${redactNatsUrl(url)}" names no host`);
  }
  return { host, port: u.port === '' ? NATS_PORT_DEFAULT : Number(u.port) };
}

/** The servers of a NATS_URL value: split on commas, trimmed; each must be a server URL. */
export function parseNatsUrls(value: string, field = 'NATS_URL'): string[] {
  const urls = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (urls.length === 0) {
    throw new SwooshError(
      'invalid_config',
      `${field}: expected one or more server URLs, comma-separated`,
    );
  }
  for (const u of urls) hostPortOf(u, field);
  return urls;
}

/** True when host:port accepts a TCP connection within `timeoutMs`. */
function accepts(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host, () => done(true));
  });
}

/**
 * The first of `urls` whose server accepts a TCP connection (tried in order, `timeoutMs`
 * each), or the first URL when none does (connecting to it then fails with the client's own
 * error). A single URL is returned as it is, untried.
 */
export async function firstReachable(urls: readonly string[], timeoutMs = 1_000): Promise<string> {
  const first = urls[0];
  if (first === undefined) {
    throw new SwooshError('invalid_config', 'NATS_URL: expected one or more server URLs');
  }
  if (urls.length === 1) return first;
  for (const u of urls) {
    const { host, port } = hostPortOf(u);
    if (await accepts(host, port, timeoutMs)) return u;
  }
  return first;
}
