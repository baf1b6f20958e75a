/**
 * State hashing (docs/hashing.md gives the construction byte by byte).
 *
 *   section hash  = H(JCS(section))              for every HEAD section but idem
 *   idem hash     = H(JCS({base, count, head}))  (the chain commits to the entries; idem.ts)
 *   HEAD          = H(JCS({ v: 1, sections: { <name>: <section hash>, … } }))
 *   fact hash     = H(JCS(facts[kind]))
 *   facts_hash    = H(JCS({ v: 1, facts: { <kind>: <fact hash>, … } }))
 *   identities_hash = H(JCS(identities))
 *
 * with H(x) = "sha256-" + lowercase hex SHA-256 of the UTF-8 bytes of x. Sections are never
 * mutated, so each hash is cached by object identity: a transition re-hashes only the
 * sections it replaced, and the root hashes a dozen short strings.
 */
import { hashJcs, hashText, type Hasher, type Sha256 } from './hash.js';
import { FACT_KINDS, HEAD_SECTIONS, type HeadSection, type State } from '../model/state.js';

/** Hashes of one state. */
export interface StateHashes {
  readonly head: Sha256;
  readonly facts: Sha256;
  /** identities_hash: H(JCS(identities)), the deployment's registry of signers. */
  readonly identities: Sha256;
  readonly sections: { readonly [k in HeadSection]: Sha256 };
}

/** A hashing context with its own identity cache. */
export interface StateHasher {
  /** HEAD hash, facts hash and per-section hashes. */
  hashes(state: State): StateHashes;
  /** HEAD only (what `current_state_hash` names). */
  head(state: State): Sha256;
  /** One section's hash (region-scoped optimistic concurrency). */
  section(state: State, name: HeadSection): Sha256;
  /** facts_hash. */
  facts(state: State): Sha256;
}

/** Build a StateHasher over `hasher`. */
export function createStateHasher(hasher: Hasher): StateHasher {
  const cache = new WeakMap<object, Sha256>();
  const rootCache = new WeakMap<State, StateHashes>();

  const of = (obj: object, shape: (o: object) => unknown = (o) => o): Sha256 => {
    let h = cache.get(obj);
    if (h === undefined) {
      h = hashJcs(hasher, shape(obj));
      cache.set(obj, h);
    }
    return h;
  };

  const sectionHash = (state: State, name: HeadSection): Sha256 => {
    if (name === 'idem') {
      const { base, count, head } = state.idem;
      return of(state.idem, () => ({ base, count, head }));
    }
    return of(state[name]);
  };

  const factsHash = (state: State): Sha256 =>
    of(state.facts, (f) => {
      const facts: Record<string, Sha256> = {};
      for (const kind of FACT_KINDS) facts[kind] = of((f as State['facts'])[kind]);
      return { v: 1, facts };
    });

  const hashes = (state: State): StateHashes => {
    let r = rootCache.get(state);
    if (r === undefined) {
      const sections = {} as Record<HeadSection, Sha256>;
      for (const name of HEAD_SECTIONS) sections[name] = sectionHash(state, name);
      // JCS of { v: 1, sections } written out directly: the keys are fixed and already sorted,
      // and section hashes need no escaping. A test checks it against the generic form.
      let text = '{"sections":{';
      for (let i = 0; i < HEAD_SECTIONS.length; i++) {
        const name = HEAD_SECTIONS[i] as HeadSection;
        text += `${i === 0 ? '' : ','}"${name}":"${sections[name]}"`;
      }
      r = {
        head: hashText(hasher, `${text}},"v":1}`),
        facts: factsHash(state),
        identities: of(state.identities),
        sections,
      };
      rootCache.set(state, r);
    }
    return r;
  };

  return {
    hashes,
    head: (state) => hashes(state).head,
    section: sectionHash,
    facts: factsHash,
  };
}
