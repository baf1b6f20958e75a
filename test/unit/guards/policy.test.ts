/** SHHH policy guard (guards/policy): the glob matcher, each rule, and the breach it carries. */
import { describe, expect, it } from 'vitest';
import { policyGuard } from '../../../src/core/guards/policy.js';
import { evaluatePolicy, globMatch, policySubject } from '../../../src/core/domain/policy.js';
import type { PolicyRules } from '../../../src/core/model/state.js';
import type { State } from '../../../src/core/index.js';
import { ctx, expectVerdict, genesisState } from './context.js';

const RULES: PolicyRules = {
  version: 4, denied_source_patterns: ['*://evil.example/*'], max_council_size: 2,
  required_evidence: { Ingestion_CorpusBuilt: ['ucxl://spec@'] },
};
const s0 = genesisState();
const withRules = (rules: PolicyRules): State => ({ ...s0, facts: { ...s0.facts, policy: { hlc: null, rules } } });

describe('globMatch', () => {
  it.each([
    ['*', '', true], ['*', 'anything', true], ['a*c', 'abc', true], ['a*c', 'ac', true], ['a*c', 'ab', false],
    ['abc', 'abc', true], ['abc', 'abcd', false], ['abc', 'ab', false], ['*b*', 'aaabaaa', true],
    ['a*b*c', 'axxbyyc', true], ['a*b*c', 'axxcyyb', false], ['**', 'x', true], ['a.c', 'abc', false],
  ] as const)('Given pattern %j and text %j, Then match is %s', (p, t, want) => {
    expect(globMatch(p, t)).toBe(want);
  });
});

describe('policy rules', () => {
  it.each([
    [2, []], [3, ['council_size']],
  ] as const)('Given a council of %i with a limit of 2, Then breaches %j', (size, rules) => {
    expect(evaluatePolicy(RULES, 'Council_QuorumCert', { uris: [], council_size: size }, []).map(([r]) => r)).toEqual(rules);
  });
  it('Given a limit of 0, Then any council size passes (no limit)', () => {
    expect(evaluatePolicy({ ...RULES, max_council_size: 0 }, 'x', { uris: [], council_size: 99 }, [])).toEqual([]);
  });
  it('Given required evidence, Then only an entry starting with the prefix satisfies it', () => {
    const t = 'Ingestion_CorpusBuilt';
    expect(evaluatePolicy(RULES, t, { uris: [], council_size: null }, ['x-ucxl://spec@a'])).toHaveLength(1);
    expect(evaluatePolicy(RULES, t, { uris: [], council_size: null }, ['ucxl://spec@a'])).toEqual([]);
  });
  it('Given the subject of each transition, Then the policy looks at the right data', () => {
    expect(policySubject('Ingestion_SourcesResolved', { sources: [{ uri: 'u1' }] }, [{ uri: 'old' }]).uris).toEqual(['u1']);
    expect(policySubject('Ingestion_SchemaOk', {}, [{ uri: 'old' }]).uris).toEqual(['old']);
    expect(policySubject('Council_ProfilesLoaded', { candidates: [{ agent: 'a' }, { agent: 'b' }] }, []).council_size).toBe(2);
    expect(policySubject('Council_QuorumCert', { members: ['a', 'b', 'c'] }, []).council_size).toBe(3);
    expect(policySubject('Execution_PlanLocked', {}, [{ uri: 'old' }])).toEqual({ uris: [], council_size: null });
  });
});

describe('policy guard', () => {
  it('Given a clean source, Then pass', () => {
    const v = policyGuard(ctx('Ingestion_SourcesResolved', withRules(RULES), { inputs: { sources: [{ uri: 'git://ok' }] } }));
    expectVerdict(v, null);
  });
  it('Given a denied source, Then policy_breach carrying the first rule and the checked subject', () => {
    const v = policyGuard(ctx('Ingestion_SourcesResolved', withRules(RULES), {
      inputs: { sources: [{ uri: 'https://evil.example/x' }] },
    }));
    expectVerdict(v, 'policy_breach');
    expect(v).toMatchObject({ breach: { rule: 'denied_source', subject: { uris: ['https://evil.example/x'], council_size: null } } });
  });
});
