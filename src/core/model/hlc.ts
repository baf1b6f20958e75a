/**
 * Hybrid Logical Clock (HLC) stamps: strict text form, total order, send/receive rules.
 *
 * Text form (ARCHITECTURE.md §3): `YYYY-MM-DDTHH:MM:SS.mmm+00:00#<logical>`, e.g.
 * `2025-10-19T01:23:45.678+00:00#1234`. Proposals are ordered by
 * `(physical ms, logical, signer, idem_key)`.
 *
 * Pure: no host clock or calendar object, no randomness. Callers pass wall time in as epoch
 * milliseconds. Calendar arithmetic is Howard Hinnant's days_from_civil / civil_from_days
 * (proleptic Gregorian calendar, UTC, no leap seconds), so results never depend on the host's
 * time zone or date implementation.
 */

/**
 * Largest logical counter. Why: 2^31 - 1 fits every signed 32-bit consumer (msgpack int32,
 * SQL INTEGER), and a counter this large means billions of events within one millisecond, so
 * instead of overflowing the clock borrows the next millisecond (see `advance`).
 */
export const HLC_LOGICAL_MAX = 2 ** 31 - 1;

/** First accepted calendar year. Why: from 1970 on, epoch milliseconds are never negative. */
const YEAR_MIN = 1970;
/** Last accepted calendar year. Why: the text form has four year digits. */
const YEAR_MAX = 9999;

/**
 * Largest epoch millisecond (9999-12-31T23:59:59.999Z). Why: the last instant with a four-digit
 * year; it is far below 2^53, so every accepted `ms` is a non-negative safe integer.
 */
export const HLC_MS_MAX = 253_402_300_799_999;

/** Milliseconds in one UTC day (no leap seconds). */
const MS_PER_DAY = 86_400_000;
/** Longest input echoed back in an error message. Why: keeps hostile input out of logs. */
const ECHO_MAX = 16;

/** An HLC timestamp: physical epoch milliseconds and a logical counter. */
export interface Hlc {
  readonly ms: number;
  readonly logical: number;
}

/** Result of `parseHlc`: the timestamp, or a message naming what is wrong with the text. */
export type HlcParse =
  | { readonly ok: true; readonly hlc: Hlc }
  | { readonly ok: false; readonly message: string };

/** An HLC together with the tie-breakers that make the order of proposals total. */
export interface HlcStamp {
  readonly hlc: Hlc;
  readonly signer: string;
  readonly idem_key: string;
}

type FieldName = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second';
type Fields = Record<FieldName, number> & { milli: number | null };
type Scan =
  | { readonly ok: true; readonly fields: Fields; readonly rest: string }
  | { readonly ok: false; readonly message: string };

type Slot = { readonly name: FieldName; readonly width: number; readonly sep: string };

/** Layout of `YYYY-MM-DDTHH:MM:SS`: each field's digit count and the separator after it. */
const LAYOUT: readonly Slot[] = [
  { name: 'year', width: 4, sep: '-' },
  { name: 'month', width: 2, sep: '-' },
  { name: 'day', width: 2, sep: 'T' },
  { name: 'hour', width: 2, sep: ':' },
  { name: 'minute', width: 2, sep: ':' },
  { name: 'second', width: 2, sep: '' },
];

/** Logical counter text: decimal, no sign, no leading zeros ("0" itself allowed). */
const LOGICAL_RE = /^(?:0|[1-9][0-9]*)$/;

function fail(message: string): { readonly ok: false; readonly message: string } {
  return { ok: false, message };
}

function echo(s: string): string {
  if (s === '') return 'nothing';
  return JSON.stringify(s.length > ECHO_MAX ? `${s.slice(0, ECHO_MAX)}…` : s);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return isLeapYear(y) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** Hinnant's civil_from_days: the proleptic Gregorian date `days` after 1970-01-01. */
function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return { year, month, day };
}

/** Exactly `width` ASCII digits at `at` as a number, or -1. */
function readDigits(s: string, at: number, width: number): number {
  if (at + width > s.length) return -1;
  let n = 0;
  for (let i = at; i < at + width; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Why the calendar fields are out of range, or null when they name a real instant. */
function rangeProblem(f: Fields, who: string): string | null {
  if (f.year < YEAR_MIN || f.year > YEAR_MAX) {
    return `${who}: year ${pad(f.year, 4)} out of range ${YEAR_MIN}..${YEAR_MAX}`;
  }
  if (f.month < 1 || f.month > 12) return `${who}: month ${pad(f.month, 2)} out of range 01..12`;
  const dim = daysInMonth(f.year, f.month);
  if (f.day < 1 || f.day > dim) {
    const ym = `${pad(f.year, 4)}-${pad(f.month, 2)}`;
    return `${who}: day ${pad(f.day, 2)} out of range 01..${dim} for ${ym}`;
  }
  if (f.hour > 23) return `${who}: hour ${pad(f.hour, 2)} out of range 00..23`;
  if (f.minute > 59) return `${who}: minute ${pad(f.minute, 2)} out of range 00..59`;
  if (f.second > 59) {
    return `${who}: second ${pad(f.second, 2)} out of range 00..59 (no leap seconds)`;
  }
  return null;
}

/** Scans `YYYY-MM-DDTHH:MM:SS(.mmm)?` at the start of `s` and validates the fields. */
function scanDateTime(s: string, who: string): Scan {
  const f: Fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, milli: null };
  let at = 0;
  for (const { name, width, sep } of LAYOUT) {
    const n = readDigits(s, at, width);
    if (n < 0) return fail(`${who}: expected ${width}-digit ${name} at offset ${at}`);
    f[name] = n;
    at += width;
    if (sep === '') continue;
    if (s[at] !== sep) {
      return fail(`${who}: expected '${sep}' at offset ${at}, got ${echo(s.slice(at, at + 1))}`);
    }
    at += 1;
  }
  if (s[at] === '.') {
    f.milli = readDigits(s, at + 1, 3);
    if (f.milli < 0) return fail(`${who}: expected 3-digit milliseconds at offset ${at + 1}`);
    at += 4;
    if (readDigits(s, at, 1) >= 0) return fail(`${who}: more than 3 fractional digits`);
  }
  const problem = rangeProblem(f, who);
  if (problem !== null) return fail(problem);
  return { ok: true, fields: f, rest: s.slice(at) };
}

/** Epoch ms of validated calendar fields. */
function fieldsToMs(f: Fields): number {
  const secOfDay = (f.hour * 60 + f.minute) * 60 + f.second;
  return daysFromCivil(f.year, f.month, f.day) * MS_PER_DAY + secOfDay * 1000 + (f.milli ?? 0);
}

/** `YYYY-MM-DDTHH:MM:SS.mmm` of an epoch ms already known to be in range. */
function formatCore(ms: number): string {
  const days = Math.floor(ms / MS_PER_DAY);
  const { year, month, day } = civilFromDays(days);
  let rem = ms - days * MS_PER_DAY;
  const milli = rem % 1000;
  rem = (rem - milli) / 1000;
  const second = rem % 60;
  rem = (rem - second) / 60;
  const minute = rem % 60;
  const hour = (rem - minute) / 60;
  const date = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
  return `${date}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}.${pad(milli, 3)}`;
}

function assertMs(ms: number, who: string): void {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > HLC_MS_MAX) {
    throw new RangeError(`${who}: ms ${String(ms)} is not an integer in 0..${HLC_MS_MAX}`);
  }
}

function assertHlc(h: Hlc, who: string): void {
  assertMs(h.ms, who);
  if (!Number.isSafeInteger(h.logical) || h.logical < 0 || h.logical > HLC_LOGICAL_MAX) {
    const l = String(h.logical);
    throw new RangeError(`${who}: logical ${l} is not an integer in 0..${HLC_LOGICAL_MAX}`);
  }
}

/**
 * Parses the strict HLC text form `YYYY-MM-DDTHH:MM:SS.mmm+00:00#<logical>`. Milliseconds and
 * the `+00:00` offset are mandatory (`Z` is rejected), the logical counter is decimal without
 * leading zeros and at most `HLC_LOGICAL_MAX`. On failure the message names what is wrong.
 */
export function parseHlc(s: string): HlcParse {
  if (typeof s !== 'string') return fail('hlc: expected a string');
  const hash = s.indexOf('#');
  if (hash < 0) return fail("hlc: expected '#<logical>' after the timestamp");
  const scan = scanDateTime(s.slice(0, hash), 'hlc');
  if (!scan.ok) return scan;
  if (scan.fields.milli === null) return fail('hlc: expected .mmm milliseconds after the seconds');
  if (scan.rest !== '+00:00') return fail(`hlc: expected +00:00 offset, got ${echo(scan.rest)}`);
  const text = s.slice(hash + 1);
  if (text === '') return fail("hlc: expected a logical counter after '#'");
  if (!LOGICAL_RE.test(text)) {
    return fail(`hlc: logical counter must be decimal without leading zeros, got ${echo(text)}`);
  }
  // More than 10 digits is always above 2^31 - 1; checking length first keeps Number() exact.
  const logical = text.length > 10 ? Infinity : Number(text);
  if (logical > HLC_LOGICAL_MAX) return fail(`hlc: logical counter exceeds ${HLC_LOGICAL_MAX}`);
  return { ok: true, hlc: { ms: fieldsToMs(scan.fields), logical } };
}

/**
 * Formats an HLC as `YYYY-MM-DDTHH:MM:SS.mmm+00:00#<logical>` (inverse of `parseHlc`).
 * Throws RangeError when `ms` or `logical` is not an integer in its range (programmer error).
 */
export function formatHlc(h: Hlc): string {
  assertHlc(h, 'formatHlc');
  return `${formatCore(h.ms)}+00:00#${h.logical}`;
}

/** Orders two HLCs by `(ms, logical)`. */
export function compareHlc(a: Hlc, b: Hlc): -1 | 0 | 1 {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  return 0;
}

function compareText(a: string, b: string): -1 | 0 | 1 {
  // Plain < compares UTF-16 code units: locale- and ICU-independent, hence deterministic.
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/**
 * Total order of stamps: `(ms, logical, signer, idem_key)`, strings compared by UTF-16 code
 * units (never `localeCompare`), so every replica sorts identically.
 */
export function compareStamp(a: HlcStamp, b: HlcStamp): -1 | 0 | 1 {
  const byHlc = compareHlc(a.hlc, b.hlc);
  if (byHlc !== 0) return byHlc;
  const bySigner = compareText(a.signer, b.signer);
  if (bySigner !== 0) return bySigner;
  return compareText(a.idem_key, b.idem_key);
}

/**
 * The clock value `(ms, logical)`, except that a logical counter past `HLC_LOGICAL_MAX` moves
 * to the next millisecond with logical 0. Why: the result stays strictly greater than every
 * input (ms + 1 beats any stamp at ms) and the counter never overflows, at the cost of running
 * up to 1 ms ahead of the wall clock. Throws RangeError once the year-9999 limit is passed.
 */
function advance(ms: number, logical: number, who: string): Hlc {
  if (logical <= HLC_LOGICAL_MAX) return { ms, logical };
  if (ms + 1 > HLC_MS_MAX) throw new RangeError(`${who}: HLC exhausted at ${formatCore(ms)}Z`);
  return { ms: ms + 1, logical: 0 };
}

/**
 * HLC send / local-event rule: `ms' = max(local.ms, wallMs)`; logical is `local.logical + 1`
 * when `ms'` equals `local.ms`, else 0. The result is strictly greater than `local` and its ms
 * is at least `wallMs`. Throws RangeError on out-of-range input (programmer error).
 */
export function hlcSend(local: Hlc, wallMs: number): Hlc {
  assertHlc(local, 'hlcSend');
  assertMs(wallMs, 'hlcSend: wallMs');
  const ms = Math.max(local.ms, wallMs);
  return advance(ms, ms === local.ms ? local.logical + 1 : 0, 'hlcSend');
}

/**
 * HLC receive rule (Kulkarni et al., 2014): `ms' = max(local.ms, remote.ms, wallMs)`; logical
 * is one more than the largest logical among the inputs whose ms equals `ms'`, or 0 when only
 * the wall clock reaches `ms'`. The result is strictly greater than both `local` and `remote`.
 * Throws RangeError on out-of-range input (programmer error).
 */
export function hlcReceive(local: Hlc, remote: Hlc, wallMs: number): Hlc {
  assertHlc(local, 'hlcReceive');
  assertHlc(remote, 'hlcReceive: remote');
  assertMs(wallMs, 'hlcReceive: wallMs');
  const ms = Math.max(local.ms, remote.ms, wallMs);
  let logical = 0;
  if (ms === local.ms && ms === remote.ms) {
    logical = Math.max(local.logical, remote.logical) + 1;
  } else if (ms === local.ms) {
    logical = local.logical + 1;
  } else if (ms === remote.ms) {
    logical = remote.logical + 1;
  }
  return advance(ms, logical, 'hlcReceive');
}

/**
 * Parses the strict ISO-8601 UTC form used by BACKBEAT `deadline_at`,
 * `YYYY-MM-DDTHH:MM:SS(.mmm)?(Z|+00:00)`, to epoch milliseconds; null when the text is not
 * exactly that form or names no real instant in years 1970..9999.
 */
export function parseIsoUtcMs(s: string): number | null {
  if (typeof s !== 'string') return null;
  const scan = scanDateTime(s, 'iso');
  if (!scan.ok) return null;
  if (scan.rest !== 'Z' && scan.rest !== '+00:00') return null;
  return fieldsToMs(scan.fields);
}

/**
 * Parses an RFC 3339 date-time (BACKBEAT INT-A `deadline_at`: JSON Schema `format:
 * date-time`) to epoch milliseconds: `YYYY-MM-DD(T|t)HH:MM:SS(.d+)?(Z|z|±HH:MM)`. Fractional
 * seconds beyond milliseconds are truncated; leap seconds (`:60`) are refused. Null when the
 * text is not that form or names no instant in 1970..9999 UTC.
 */
export function parseRfc3339Ms(s: string): number | null {
  if (typeof s !== 'string' || s.length > RFC3339_LENGTH_MAX) return null;
  const t = s[10] === 't' ? `${s.slice(0, 10)}T${s.slice(11)}` : s;
  const head = scanDateTime(t.slice(0, 19), 'rfc3339');
  if (!head.ok || head.rest !== '') return null;
  let at = 19;
  let milli = 0;
  if (t[at] === '.') {
    at += 1;
    let digits = 0;
    while (at < t.length && readDigits(t, at, 1) >= 0) {
      if (digits < 3) milli = milli * 10 + readDigits(t, at, 1);
      digits += 1;
      at += 1;
    }
    if (digits === 0) return null;
    for (let k = digits; k < 3; k++) milli *= 10;
  }
  const zone = t.slice(at);
  let offsetMin = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '+' ? 1 : zone[0] === '-' ? -1 : 0;
    const hh = readDigits(zone, 1, 2);
    const mm = readDigits(zone, 4, 2);
    if (sign === 0 || zone.length !== 6 || zone[3] !== ':' || hh < 0 || hh > 23 || mm < 0 ||
      mm > 59) {
      return null;
    }
    offsetMin = sign * (hh * 60 + mm);
  }
  const ms = fieldsToMs({ ...head.fields, milli }) - offsetMin * 60_000;
  return ms >= 0 && ms <= HLC_MS_MAX ? ms : null;
}

/** Longest RFC 3339 text accepted (nanosecond fractions and an offset fit well within). */
const RFC3339_LENGTH_MAX = 64;

/**
 * Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`. Throws RangeError when `ms` is not
 * an integer in `0..HLC_MS_MAX` (programmer error).
 */
export function formatIsoUtcMs(ms: number): string {
  assertMs(ms, 'formatIsoUtcMs');
  return `${formatCore(ms)}Z`;
}
