/**
 * Redaction of sensitive values in projections (docs/security.md, "Redaction"): under a key, the
 * HMAC-SHA256 of the exact value (checked against an independent computation); without one, a
 * bare `redacted` with nothing to test a guess against. Key files hold 64 hex characters.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseRedactionKey, redactBySchema, redacted } from '../../src/http/redact.js';
import type { InputSchema } from '../../src/core/index.js';

const KEY = Uint8Array.from(Buffer.alloc(32, 7));

describe('redaction', () => {
  it('Given a key, Then a value shows as the HMAC of its UTF-8 bytes; two values differ and neither appears', () => {
    const v = 'https://oauth2:s3cr3t-ü@git.example.org/r.git';
    const want = createHmac('sha256', Buffer.alloc(32, 7)).update(Buffer.from(v, 'utf8')).digest('hex');
    expect(redacted(v, KEY)).toBe(`redacted:hmac-sha256-${want}`);
    expect(redacted(`${v}x`, KEY)).not.toBe(redacted(v, KEY));
    expect(redacted(v, KEY)).not.toContain('s3cr3t');
    // Another key, another answer: nothing a reader without the key can test a guess against.
    expect(redacted(v, Uint8Array.from(Buffer.alloc(32, 8)))).not.toBe(redacted(v, KEY));
  });

  it('Given no key, Then every sensitive value shows as redacted alone', () => {
    expect(redacted('anything', null)).toBe('redacted');
    const schema = {
      type: 'object', properties: {
        uri: { type: 'string', sensitive: true }, kind: { type: 'string' },
      },
    } as unknown as InputSchema;
    expect(redactBySchema(schema, { uri: 'https://t@h/', kind: 'git' }, null)).toEqual({ uri: 'redacted', kind: 'git' });
  });

  it('Given key file text, Then 64 hex characters are the key and anything else says what is expected', () => {
    const k = parseRedactionKey('07'.repeat(32));
    expect(k).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(k as Uint8Array).equals(Buffer.alloc(32, 7))).toBe(true);
    for (const bad of ['', '07'.repeat(31), `${'07'.repeat(32)}00`, 'zz'.repeat(32)]) {
      expect(parseRedactionKey(bad)).toMatch(/expected 64 hex characters/);
    }
  });
});
