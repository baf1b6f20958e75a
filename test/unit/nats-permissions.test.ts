/**
 * The permission sets `swoosh nats-config` and `swoosh dev` render (the server side is
 * test/integration/nats-permissions.test.ts): the feeder may subscribe to BACKBEAT's subjects
 * only when they are given, and a subject setting is checked before anything is written.
 */
import { describe, expect, it } from 'vitest';
import { renderAuthorization, rolePermissions, subjectProblem } from '../../src/server/process/nats-permissions.js';

describe('NATS permission sets', () => {
  it('Given no BACKBEAT subject, Then the feeder subscribes to its inbox only; given one, Then to that subject too and no other role gains it', () => {
    expect(rolePermissions('swoosh', 'feeder').subscribe).toEqual(['_INBOX.>']);
    const opts = { backbeatSubjects: ['backbeat.cluster-a.beat', 'backbeat.*.status'] };
    expect(rolePermissions('swoosh', 'feeder', opts).subscribe)
      .toEqual(['_INBOX.>', 'backbeat.cluster-a.beat', 'backbeat.*.status']);
    for (const role of ['instance', 'producer', 'operator', 'reader'] as const) {
      expect(rolePermissions('swoosh', role, opts).subscribe.some((x) => x.startsWith('backbeat'))).toBe(false);
    }
    const conf = renderAuthorization('swoosh', [{ role: 'feeder', nkey: 'UFEEDER' }], opts);
    expect(conf).toContain('"backbeat.cluster-a.beat"');
  });

  it('Given subject settings, Then well-formed ones pass and each malformed one says why', () => {
    for (const ok of ['backbeat.>', 'backbeat.*.beat', 'a']) expect(subjectProblem(ok)).toBeNull();
    expect(subjectProblem('')).toMatch(/without spaces/);
    expect(subjectProblem('back beat')).toMatch(/without spaces/);
    expect(subjectProblem('backbeat.')).toMatch(/empty token/);
    expect(subjectProblem('a..b')).toMatch(/empty token/);
    expect(subjectProblem('a.>.b')).toMatch(/last token/);
  });
});
