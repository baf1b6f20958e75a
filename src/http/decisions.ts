/**
 * Audit queries over the DECISIONS stream: one record by WAL seq or `dr_id`, and filtered
 * pages. A page is read through one consumer filtered by chain subject (`<prefix>.dr.<chain>`,
 * or every chain) starting after `after_seq`; outcome and transition filters are applied to
 * the records' `Swoosh-Outcome` / `Swoosh-Transition` headers as they stream by (JetStream
 * cannot filter on headers), reading at most LIST_SCAN_MAX records per page. A page that hit
 * the scan bound before filling says so with `next_after_seq` past what it read, so paging
 * continues where it stopped.
 */
import { DeliverPolicy, type Consumer } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { decodeDr, type DecisionRecord } from '../protocol/decision-record.js';
import { HttpError, invalidParameter } from './errors.js';
import type { DecisionWaiter } from './waiter.js';

/** Records per page when `limit` is not given. */
export const LIST_LIMIT_DEFAULT = 100;
/** Largest page. */
export const LIST_LIMIT_MAX = 1000;
/** How long a page waits for messages the server said were pending. */
export const LIST_FETCH_EXPIRES_MS = 5000;
/** Most records one page reads to find `limit` matches. */
export const LIST_SCAN_MAX = 10_000;

const OUTCOMES = ['accepted', 'rejected', 'duplicate', 'quarantined', 'fact'] as const;
const TOKEN_RE = /^[A-Za-z0-9_-]{1,200}$/;
const SEQ_RE = /^[1-9][0-9]{0,15}$/;
const DR_ID_RE =
  /^bubble:\/\/dr\/[^/\s]+\/([a-z0-9][a-z0-9-]{0,62}|_deployment)\/([1-9][0-9]{0,15})$/;
const CHAIN_RE = /^([a-z0-9][a-z0-9-]{0,62}|_deployment)$/;
const LIST_PARAMS = new Set([
  'chain', 'transition', 'outcome', 'after_seq', 'after', 'limit', 'order',
]);

/** A positive safe integer from decimal text, or null. */
function seqOf(text: string, re: RegExp = SEQ_RE): number | null {
  const m = re.exec(text);
  const n = Number(m?.[1] ?? m?.[0]);
  return m !== null && Number.isSafeInteger(n) ? n : null;
}

/** GET /decisions/:id — by WAL seq or by `bubble://dr/<instance>/<chain>/<index>`. */
export async function decisionById(
  waiter: DecisionWaiter,
  id: string,
  log: Logger,
): Promise<DecisionRecord> {
  const bySeq = seqOf(id);
  if (bySeq !== null) {
    // With one writer the record of entry n is at DECISIONS seq n. With writers by bucket,
    // records are stored close to WAL order but not in it: look around n (bounded).
    const rec = await waiter.stored(bySeq) ?? (await scanDecisions(waiter, {
      chain: null, transition: null, outcome: null,
      afterSeq: Math.max(0, bySeq - LIST_SCAN_MAX / 2), limit: 1, order: 'asc',
      match: (r) => r.wal_seq === bySeq,
    }, log)).records[0] ?? null;
    if (rec === null) throw new HttpError('not_found', `id: no decision record ${id} in this log`);
    return rec;
  }
  const m = DR_ID_RE.exec(id);
  const index = Number(m?.[2]);
  if (m === null || !Number.isSafeInteger(index)) {
    throw invalidParameter('id', 'expected a WAL sequence number or a URL-encoded ' +
      `bubble://dr/<instance>/<chain>/<index>, got ${JSON.stringify(id.slice(0, 200))}`);
  }
  // The index-th record of a chain is at DECISIONS seq ≥ index: read the chain's subject.
  const page = await scanDecisions(waiter, {
    chain: m[1] ?? '', transition: null, outcome: null, afterSeq: index - 1, limit: 1,
    order: 'asc', match: (r) => r.chain_index >= index,
  }, log);
  const rec = page.records[0];
  if (rec === undefined || rec.dr_id !== id) {
    throw new HttpError('not_found', `id: no decision record ${id} in this log`);
  }
  return rec;
}

/** Validated GET /decisions query. */
export interface ListQuery {
  /** A project id or `_deployment`; null for every chain. */
  readonly chain: string | null;
  readonly transition: string | null;
  readonly outcome: (typeof OUTCOMES)[number] | null;
  readonly afterSeq: number;
  readonly limit: number;
  readonly order: 'asc';
}

function single(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidParameter(name, 'expected a single value');
  return v;
}

function intParam(
  q: Record<string, unknown>,
  name: string,
  range: { min: number; max: number; dflt: number },
): number {
  const { min, max, dflt } = range;
  const v = single(q, name);
  if (v === undefined) return dflt;
  const n = /^[0-9]{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw invalidParameter(name,
      `expected an integer in ${min}..${max}, got ${JSON.stringify(v.slice(0, 50))}`);
  }
  return n;
}

/** Validate the query of GET /decisions; every problem names its parameter. */
export function parseListQuery(
  q: Record<string, unknown>,
  fixed: { readonly chain?: string } = {},
): ListQuery {
  const unknown = Object.keys(q).find((k) => !LIST_PARAMS.has(k));
  if (unknown !== undefined) {
    throw invalidParameter(unknown,
      `unknown query parameter; expected ${[...LIST_PARAMS].join(', ')}`);
  }
  const transition = single(q, 'transition');
  if (transition !== undefined && !TOKEN_RE.test(transition)) {
    throw invalidParameter('transition',
      'expected a transition or fact kind name ([A-Za-z0-9_-], 1..200)');
  }
  const outcome = single(q, 'outcome');
  if (outcome !== undefined && !(OUTCOMES as readonly string[]).includes(outcome)) {
    throw invalidParameter('outcome', `expected one of ${OUTCOMES.join(', ')}`);
  }
  const chain = fixed.chain ?? single(q, 'chain');
  if (chain !== undefined && !CHAIN_RE.test(chain)) {
    throw invalidParameter('chain', 'expected a project id or _deployment');
  }
  const order = single(q, 'order');
  if (order !== undefined && order !== 'asc') {
    throw invalidParameter('order', 'expected asc (records come in WAL order)');
  }
  return {
    chain: chain ?? null,
    order: 'asc',
    transition: transition ?? null,
    outcome: (outcome ?? null) as ListQuery['outcome'],
    // `after` is the contract's name on the per-chain routes; `after_seq` the v1 one.
    afterSeq: intParam(q, q['after'] === undefined ? 'after_seq' : 'after',
      { min: 0, max: Number.MAX_SAFE_INTEGER - 1, dflt: 0 }),
    limit: intParam(q, 'limit', { min: 1, max: LIST_LIMIT_MAX, dflt: LIST_LIMIT_DEFAULT }),
  };
}

/** A page of records and the cursor for the next one. */
export interface DecisionPage {
  readonly records: DecisionRecord[];
  /** Pass as `after_seq` to continue: the last record's seq, or the given `after_seq`. */
  readonly next_after_seq: number;
}

/** GET /decisions — one page of records matching the query, in WAL order. */
export async function listDecisions(
  waiter: DecisionWaiter,
  q: ListQuery,
  log: Logger,
): Promise<DecisionPage> {
  return scanDecisions(waiter, {
    ...q,
    match: (r) =>
      (q.outcome === null || r.outcome === q.outcome) &&
      (q.transition === null || r.transition === q.transition),
  }, log);
}

async function scanDecisions(
  waiter: DecisionWaiter,
  q: ListQuery & { readonly match: (r: DecisionRecord) => boolean },
  log: Logger,
): Promise<DecisionPage> {
  const { js, prefix, subjects } = waiter.handles();
  const subject = `${prefix}.dr.${q.chain ?? '*'}`;
  let consumer: Consumer;
  try {
    consumer = await js.consumers.get(subjects.decisionsName, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: q.afterSeq + 1,
      inactive_threshold: 30_000,
    });
  } catch (err) {
    log.warn({ err }, 'http: opening a DECISIONS reader failed');
    throw new HttpError('log_unavailable', 'decisions: opening a reader on DECISIONS failed');
  }
  try {
    return await readPage(consumer, q);
  } catch (err) {
    log.warn({ err }, 'http: reading DECISIONS failed');
    throw new HttpError('log_unavailable', 'decisions: reading DECISIONS failed');
  } finally {
    consumer.delete().catch((err: unknown) => log.debug({ err }, 'http: deleting a reader failed'));
  }
}

/**
 * Up to `limit` matching records, reading no more than the server counted pending (so it never
 * idles) and no more than LIST_SCAN_MAX records.
 */
async function readPage(
  consumer: Consumer,
  q: ListQuery & { readonly match: (r: DecisionRecord) => boolean },
): Promise<DecisionPage> {
  let pending = (await consumer.info(true)).num_pending;
  const records: DecisionRecord[] = [];
  let scanned = 0;
  let lastSeq = q.afterSeq;
  let lastMatch = q.afterSeq;
  while (pending > 0 && records.length < q.limit && scanned < LIST_SCAN_MAX) {
    const want = Math.min(pending, LIST_SCAN_MAX - scanned, 1000);
    const msgs = await consumer.fetch({ max_messages: want, expires: LIST_FETCH_EXPIRES_MS });
    let got = 0;
    for await (const m of msgs) {
      got += 1;
      scanned += 1;
      lastSeq = m.seq;
      pending = m.info.pending;
      const r = recordOf(m.data);
      if (r !== null && q.match(r)) {
        records.push(r);
        lastMatch = m.seq;
      }
      if (records.length >= q.limit || pending === 0 || got >= want) break;
    }
    if (got === 0) break;
  }
  const full = records.length >= q.limit;
  // Cursors are DECISIONS stream positions: the last record returned, or past what was read.
  return { records, next_after_seq: full ? lastMatch : lastSeq };
}

/** A record from the stream, or null for bytes SWOOSH did not write (never fatal to a page). */
function recordOf(data: Uint8Array): DecisionRecord | null {
  try {
    const r = decodeDr(data);
    return typeof r === 'object' && r !== null && typeof r.wal_seq === 'number' ? r : null;
  } catch (err) {
    void err; // a stray message on a dr subject: not a record, skipped
    return null;
  }
}
