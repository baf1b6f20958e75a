/**
 * The WHOOSH mapping file and Gitea's webhook parts (docs/migration.md): the shipped map loads
 * against the chart; every malformed map is refused naming the field; events map to exactly
 * one transition, ignore or unmapped, with deterministic inputs; HMAC and delivery checks.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { giteaDeliveryProblem, giteaEventKind, giteaIssueProject, giteaSignatureProblem } from '../../src/migration/gitea.js';
import { loadWhooshMap, mapEvent, whooshMapFrom } from '../../src/migration/map.js';
import { PROJECT_RE } from '../../src/core/index.js';

const chart = createCore(nodeHasher).chart;
const map = loadWhooshMap(chart, 'migration/whoosh-map.yaml');
const issue = (over: Record<string, unknown> = {}, labels = ['chorus-entrypoint']): Record<string, unknown> => ({
  action: 'opened', number: 7,
  issue: { id: 9001, number: 7, title: 'Design Brief: search', body: '…', labels: labels.map((name) => ({ name })), user: { login: 'ana' } },
  repository: { full_name: 'CHORUS/Design.Briefs' }, sender: { login: 'ana' },
  ...over,
});

describe('the WHOOSH map', () => {
  it('Given the shipped map, Then it loads, names a version and a stable hash, and every entry is one of transition, ignore, unmapped', () => {
    expect(map.version).toBe(1);
    expect(map.hash).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(loadWhooshMap(chart, 'migration/whoosh-map.yaml').hash).toBe(map.hash);
    expect(new Set([...map.events.values()].map((e) => e.kind))).toEqual(new Set(['transition', 'ignore', 'unmapped']));
  });

  it('Given a labelled Design Brief issue, When opened or labelled, Then Project_Create for the same project id, whatever the delivery', () => {
    const a = mapEvent(map, 'gitea.issues.opened', issue());
    expect(a).toEqual({ kind: 'transition', transition: 'Project_Create', inputs: { project: giteaIssueProject(issue()) }, entry: 'gitea.issues.opened' });
    // (Gitea sends a label change as action label_updated.)
    const b = mapEvent(map, 'gitea.issues.label_updated', issue({ action: 'label_updated' }));
    expect(b).toMatchObject({ kind: 'transition', inputs: { project: giteaIssueProject(issue()) } });
  });

  it('Given other events, Then ignored with the entry that said so, or unmapped; an unlabelled issue is ignored', () => {
    expect(mapEvent(map, 'gitea.issues.opened', issue({}, ['bug']))).toMatchObject({ kind: 'ignore', reason: 'the issue is not labelled chorus-entrypoint' });
    expect(mapEvent(map, 'gitea.issues.edited', issue({ action: 'edited' }))).toMatchObject({ kind: 'ignore', entry: 'gitea.issues.*' });
    expect(mapEvent(map, 'gitea.push', {})).toMatchObject({ kind: 'ignore', entry: 'gitea.push' });
    expect(mapEvent(map, 'gitea.release.published', {})).toMatchObject({ kind: 'ignore', entry: 'gitea.*' });
    expect(mapEvent(map, 'whoosh.councils.claims', {})).toMatchObject({ kind: 'unmapped', entry: 'whoosh.councils.claims' });
    expect(mapEvent(map, 'whoosh.status', {})).toMatchObject({ kind: 'unmapped', entry: null });
  });

  it('Given an issue payload without the parts a derivation needs, Then invalid naming it', () => {
    expect(mapEvent(map, 'gitea.issues.opened', issue({ repository: {} }))).toMatchObject({ kind: 'invalid', path: 'gitea_issue_project' });
  });

  it('Given malformed maps, Then each is refused naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [[], /map: expected a mapping/],
      [{ version: 0, events: {} }, /version: expected a positive integer/],
      [{ version: 1, events: {}, extra: 1 }, /extra: unknown field/],
      [{ version: 1, events: { 'gitea.push': { ignore: 'x', unmapped: 'y' } } }, /exactly one of/],
      [{ version: 1, events: { 'gitea.push': { ignore: '' } } }, /gitea\.push\.ignore: expected the reason/],
      [{ version: 1, events: { 'Gitea.Push': { ignore: 'x' } } }, /events\.Gitea\.Push: expected gitea/],
      [{ version: 1, events: { 'gitea.push': { transition: 'No_Such' } } }, /transition: expected a transition of the chart/],
      [{ version: 1, events: { 'gitea.push': { transition: 'Project_Create', inputs: { project: { derive: 'nope' } } } } }, /inputs\.project\.derive: expected one of/],
      [{ version: 1, events: { 'gitea.push': { transition: 'Project_Create', inputs: { project: { path: 'a..b' } } } } }, /inputs\.project\.path/],
      [{ version: 1, events: { 'gitea.push': { transition: 'Project_Create', extra: 1 } } }, /gitea\.push\.extra: unknown field/],
    ];
    for (const [doc, re] of cases) expect(() => whooshMapFrom(chart, doc)).toThrow(re);
  });

  it('Given path and const inputs, Then values come from the payload and the map; a missing path is invalid', () => {
    const m = whooshMapFrom(chart, { version: 2, events: { 'gitea.issues.opened': { transition: 'Project_Create', inputs: { project: { path: 'repository.name' }, quorum_threshold: { const: 2 } } } } });
    expect(mapEvent(m, 'gitea.issues.opened', { repository: { name: 'r1' } })).toMatchObject({ inputs: { project: 'r1', quorum_threshold: 2 } });
    expect(mapEvent(m, 'gitea.issues.opened', {})).toMatchObject({ kind: 'invalid', path: 'repository.name' });
    expect(m.hash).not.toBe(map.hash);
  });
});

describe('Gitea webhooks', () => {
  const secret = new TextEncoder().encode('hook-secret');
  const body = new TextEncoder().encode(JSON.stringify(issue()));
  const sig = createHmac('sha256', 'hook-secret').update(body).digest('hex');

  it('Given the body HMAC under the secret, Then accepted; another body, another secret, a short or missing header, Then refused saying why', () => {
    expect(giteaSignatureProblem(body, sig, secret)).toBeNull();
    expect(giteaSignatureProblem(body, sig.toUpperCase(), secret)).toBeNull();
    expect(giteaSignatureProblem(new TextEncoder().encode('{}'), sig, secret)).toMatch(/not the body's HMAC/);
    expect(giteaSignatureProblem(body, sig, new TextEncoder().encode('other'))).toMatch(/not the body's HMAC/);
    expect(giteaSignatureProblem(body, sig.slice(2), secret)).toMatch(/64 hex/);
    expect(giteaSignatureProblem(body, undefined, secret)).toMatch(/missing/);
  });

  it('Given delivery ids and events, Then UUIDs pass, junk is refused, and the kind carries the action', () => {
    expect(giteaDeliveryProblem('0b5d7a2e-1c43-4f5e-9d1a-2f6c8e9a7b31')).toBeNull();
    expect(giteaDeliveryProblem(undefined)).toMatch(/missing/);
    expect(giteaDeliveryProblem('a b')).toMatch(/expected a delivery id/);
    expect(giteaEventKind('issues', { action: 'opened' })).toBe('gitea.issues.opened');
    expect(giteaEventKind('push', { ref: 'x' })).toBe('gitea.push');
    expect(giteaEventKind('Issues!', {})).toBeNull();
  });

  it('Given repositories and issue numbers, Then project ids are valid, stable, and apart where the slug is alike', () => {
    const a = giteaIssueProject(issue());
    expect(a).toMatch(PROJECT_RE);
    expect(a).toMatch(/^chorus-design-briefs-7-[0-9a-f]{8}$/);
    expect(giteaIssueProject(issue())).toBe(a);
    const b = giteaIssueProject(issue({ repository: { full_name: 'chorus/design-briefs' } }));
    expect(b).toMatch(/^chorus-design-briefs-7-/);
    expect(b).not.toBe(a);
    const long = giteaIssueProject(issue({ repository: { full_name: `${'x'.repeat(80)}/y` } }));
    expect(long).toMatch(PROJECT_RE);
    const huge = giteaIssueProject({ repository: { full_name: `${'x'.repeat(80)}/y` }, issue: { number: Number.MAX_SAFE_INTEGER } });
    expect(huge).toMatch(PROJECT_RE);
    expect(huge?.length).toBeLessThanOrEqual(63);
    expect(giteaIssueProject(issue({ repository: { full_name: '///' } }))).toMatch(/^issue-7-/);
    expect(giteaIssueProject({ repository: { full_name: 'a/b' } })).toBeNull();
  });
});

describe('the WHOOSH map, values', () => {
  it('Given a non-finite constant (YAML .inf), Then refused as a bad input value, not a crash', () => {
    expect(() => whooshMapFrom(chart, { version: 1, events: { 'gitea.push': { transition: 'Project_Create', inputs: { project: { const: Number.POSITIVE_INFINITY } } } } }))
      .toThrow(/inputs\.project: expected one of/);
  });
});
