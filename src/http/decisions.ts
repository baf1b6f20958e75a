/**
 * Audit queries over the DECISIONS stream: one record by WAL seq or `dr_id`, and filtered
 * pages. A page is read with the stream's message-get API (`STREAM.MSG.GET` with
 * `next_by_subj`, nats-server ≥ 2.9): each get asks for the first message on the chain
 * subject (`<prefix>.dr.<chain>`, or `<prefix>.dr.*` for every chain) at or after a stream
 * seq, walking forward from `after_seq + 1`. Reads leave no state on the server: no consumer
 * is created per request, so an anonymous reader cannot make the server create consumers.
 * Outcome and transition filters are applied to the decoded records (JetStream cannot filter
 * on content), reading at most LIST_SCAN_MAX records per page (ID_SCAN_MAX for an id lookup).
 * A page that hit the scan bound before filling says so with `next_after_seq` past what it
 * read, so paging continues where it stopped.
 *
 * A batched direct get (`DIRECT.GET` with `batch`, nats-server ≥ 2.11) would answer a page in
 * one request, but needs `allow_direct` on the stream, which DECISIONS does not set
 * (streams/definitions.ts); direct gets may also be answered by a replica that has not yet
 * stored the newest records.
 */
import type {
  JetStreamManager, NextMsgRequest, SeqMsgRequest, StoredMsg,
} from '@nats-io/jetstream';
import assert from 'node:assert/strict';
import type { Logger } from 'pino';
import { decodeDr, type DecisionRecord } from '../protocol/decision-record.js';
import { HttpError, invalidParameter } from './errors.js';
import type { DecisionWaiter } from './waiter.js';

/** Records per page when `limit` is not given. */
export const LIST_LIMIT_DEFAULT = 100;
/** Largest page. */
export const LIST_LIMIT_MAX = 1000;
/**
 * Most records one page reads to find `limit` matches. Why 2,000: every record read is one
 * JetStream API request (0.15–0.25 ms each on a loaded 2-core machine), so 10,000 made a page
 * whose filter matched rarely take 1.3–2.5 s; paging on with `next_after_seq` reads the rest.
 */
export const LIST_SCAN_MAX = 2_000;
/**
 * Most records an id lookup reads (the page bound before pages moved to message gets): the
 * chain's records between seq `index` and the one with that `chain_index`, or the records
 * around seq n for a WAL seq whose record is not at DECISIONS seq n. A lower bound would
 * leave stored records unfindable.
 */
export const ID_SCAN_MAX = 10_000;
/**
 * Gets in flight at once while a page reads every chain (`<prefix>.dr.*`): there nearly every
 * DECISIONS seq holds a record, so gets at consecutive seqs return different ones. One
 * chain's records are interleaved with the others', where such gets would mostly return the
 * same record: a chain is read one get at a time. Small, so one page cannot flood the server.
 */
export const LIST_GETS_IN_FLIGHT_MAX = 16;

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
      afterSeq: Math.max(0, bySeq - ID_SCAN_MAX / 2), limit: 1, order: 'asc',
      scanMax: ID_SCAN_MAX, match: (r) => r.wal_seq === bySeq,
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
    order: 'asc', scanMax: ID_SCAN_MAX, match: (r) => r.chain_index >= index,
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
    scanMax: LIST_SCAN_MAX,
    match: (r) =>
      (q.outcome === null || r.outcome === q.outcome) &&
      (q.transition === null || r.transition === q.transition),
  }, log);
}

/** A page query with its record predicate and how many records it may read. */
type ScanQuery = ListQuery & {
  readonly match: (r: DecisionRecord) => boolean;
  readonly scanMax: number;
};

async function scanDecisions(
  waiter: DecisionWaiter,
  q: ScanQuery,
  log: Logger,
): Promise<DecisionPage> {
  const { jsm, prefix, subjects } = waiter.handles();
  const reader = new SubjectReader(jsm, subjects.decisionsName, {
    subject: `${prefix}.dr.${q.chain ?? '*'}`,
    from: q.afterSeq + 1,
    width: q.chain === null ? LIST_GETS_IN_FLIGHT_MAX : 1,
  });
  try {
    // Only records a writer of this deployment signed are shown (a foreign client's message on a
    // record subject is skipped, like any stray).
    return await readPage(reader, { ...q, match: (r) => waiter.trusts(r) && q.match(r) });
  } catch (err) {
    log.warn({ err }, 'http: reading DECISIONS failed');
    throw new HttpError('log_unavailable', 'decisions: reading DECISIONS failed');
  }
}

/**
 * Reads the messages of one subject of a stream in order, with message gets only (nothing is
 * created on the server). Each get asks for the first message on the subject at or after a
 * seq; `width` gets at consecutive seqs run at once.
 *
 * Why a batch of gets skips nothing, even while messages are appended: the stream stores
 * messages in seq order, so when a get returns seq x, every message below x is already stored.
 * Take a matching message m at or below the last answer kept. If a get ran at m's own seq, it
 * answered something at or after m, so m was stored and that answer is m; otherwise m lies
 * past the last get's seq and is that get's answer. A get that finds nothing means the subject
 * had nothing more at its seq when it ran: the batch ends there, answers after it unused.
 */
class SubjectReader {
  private readonly subject: string;
  private readonly width: number;
  /** The next seq to read from; null once the end of the subject was reached. */
  private from: number | null;

  /**
   * @param at the subject, the first seq to read (≥ 1) and how many gets run at once (≥ 1)
   */
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    at: { readonly subject: string; readonly from: number; readonly width: number },
  ) {
    assert(Number.isSafeInteger(at.from) && at.from >= 1, 'SubjectReader: from ≥ 1');
    assert(Number.isSafeInteger(at.width) && at.width >= 1, 'SubjectReader: width ≥ 1');
    this.subject = at.subject;
    this.width = at.width;
    this.from = at.from;
  }

  /**
   * The next messages in seq order, at most `max` and at least one unless the subject has
   * nothing more (then []).
   */
  async next(max: number): Promise<StoredMsg[]> {
    const from = this.from;
    if (from === null) return [];
    const n = Math.max(1, Math.min(this.width, max, Number.MAX_SAFE_INTEGER - from + 1));
    const got = await Promise.all(Array.from({ length: n }, (_, i) => this.get(from + i)));
    const msgs: StoredMsg[] = [];
    for (const m of got) {
      if (m === null) {
        this.from = null;
        return msgs;
      }
      if (m.seq > (msgs.at(-1)?.seq ?? 0)) msgs.push(m);
    }
    const last = msgs.at(-1)?.seq ?? from;
    this.from = last < Number.MAX_SAFE_INTEGER ? last + 1 : null;
    return msgs;
  }

  /** The first message on the subject at or after `seq`; null when there is none. */
  private get(seq: number): Promise<StoredMsg | null> {
    // STREAM.MSG.GET honours `next_by_subj` since nats-server 2.9; the client's type for this
    // call names only seq and last-by-subject gets, so the request is built as both.
    const req: SeqMsgRequest & NextMsgRequest = { seq, next_by_subj: this.subject };
    return this.jsm.streams.getMessage(this.stream, req);
  }
}

/**
 * Up to `limit` matching records, reading until the subject has nothing more and no more than
 * `scanMax` records.
 */
async function readPage(reader: SubjectReader, q: ScanQuery): Promise<DecisionPage> {
  const records: DecisionRecord[] = [];
  let scanned = 0;
  let lastSeq = q.afterSeq;
  let lastMatch = q.afterSeq;
  while (records.length < q.limit && scanned < q.scanMax) {
    const msgs = await reader.next(q.scanMax - scanned);
    if (msgs.length === 0) break;
    for (const m of msgs) {
      // A batch may hold more than the page needs: what is past the last match is not read.
      if (records.length >= q.limit) break;
      scanned += 1;
      lastSeq = m.seq;
      const r = recordOf(m.data);
      if (r !== null && q.match(r)) {
        records.push(r);
        lastMatch = m.seq;
      }
    }
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
