/**
 * Invariants (ARCHITECTURE §7), asserted after every decision. A violation is a programmer
 * error: it throws InvariantViolation and the writer stops; recovery replays from the log.
 */
import { memberSetHash } from './domain/quorum.js';
import { HISTORY_MAX } from './evolve/evolve.js';
import { compareStamp, parseHlc } from './model/hlc.js';
import { findNonHashSafe } from './encoding/json.js';
import { HEAD_SECTIONS, type State } from './model/state.js';
import type { Decision } from './model/types.js';

/** Thrown when an invariant fails: a bug in the core, never a bad input. */
export class InvariantViolation extends Error {
  readonly code = 'invariant_violation';
  constructor(readonly invariant: string, detail: string, readonly seq: number) {
    super(`invariant ${invariant} violated at WAL seq ${seq}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/** The release transitions: the only ways out of QUARANTINED. */
const RELEASES = ['Policy_Release', 'Policy_AutoRelease', 'Policy_ConfirmedBlock'];

/** Check every invariant for `pre` --decision--> `post`. */
export function assertInvariants(
  pre: State,
  d: Decision,
  post: State,
  regionOf: (transition: string) => string,
  hash: (v: unknown) => string,
): void {
  const fail = (name: string, detail: string): never => {
    throw new InvariantViolation(name, detail, d.seq);
  };
  if ((d.outcome === 'rejected' || d.outcome === 'duplicate') && post !== pre) {
    fail('rejection_changes_nothing', `${d.outcome} decision changed the state`);
  }
  checkHlc(pre, d, post, fail);
  checkEpochs(pre, d, post, regionOf, fail);
  if (post.clock.applied_count !== pre.clock.applied_count + d.applied.length) {
    fail(
      'applied_count',
      `${pre.clock.applied_count} + ${d.applied.length} != ${post.clock.applied_count}`,
    );
  }
  if (post.control.top === 'EXECUTION') checkExecutionEntry(post, fail);
  if (post.council !== pre.council) checkQuorumCert(post, hash, fail);
  if (pre.control.top === 'QUARANTINED' && post.control.top !== 'QUARANTINED') {
    if (!d.applied.some((t) => RELEASES.includes(t))) {
      fail('quarantine_sticky', `left QUARANTINED by ${d.applied.join(', ')}`);
    }
  }
  if (post.control.history.length > HISTORY_MAX) {
    fail('history_bounded', `${post.control.history.length} saved configurations`);
  }
  if (post.idem.count > post.meta.config.idem_max) {
    fail('idem_bounded', `${post.idem.count} idem keys`);
  }
  for (const name of HEAD_SECTIONS) {
    if (post[name] === pre[name]) continue;
    // The idem memory only ever gains its newest entry: sweep that, not the whole memory.
    const value =
      name === 'idem'
        ? (post.idem.chunks[post.idem.chunks.length - 1]?.at(-1) ?? null)
        : post[name];
    const where = findNonHashSafe(value, name);
    if (where !== null) fail('json_integers_only', `non hash-safe value at ${where}`);
  }
  if (post.facts !== pre.facts) {
    const where = findNonHashSafe(post.facts, 'facts');
    if (where !== null) fail('json_integers_only', `non hash-safe value at ${where}`);
  }
}

type Fail = (name: string, detail: string) => never;

function checkHlc(pre: State, d: Decision, post: State, fail: Fail): void {
  if (!d.events.some((e) => e.type === 'proposal_recorded')) {
    if (post.clock.hlc_last !== pre.clock.hlc_last) {
      fail('hlc_monotone', 'clock moved without a proposal');
    }
    return;
  }
  const a = pre.clock;
  const b = post.clock;
  if (b.hlc_last === null) return fail('hlc_monotone', 'hlc_last cleared');
  if (a.hlc_last === null) return;
  const pa = parseHlc(a.hlc_last);
  const pb = parseHlc(b.hlc_last);
  if (!pa.ok || !pb.ok) return fail('hlc_monotone', 'unparseable hlc_last');
  const cmp = compareStamp(
    { hlc: pb.hlc, signer: b.hlc_last_signer ?? '', idem_key: b.hlc_last_idem_key ?? '' },
    { hlc: pa.hlc, signer: a.hlc_last_signer ?? '', idem_key: a.hlc_last_idem_key ?? '' },
  );
  if (cmp <= 0) fail('hlc_monotone', `${b.hlc_last} is not after ${a.hlc_last}`);
}

function checkEpochs(
  pre: State,
  d: Decision,
  post: State,
  regionOf: (t: string) => string,
  fail: Fail,
): void {
  const expected: Record<string, number> = {};
  for (const t of d.applied) {
    const r = regionOf(t);
    expected[r] = (expected[r] ?? 0) + 1;
  }
  for (const r of Object.keys(post.epochs)) {
    const delta = (post.epochs[r] ?? 0) - (pre.epochs[r] ?? 0);
    if (delta !== (expected[r] ?? 0)) {
      fail('epoch_exactly_once', `region ${r} advanced by ${delta}, expected ${expected[r] ?? 0}`);
    }
  }
}

function checkExecutionEntry(s: State, fail: Fail): void {
  const p = s.execution.pins;
  if (
    s.ingestion.state !== 'READY' ||
    s.council.state !== 'READY' ||
    s.environment.state !== 'READY'
  ) {
    fail('execution_requires_ready', 'EXECUTION with a lifecycle region not READY');
  }
  if (p === null) return fail('execution_requires_ready', 'EXECUTION without pins');
  if (
    p.content_hash !== s.ingestion.content_hash ||
    p.ingestion_version !== s.ingestion.version ||
    p.member_set_hash !== s.council.member_set_hash ||
    p.env_version !== s.environment.env_version
  ) {
    fail('execution_pins_match', 'EXECUTION pins differ from the lifecycle regions');
  }
}

function checkQuorumCert(s: State, hash: (v: unknown) => string, fail: Fail): void {
  const c = s.council;
  if (c.quorum_cert === null) {
    if (c.members.length > 0) fail('quorum_cert_matches', 'members without a quorum certificate');
    return;
  }
  const h = memberSetHash(hash, c.members);
  if (c.quorum_cert.member_set_hash !== h || c.member_set_hash !== h) {
    fail(
      'quorum_cert_matches',
      `certificate ${c.quorum_cert.member_set_hash} does not hash the member set ${h}`,
    );
  }
}
