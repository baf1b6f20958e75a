/**
 * SHHH policy rules as pure functions: the glob matcher, the subject a transition is checked
 * against and the evaluation of every rule. The policy guard rejects with them; the automatic
 * release on a newer policy fact (decide/auto.ts) re-evaluates a breach with them.
 */
import { str, isJsonObject, type JsonObject } from '../encoding/json.js';
import type { PolicyRules } from '../model/state.js';

/**
 * `*` matches any run of characters (UTF-16 code units); everything else is literal.
 * Whole-string match. SWOOSH's own linear-time matcher (greedy with one backtrack point), not
 * a RegExp: patterns come from signed policy facts, and a regex engine would bring its own
 * backtracking cost on hostile patterns and its own edge-case semantics into a decision.
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** The data a transition is checked against. */
export interface PolicySubject {
  readonly uris: readonly string[];
  readonly council_size: number | null;
}

/** Evaluate every rule; returns [rule, reason] pairs for each breach, in rule order. */
export function evaluatePolicy(
  rules: PolicyRules,
  transition: string,
  subject: PolicySubject,
  evidence: readonly string[],
): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < subject.uris.length; i++) {
    const uri = subject.uris[i] as string;
    const hit = rules.denied_source_patterns.find((p) => globMatch(p, uri));
    if (hit !== undefined) {
      // A source URI is `sensitive` in the chart (it may carry a credential): named by its
      // position, never shown (docs/security.md, "Redaction").
      out.push(['denied_source', `sources[${i}].uri matches denied pattern ${hit}`]);
    }
  }
  const size = subject.council_size;
  if (size !== null && rules.max_council_size > 0 && size > rules.max_council_size) {
    out.push(['council_size', `council of ${size} exceeds the limit of ${rules.max_council_size}`]);
  }
  for (const prefix of rules.required_evidence[transition] ?? []) {
    if (!evidence.some((e) => e.startsWith(prefix))) {
      out.push(['required_evidence', `no evidence starting with ${prefix}`]);
    }
  }
  return out;
}

function listOf(v: unknown): readonly JsonObject[] {
  return Array.isArray(v) ? v.filter(isJsonObject) : [];
}

/** What the policy looks at for a given transition. */
export function policySubject(
  transition: string,
  inputs: JsonObject,
  stateSources: readonly { readonly uri: string }[],
): PolicySubject {
  switch (transition) {
    case 'Ingestion_SourcesResolved':
      return { uris: listOf(inputs['sources']).map((s) => str(s, 'uri')), council_size: null };
    case 'Ingestion_SchemaOk':
      return { uris: stateSources.map((s) => s.uri), council_size: null };
    case 'Council_ProfilesLoaded':
      return { uris: [], council_size: listOf(inputs['candidates']).length };
    case 'Council_QuorumCert':
      return {
        uris: [],
        council_size: Array.isArray(inputs['members']) ? inputs['members'].length : 0,
      };
    default:
      return { uris: [], council_size: null };
  }
}
