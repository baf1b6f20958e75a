/**
 * Gitea webhooks as WHOOSH receives them (../CHORUS-FORMATS: `POST /webhooks/gitea`;
 * docs/migration.md): `X-Gitea-Event` names the event, `X-Gitea-Delivery` is a UUID per
 * delivery (a re-delivery repeats it), `X-Gitea-Signature` is the hex HMAC-SHA256 of the raw
 * body under the hook's secret. The body is Gitea's event payload.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Why a delivery's signature is refused, or null when it is the body's HMAC under `secret`. */
export function giteaSignatureProblem(
  rawBody: Uint8Array,
  signatureHex: string | undefined,
  secret: Uint8Array,
): string | null {
  if (signatureHex === undefined || signatureHex === '') return 'X-Gitea-Signature is missing';
  if (!/^[0-9a-f]{64}$/i.test(signatureHex)) {
    return 'X-Gitea-Signature: expected 64 hex characters (HMAC-SHA256)';
  }
  const want = createHmac('sha256', secret).update(rawBody).digest();
  const got = Buffer.from(signatureHex, 'hex');
  return timingSafeEqual(want, got) ? null : 'X-Gitea-Signature is not the body\'s HMAC';
}

/** A delivery id as an idempotency key part: Gitea's UUID, checked. */
export function giteaDeliveryProblem(delivery: string | undefined): string | null {
  if (delivery === undefined || delivery === '') return 'X-Gitea-Delivery is missing';
  return /^[A-Za-z0-9-]{1,64}$/.test(delivery) ? null
    : 'X-Gitea-Delivery: expected a delivery id (letters, digits and dashes, at most 64)';
}

/** The WHOOSH event kind of a delivery: `gitea.<event>.<action>`, or `gitea.<event>`. */
export function giteaEventKind(event: string | undefined, payload: unknown): string | null {
  if (event === undefined || !/^[a-z0-9_]{1,64}$/.test(event)) return null;
  const action = typeof payload === 'object' && payload !== null
    ? (payload as { action?: unknown }).action : undefined;
  return typeof action === 'string' && /^[a-z0-9_]{1,64}$/.test(action)
    ? `gitea.${event}.${action}` : `gitea.${event}`;
}

/**
 * The project a Design Brief issue starts, a valid project id that is the same for every
 * delivery of that issue: the repository's full name as a slug (lower case, other characters
 * as dashes, at most 40, shorter for a long number), the issue number, and 8 hex characters of
 * sha256(`<full_name>#<number>`) so that two names that slug alike stay apart. Null when the
 * payload has no repository full name or issue number.
 */
export function giteaIssueProject(payload: unknown): string | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const p = payload as { repository?: { full_name?: unknown }; issue?: { number?: unknown } };
  const name = p.repository?.full_name;
  const n = p.issue?.number;
  if (typeof name !== 'string' || name === '' || !Number.isSafeInteger(n) || (n as number) < 0) {
    return null;
  }
  // At most 63 characters in all: the slug gives way to a long issue number.
  const room = Math.min(40, 63 - String(n).length - 10);
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')
    .slice(0, room).replace(/-+$/, '');
  const tag = createHash('sha256').update(`${name}#${String(n)}`, 'utf8').digest('hex').slice(0, 8);
  return `${slug === '' ? 'issue' : slug}-${String(n)}-${tag}`;
}
