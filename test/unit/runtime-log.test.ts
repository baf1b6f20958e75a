/**
 * Logs never carry secrets: a value at any redacted path is censored, errors keep only their
 * fixed fields and cause chain, and decision lines have exactly the agreed keys.
 */
import { describe, expect, it } from 'vitest';
import type { Decision, WalSeq } from '../../src/core/model/types.js';
import {
  DECISION_LOG_KEYS,
  REDACTED,
  REDACT_PATHS,
  createLogger,
  decisionLogFields,
  serializeError,
} from '../../src/server/observability/log.js';

/** An in-memory destination: pino writes each line synchronously. */
function memory(): { write(msg: string): void; text(): string; lines(): unknown[] } {
  const chunks: string[] = [];
  return {
    write: (msg) => { chunks.push(msg); },
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l): unknown => JSON.parse(l)),
  };
}

/** An object holding `value` at `path`, with `*` standing for an arbitrary key. */
function at(path: string, value: string): Record<string, unknown> {
  const parts = path.split('.').map((p) => (p === '*' ? 'anything' : p));
  let obj: unknown = value;
  for (const part of parts.reverse()) obj = { [part]: obj };
  return obj as Record<string, unknown>;
}

/** The paths the brief names; REDACT_PATHS may add more, never fewer. */
const REQUIRED_PATHS = [
  'secret_key', 'secretKey', 'seed', '*.secret_key', '*.secretKey', '*.seed', 'keys.*',
  'password', '*.password', 'token', '*.token', 'authorization', 'headers.authorization',
  'req.headers.authorization', 'cookie',
];

describe('runtime log redaction', () => {
  it('Given the redact list, Then it covers every required path', () => {
    expect(REQUIRED_PATHS.filter((p) => !REDACT_PATHS.includes(p))).toEqual([]);
  });

  it.each([...REDACT_PATHS])('Given a secret at %s, Then only the censor appears', (path) => {
    const out = memory();
    const log = createLogger({ destination: out, name: 'swoosh-test' });
    const secret = `S3CR3T-${path}-${'x'.repeat(8)}`;
    log.info({ ...at(path, secret), visible: 'plain-field-value', wal_seq: 42 }, 'message text');
    const text = out.text();
    expect(text).not.toContain(secret);
    expect(text).toContain(REDACTED);
    expect(text).toContain('plain-field-value');
    expect(text).toContain('message text');
    const [line] = out.lines() as Record<string, unknown>[];
    expect(line).toMatchObject({ level: 'info', name: 'swoosh-test', wal_seq: 42 });
  });

  it('Given secrets in one object next to ordinary fields, Then none leaks', () => {
    const out = memory();
    const log = createLogger({ destination: out });
    const secrets = ['sk-111', 'seed-222', 'kid-333', 'pw-444', 'tok-555', 'Bearer 666', 'c=777'];
    log.warn({
      secret_key: secrets[0], signer: 'hmmm:pubkey:abc', identity: { seed: secrets[1], id: 'id-1' },
      keys: { writer: secrets[2], follower: secrets[2] }, db: { password: secrets[3] },
      token: secrets[4], req: { method: 'POST', headers: { authorization: secrets[5] } },
      cookie: secrets[6],
    });
    const text = out.text();
    for (const s of secrets) expect(text).not.toContain(s);
    expect(text).toContain('hmmm:pubkey:abc');
    expect(text).toContain('id-1');
    expect(text).toContain('POST');
  });

  it('Given a child logger bound with a secret, Then the binding is redacted too', () => {
    const out = memory();
    createLogger({ destination: out }).child({ token: 'child-token-999', role: 'writer' })
      .info('bound');
    expect(out.text()).not.toContain('child-token-999');
    expect(out.text()).toContain('writer');
  });

  it('Given a level, Then lines below it are dropped', () => {
    const out = memory();
    const log = createLogger({ destination: out, level: 'warn' });
    log.info('quiet');
    log.error('loud');
    expect(out.lines()).toHaveLength(1);
    expect(out.text()).toContain('loud');
  });
});

describe('runtime log errors', () => {
  it('Given an error with code, retryable and a cause chain, Then all are kept', () => {
    const out = memory();
    const root = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    const err = Object.assign(new Error('publish failed', { cause: root }), {
      code: 'publish_failed', retryable: true, secret_key: 'err-prop-secret',
    });
    createLogger({ destination: out }).error({ err }, 'batch');
    const [line] = out.lines() as { err: Record<string, unknown> }[];
    expect(line?.err).toMatchObject({
      type: 'Error', message: 'publish failed', code: 'publish_failed', retryable: true,
      cause: { type: 'Error', message: 'connection refused', code: 'ECONNREFUSED' },
    });
    expect(line?.err['stack']).toEqual(expect.stringContaining('publish failed'));
    // Other own properties of an error are dropped: redaction does not reach into them.
    expect(out.text()).not.toContain('err-prop-secret');
  });

  it('Given an error logged directly, Then it is serialized under err', () => {
    const out = memory();
    createLogger({ destination: out }).error(new Error('boom'));
    expect(out.lines()[0]).toMatchObject({ err: { type: 'Error', message: 'boom' } });
  });

  it('Given a cyclic or very long cause chain, Then serialization stops', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(serializeError(a)).toMatchObject({ cause: { message: 'b', cause: { type: 'cycle' } } });
    let e: Error = new Error('e0');
    for (let i = 1; i < 50; i += 1) e = new Error(`e${i}`, { cause: e });
    expect(JSON.stringify(serializeError(e))).toContain('"type":"truncated"');
    expect(serializeError('plain')).toEqual({ type: 'string', message: 'plain' });
    expect(serializeError({ secret_key: 'x' })).toEqual({
      type: 'object', message: 'non-error value of type object',
    });
  });
});

describe('decisionLogFields', () => {
  const d: Decision = {
    seq: 9 as WalSeq, log_ms: 1_700_000_000_000, outcome: 'rejected', channel: 'proposal',
    transition: 'Lifecycle_AllReady', region: 'lifecycle', signer: 'hmmm:pubkey:aa',
    idem_key: 'k1', hlc: '2024-01-01T00:00:00.000+00:00#0', window_id: 'w-7', inputs_hash: 'ih',
    evidence: ['ev'], code: 'stale_state_hash', message: 'producer text', failing_guard:
      'concurrency', guard_outcomes: [], justification: 'j', original: null, applied: [],
    events: [],
  };
  const hashes = { state_pre_hash: 'pre', state_post_hash: 'post', facts_post_hash: 'facts' };

  it('Given a decision, Then the fields are exactly the required keys and the hashes', () => {
    const f = decisionLogFields(d, hashes);
    expect(Object.keys(f).sort()).toEqual([...DECISION_LOG_KEYS, 'facts_post_hash'].sort());
    expect([...DECISION_LOG_KEYS].sort()).toEqual(['applied', 'code', 'failing_guard', 'hlc',
      'outcome', 'region', 'signer', 'state_post_hash', 'state_pre_hash', 'transition',
      'wal_seq', 'window_id']);
    expect(f).toEqual({
      state_pre_hash: 'pre', state_post_hash: 'post', facts_post_hash: 'facts',
      transition: 'Lifecycle_AllReady', hlc: '2024-01-01T00:00:00.000+00:00#0', window_id: 'w-7',
      wal_seq: 9, outcome: 'rejected', code: 'stale_state_hash', failing_guard: 'concurrency',
      applied: [], region: 'lifecycle', signer: 'hmmm:pubkey:aa',
    });
  });

  it('Given a dr_id, Then it is added and nothing else changes', () => {
    const f = decisionLogFields(d, hashes, { dr_id: 'dr-1' });
    expect(f.dr_id).toBe('dr-1');
    expect(Object.keys(f)).toHaveLength(DECISION_LOG_KEYS.length + 2);
  });

  it('Given the fields logged, Then the line carries them and no producer text', () => {
    const out = memory();
    createLogger({ destination: out }).info(decisionLogFields(d, hashes), 'decision');
    expect(out.lines()[0]).toMatchObject({ wal_seq: 9, code: 'stale_state_hash', hlc: d.hlc });
    expect(out.text()).not.toContain('producer text');
  });
});
