/**
 * Audit queries over the DECISIONS stream: one record by WAL seq or `dr_id`, and filtered
 * pages. A page is read through an ordered consumer filtered by subject
 * (`<prefix>.dr.<outcome|*>.<transition|*>`) starting after `after_seq`, so the server does
 * the filtering and a page costs one consumer, never a scan in the gateway.
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

const OUTCOMES = ['accepted', 'rejected', 'duplicate', 'quarantined', 'fact'] as const;
const TOKEN_RE = /^[A-Za-z0-9_-]{1,200}$/;
const SEQ_RE = /^[1-9][0-9]{0,15}$/;
const DR_ID_RE = /^bubble:\/\/dr\/[^/\s]+\/([1-9][0-9]{0,15})$/;
const LIST_PARAMS = new Set(['transition', 'outcome', 'after_seq', 'limit']);

/** A positive safe integer from decimal text, or null. */
function seqOf(text: string, re: RegExp = SEQ_RE): number | null {
  const m = re.exec(text);
  const n = Number(m?.[1] ?? m?.[0]);
  return m !== null && Number.isSafeInteger(n) ? n : null;
}

/** GET /decisions/:id — by WAL seq or by `bubble://dr/<instance>/<seq>`. */
export async function decisionById(waiter: DecisionWaiter, id: string): Promise<DecisionRecord> {
  const bySeq = seqOf(id);
  const seq = bySeq ?? seqOf(id, DR_ID_RE);
  if (seq === null) {
    throw invalidParameter('id', 'expected a WAL sequence number or a URL-encoded ' +
      `bubble://dr/<instance>/<seq>, got ${JSON.stringify(id.slice(0, 200))}`);
  }
  const rec = await waiter.stored(seq);
  if (rec === null || (bySeq === null && rec.dr_id !== id)) {
    throw new HttpError('not_found', `id: no decision record ${id} in this log`);
  }
  return rec;
}

/** Validated GET /decisions query. */
export interface ListQuery {
  readonly transition: string | null;
  readonly outcome: (typeof OUTCOMES)[number] | null;
  readonly afterSeq: number;
  readonly limit: number;
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
export function parseListQuery(q: Record<string, unknown>): ListQuery {
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
  return {
    transition: transition ?? null,
    outcome: (outcome ?? null) as ListQuery['outcome'],
    afterSeq: intParam(q, 'after_seq', { min: 0, max: Number.MAX_SAFE_INTEGER - 1, dflt: 0 }),
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
  const { js, prefix, subjects } = waiter.handles();
  const subject = `${prefix}.dr.${q.outcome ?? '*'}.${q.transition ?? '*'}`;
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
    const records = await readPage(consumer, q.limit);
    return { records, next_after_seq: records.at(-1)?.wal_seq ?? q.afterSeq };
  } catch (err) {
    log.warn({ err }, 'http: reading DECISIONS failed');
    throw new HttpError('log_unavailable', 'decisions: reading DECISIONS failed');
  } finally {
    consumer.delete().catch((err: unknown) => log.debug({ err }, 'http: deleting a reader failed'));
  }
}

/** Up to `limit` records: only as many as the server counted pending, so it never idles. */
async function readPage(consumer: Consumer, limit: number): Promise<DecisionRecord[]> {
  const pending = (await consumer.info(true)).num_pending;
  const want = Math.min(limit, pending);
  const records: DecisionRecord[] = [];
  if (want === 0) return records;
  const msgs = await consumer.fetch({ max_messages: want, expires: LIST_FETCH_EXPIRES_MS });
  for await (const m of msgs) {
    records.push(decodeDr(m.data));
    if (records.length >= want || m.info.pending === 0) break;
  }
  return records;
}
