/**
 * UCXL addresses in evidence (CHORUS's context addresses; issue: shadow mode and migration,
 * "Real formats"): every temporal form, `any`, `/#/` paths; what is wrong is named; a
 * proposal whose ucxl:// evidence is not an address is refused at the schema stage and
 * changes nothing; other schemes are not judged.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseUcxl } from '../../../src/core/index.js';
import { CAST, World, h } from '../../../src/proving/sim/world.js';

describe('parseUcxl', () => {
  it.each([
    ['ucxl://agent-1:architect@chorus:task_42/*^/docs/plan.md', { temporal: '*^', path: 'docs/plan.md' }],
    ['ucxl://any:any@any:any/*~', { temporal: '*~', path: '' }],
    ['ucxl://a:b@c:d/*~3/x', { temporal: '*~3', path: 'x' }],
    ['ucxl://a:b@c:d/~~12/x/#/y', { temporal: '~~12', path: 'x/#/y' }],
    ['UCXL://a:b@c:d/^^1/', { temporal: '^^1', path: '' }],
  ])('Given %s, Then it parses', (text, parts) => {
    const r = parseUcxl(text);
    expect(r).toMatchObject({ ok: true, value: parts });
  });

  it.each([
    ['ucxl://a:b@c/*^/x', 'expected agent:role@project:task after ucxl://'],
    ['ucxl://a:b:c@c:d/*^/x', 'expected agent:role@project:task after ucxl://'],
    ['ucxl://a b:r@c:d/*^/x', 'agent: expected [A-Za-z0-9_-]+ or any'],
    ['ucxl://a:r@c:d', 'expected /<temporal segment> after the task'],
    ['ucxl://a:r@c:d/latest/x', 'temporal segment: expected *^, *~, *~N, ~~N or ^^N'],
    ['ucxl://a:r@c:d/~~/x', 'temporal segment: expected *^, *~, *~N, ~~N or ^^N'],
    ['ucxl://a:r@c:d/*^/x%20y', 'path: expected [A-Za-z0-9_-/.#]*'],
    ['ucxl://a:r@c:é/*^/x', 'task: expected [A-Za-z0-9_-]+ or any'],
  ])('Given %s, Then refused: %s', (text, problem) => {
    expect(parseUcxl(text)).toEqual({ ok: false, problem });
  });

  it('Given any string, Then it answers without throwing', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      const r = parseUcxl(`ucxl://${s}`);
      expect(typeof r.ok).toBe('boolean');
    }), { numRuns: 2000 });
  });
});

describe('UCXL evidence in proposals', () => {
  it('Given ucxl:// evidence that is not an address, Then invalid_evidence naming the item, and nothing changes; a valid one and other schemes pass', () => {
    const w = new World();
    const pre = w.state;
    const r = w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, {
      evidence: ['bubble://dr/x/y/1', 'ucxl://a:r@c:d/now/x'],
    });
    expect(r.decision).toMatchObject({ outcome: 'rejected', code: 'invalid_evidence' });
    expect(r.decision.message).toBe('evidence[1]: not a UCXL address: temporal segment: expected *^, *~, *~N, ~~N or ^^N');
    expect(w.state.boot).toEqual(pre.boot);
    const ok = w.propose(CAST.operator, 'Boot_ConfigOk', { config_hash: h('c') }, {
      evidence: ['bubble://dr/x/y/1', 'ucxl://a:r@c:d/*^/x/#/y', 'sha256-whatever', 'ucxl://swoosh:test@wal/12'],
    });
    expect(ok.decision.outcome).toBe('accepted');
  });
});
