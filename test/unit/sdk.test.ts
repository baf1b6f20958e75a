/**
 * The SDK's pure parts against the server's own code: proposals, votes and facts built and
 * signed by the SDK (noble) are verified by the server verifier (node:crypto), pass the core's
 * schema stage and are decided by the real reducer; the producer clock follows the HLC rules;
 * hashFor names the hash the core checks; and the portable modules import nothing from node.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { memberSetHash as guardMemberSetHash } from '../../src/core/domain/quorum.js';
import { isControlTransition, type StepResult, type WalEntry } from '../../src/core/index.js';
import { compareHlc, parseHlc, type Hlc } from '../../src/core/model/hlc.js';
import type { JsonObject } from '../../src/core/encoding/json.js';
import { DOMAIN } from '../../src/crypto/domains.js';
import { bytesToHex } from '../../src/crypto/keys.js';
import { createNodeVerifier, verifyObject } from '../../src/crypto/verify.js';
import { isSwooshError } from '../../src/protocol/errors.js';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import { entryFromRaw } from '../../src/protocol/entry.js';
import { envelopeOfSigned } from '../../src/protocol/publish.js';
import {
  ProducerClock,
  buildFact,
  buildProposal,
  buildVote,
  checkFact,
  checkProposal,
  generateIdentity,
  hashFor,
  identityFromSecretHex,
  loadIdentity,
  memberSetHash,
  proposalHashTarget,
  quorumCertInputs,
  saveIdentity,
  secretHexOf,
  signFact,
  signProposal,
  signVote,
  verifyFact,
  verifyProposal,
  verifyVote,
  type Identity,
} from '../../src/sdk/index.js';
import { CHART } from '../../src/core/generated/chart.js';
import { COUNCIL_INPUTS, boot, ok } from '../../src/proving/sim/walk.js';
import { CAST, World, h, type Actor } from '../../src/proving/sim/world.js';

const nodeVerifier = createNodeVerifier();
const HEAD = h('head');
const T0 = Date.UTC(2025, 9, 19, 1, 0, 0);

function idOf(a: Actor): Identity {
  return identityFromSecretHex(bytesToHex(a.secretKey));
}

/** A signed object in its NATS form, decoded and verified exactly as the writer does it. */
function logged(
  w: World,
  channel: 'proposal' | 'fact',
  name: string,
  signed: { signature: string },
): WalEntry {
  const env = decodeEnvelope(envelopeOfSigned(signed).data);
  if (!env.ok) throw new Error(env.message);
  w.seq += 1;
  w.logMs += 1;
  // Proposals travel on the v1 subject (`<prefix>.proposals.<transition>`).
  const scope = channel === 'proposal' ? { kind: 'project' as const, project: null } : undefined;
  const raw = { seq: w.seq, logMs: w.logMs, channel, name, body: env.body, sig: env.sig };
  return entryFromRaw(scope === undefined ? raw : { ...raw, scope }, nodeVerifier);
}

/** A proposal by `a` stamped by `clock` against the world's state, signed by the SDK. */
function propose(w: World, clock: ProducerClock, a: Actor, transition: string, inputs: JsonObject) {
  // Control transitions name the deployment's hash (GET /deployment), others the project's.
  const control = transition.startsWith('Identity_') || transition.startsWith('Project_');
  const st = control ? w.deployment : w.state;
  clock.observe(st.clock.hlc_last);
  const hs = w.core.hashes(st);
  const p = buildProposal({
    transition, inputs, signer: a.signer, hlc: clock.next(),
    currentStateHash: hashFor(transition, { hash: hs.head, region_hashes: hs.sections }),
  });
  return signProposal(p, idOf(a));
}

/** A decision's code and message, for assertion messages. */
function why(r: StepResult): string {
  return `${r.decision.code ?? ''} ${r.decision.message ?? ''}`;
}

function hlcOf(text: string): Hlc {
  const p = parseHlc(text);
  if (!p.ok) throw new Error(p.message);
  return p.hlc;
}

describe('identities and key files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swoosh-sdk-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('Given a generated identity, When saved and loaded, Then the same key comes back, mode 0600',
    () => {
    const id = generateIdentity();
    expect(id.signer).toMatch(/^hmmm:pubkey:[0-9a-f]{64}$/);
    const path = join(dir, 'a.key.json');
    saveIdentity(path, id);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8')))
      .toEqual({ signer: id.signer, secret_key: secretHexOf(id) });
    const back = loadIdentity(path);
    expect(back.signer).toBe(id.signer);
    expect(secretHexOf(back)).toBe(secretHexOf(id));
    expect(identityFromSecretHex(secretHexOf(id).toUpperCase()).signer).toBe(id.signer);
  });

  it('Given an existing key file, Then saveIdentity refuses to overwrite it unless asked', () => {
    const path = join(dir, 'b.key.json');
    saveIdentity(path, generateIdentity());
    const other = generateIdentity();
    expect(() => saveIdentity(path, other)).toThrow(/EEXIST/);
    saveIdentity(path, other, { overwrite: true });
    expect(loadIdentity(path).signer).toBe(other.signer);
  });

  it('Given a key file whose signer does not match, or a bad seed, Then invalid_key_file', () => {
    const path = join(dir, 'c.key.json');
    const id = generateIdentity();
    const other = generateIdentity().signer;
    writeFileSync(path, JSON.stringify({ signer: other, secret_key: secretHexOf(id) }), { mode: 0o600 });
    expect(() => loadIdentity(path)).toThrow(/signer does not match secret_key/);
    writeFileSync(path, JSON.stringify({ signer: id.signer, secret_key: 'zz' }));
    let caught: unknown = null;
    try {
      loadIdentity(path);
    } catch (err) {
      caught = err;
    }
    expect(isSwooshError(caught, 'invalid_key_file')).toBe(true);
    expect(() => identityFromSecretHex('abc')).toThrow(TypeError);
  });

  it('Given a key file the group or others may read, or none at all, Then invalid_key_file with the fix; chmod 600 makes it load', () => {
    const path = join(dir, 'd.key.json');
    const id = generateIdentity();
    saveIdentity(path, id);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(path, mode);
      expect(() => loadIdentity(path)).toThrow(
        `${path}: the key file is readable by group or others (mode 0${mode.toString(8)}); run chmod 600 ${path}`,
      );
    }
    chmodSync(path, 0o600);
    expect(loadIdentity(path).signer).toBe(id.signer);
    const missing = join(dir, 'missing.key.json');
    expect(() => loadIdentity(missing)).toThrow(`${missing}: no such key file; create one with swoosh keygen --out ${missing}`);
  });
});

describe('ProducerClock', () => {
  it('Given a frozen wall clock, Then stamps still strictly increase (logical counter)', () => {
    const c = new ProducerClock({ now: () => T0 });
    const a = c.next();
    const b = c.next();
    expect(a).toBe('2025-10-19T01:00:00.000+00:00#0');
    expect(b).toBe('2025-10-19T01:00:00.000+00:00#1');
    expect(c.current()).toBe(b);
  });

  it('Given the wall clock moves on, Then logical resets; if it goes back, Then still up', () => {
    let now = T0;
    const c = new ProducerClock({ now: () => now });
    c.next();
    now = T0 + 5;
    expect(c.next()).toBe('2025-10-19T01:00:00.005+00:00#0');
    now = T0 - 1000;
    expect(c.next()).toBe('2025-10-19T01:00:00.005+00:00#1');
  });

  it('Given an observed server HLC ahead of the wall clock, Then every later stamp is after it',
    () => {
    const c = new ProducerClock({ now: () => T0 });
    const remote = '2025-10-19T01:00:07.000+00:00#4';
    c.observe(remote);
    const next = c.next();
    expect(compareHlc(hlcOf(next), hlcOf(remote))).toBe(1);
    expect(next).toBe('2025-10-19T01:00:07.000+00:00#6');
    c.observe(null);
    expect(compareHlc(hlcOf(c.next()), hlcOf(next))).toBe(1);
  });

  it('Given malformed text, Then observe and start throw TypeError naming the problem', () => {
    const c = new ProducerClock({ now: () => T0 });
    expect(() => c.observe('2025-10-19T01:00:00Z#1')).toThrow(/ProducerClock.observe: hlc/);
    expect(() => new ProducerClock({ start: 'nope' })).toThrow(TypeError);
    expect(new ProducerClock({ start: '2025-10-19T01:00:00.000+00:00#9', now: () => 0 }).next())
      .toBe('2025-10-19T01:00:00.000+00:00#10');
  });
});

describe('proposals', () => {
  const admin = idOf(CAST.admin);
  const base = {
    transition: 'Identity_Grant',
    inputs: { identity: CAST.c3.signer, roles: ['council'] },
    signer: admin.signer,
    hlc: '2025-10-19T01:00:00.000+00:00#0',
    currentStateHash: HEAD,
  };

  it('Given a built proposal, Then inputs_hash is the JCS hash, the idem key <transition>:<uuid>, '
    + 'and the server schema stage passes', () => {
    const p = buildProposal(base);
    expect(p.inputs_hash).toBe(new World().core.hash(base.inputs));
    const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/;
    expect(p.idem_key).toMatch(new RegExp(`^Identity_Grant:${uuid.source}$`));
    expect(buildProposal(base).idem_key).not.toBe(p.idem_key);
    expect(p).toMatchObject({ window_id: '', evidence: [], current_state_hash: HEAD });
    expect(new World().core.validateProposal(p)).toBeNull();
    expect(checkProposal(p)).toBeNull();
    expect(buildProposal({ ...base, inputs: undefined }).inputs_hash)
      .toBe(new World().core.hash({}));
  });

  it('Given a signed proposal, Then the server verifier accepts it and no changed copy verifies',
    () => {
    const p = buildProposal({ ...base, idemKey: 'k1', evidence: ['ucxl://a:r@c:d/*^/x'] });
    const s = signProposal(p, admin);
    expect(s.signature).toMatch(/^[0-9a-f]{128}$/);
    expect(verifyObject(nodeVerifier, DOMAIN.proposal, s)).toBe(true);
    expect(verifyProposal(s)).toBe(true);
    expect(verifyObject(nodeVerifier, DOMAIN.proposal, { ...s, idem_key: 'k2' })).toBe(false);
    expect(verifyObject(nodeVerifier, DOMAIN.vote, s)).toBe(false); // domain separation
    expect(verifyProposal({ ...s, hlc: '2025-10-19T01:00:00.000+00:00#1' })).toBe(false);
  });

  it('Given an SDK proposal logged in its NATS form, Then the real reducer accepts it', () => {
    const w = new World();
    const clock = new ProducerClock({ now: () => w.logMs });
    const s = propose(w, clock, CAST.admin, 'Identity_Grant', base.inputs);
    const r = w.apply(logged(w, 'proposal', s.transition, s));
    expect(r.decision.outcome, why(r)).toBe('accepted');
    expect(w.deployment.identities[CAST.c3.signer]?.roles).toContain('council');
    expect(w.state.identities[CAST.c3.signer]?.roles).toContain('council'); // the project's view
  });

  it('Given bad fields, Then build/sign throw TypeError; checkProposal reports bad inputs', () => {
    expect(() => buildProposal({ ...base, hlc: '2025-10-19T01:00:00Z' }))
      .toThrow(/buildProposal: hlc/);
    expect(() => buildProposal({ ...base, currentStateHash: 'abc' })).toThrow(/currentStateHash/);
    expect(() => buildProposal({ ...base, signer: 'me' })).toThrow(/signer/);
    expect(() => buildProposal({ ...base, idemKey: 'x'.repeat(257) })).toThrow(/idemKey/);
    expect(() => buildProposal({ ...base, evidence: [''] })).toThrow(/evidence\[0\]/);
    expect(() => signProposal(buildProposal(base), idOf(CAST.c1))).toThrow(/identity is/);
    const bad = buildProposal({ ...base, inputs: { identity: 'nobody', roles: ['council'] } });
    expect(checkProposal(bad)).toMatchObject({ code: 'invalid_inputs', path: 'inputs.identity' });
    expect(checkProposal(buildProposal({ ...base, transition: 'Nope_Nothing' })))
      .toMatchObject({ code: 'unknown_transition' });
  });
});

describe('which hash a proposal names', () => {
  it('Given the chart, Then region-scoped transitions name their region, others HEAD', () => {
    expect(proposalHashTarget('Boot_ConfigOk')).toBe('global');
    expect(proposalHashTarget('Council_QuorumCert')).toBe('council');
    expect(proposalHashTarget('Ingestion_BytesOk')).toBe('ingestion');
    expect(proposalHashTarget('Execution_SubmitApproval')).toBe('global'); // monotone: no check
    expect(proposalHashTarget('Execution_QuorumLost')).toBe('global');
    expect(() => proposalHashTarget('Nope_Nothing')).toThrow(RangeError);
  });

  it('Given a state answer, Then hashFor names the hash the core checks, every transition', () => {
    const w = new World();
    const hs = w.core.hashes(w.state);
    const answer = { hash: hs.head, region_hashes: hs.sections };
    const checked = CHART.transitions.filter((t) => t.coordination !== 'monotone');
    const control = checked.filter((t) => isControlTransition(t));
    expect(checked.length - control.length).toBeGreaterThan(30);
    for (const t of checked.filter((x) => !isControlTransition(x))) {
      expect(hashFor(t.name, answer), t.name).toBe(w.defaultHash(t.name));
    }
    // Control transitions name the deployment's HEAD, read from GET /deployment.
    const dep = { hash: w.core.hashes(w.deployment).head, region_hashes: {} };
    expect(control.map((t) => t.name).sort()).toEqual(['Identity_Grant', 'Identity_Revoke', 'Project_Create', 'Writer_Rotate']);
    for (const t of control) expect(hashFor(t.name, dep), t.name).toBe(w.defaultHash(t.name));
    expect(hashFor('Execution_SubmitApproval', answer)).toBe(hs.head);
    expect(() => hashFor('Council_QuorumCert', { hash: hs.head, region_hashes: {} }))
      .toThrow(/council/);
  });
});

describe('council votes', () => {
  it('Given members in any order with repeats, Then the quorum guard\'s member-set hash', () => {
    const members = [CAST.c2.signer, CAST.c1.signer, CAST.c2.signer];
    const expected = guardMemberSetHash((v) => new World().core.hash(v), members);
    expect(memberSetHash(members)).toBe(expected);
    expect(memberSetHash([...members].reverse())).toBe(expected);
  });

  it('Given SDK-signed votes, Then the server verifies them and accepts the certificate', () => {
    const w = new World();
    boot(w);
    ok(w.propose(CAST.c1, 'Council_ProfilesLoaded', COUNCIL_INPUTS));
    const members = [CAST.c1.signer, CAST.c2.signer];
    const term = w.state.council.term;
    const votes = [CAST.v1, CAST.v2].map((v) =>
      signVote(buildVote({ voter: v.signer, memberSetHash: memberSetHash(members), term }),
        idOf(v)));
    for (const v of votes) {
      expect(verifyObject(nodeVerifier, DOMAIN.vote, v, v.voter)).toBe(true);
      expect(verifyVote(v)).toBe(true);
    }
    const [first] = votes;
    if (first === undefined) throw new Error('no votes');
    expect(verifyVote({ ...first, term: term + 1 })).toBe(false);
    const clock = new ProducerClock({ now: () => w.logMs });
    const inputs = quorumCertInputs({ members, term, votes });
    const s = propose(w, clock, CAST.c1, 'Council_QuorumCert', inputs);
    const r = w.apply(logged(w, 'proposal', s.transition, s));
    expect(r.decision.outcome, why(r)).toBe('accepted');
    expect(w.state.council.state).toBe('TOOLING_SYNC');
  });

  it('Given a vote for another term, Then quorumCertInputs refuses it; a bad key throws', () => {
    const members = [CAST.c1.signer];
    const msh = memberSetHash(members);
    const vote = buildVote({ voter: CAST.v1.signer, memberSetHash: msh, term: 2 });
    const v = signVote(vote, idOf(CAST.v1));
    expect(() => quorumCertInputs({ members, term: 3, votes: [v] })).toThrow(/votes\[0\]/);
    expect(() => signVote(v, idOf(CAST.v2))).toThrow(TypeError);
    expect(() => buildVote({ voter: CAST.v1.signer, memberSetHash: 'x', term: 0 }))
      .toThrow(TypeError);
  });
});

describe('facts', () => {
  it('Given an SDK fact logged in its NATS form, Then the server verifies and records it', () => {
    const w = new World();
    const clock = new ProducerClock({ now: () => w.logMs });
    const feeder = idOf(CAST.feeder);
    const f = signFact(buildFact({
      kind: 'license', signer: feeder.signer, hlc: clock.next(),
      payload: { status: 'active', license_id: 'l1' },
    }), feeder);
    expect(verifyObject(nodeVerifier, DOMAIN.fact, f)).toBe(true);
    expect(verifyFact(f)).toBe(true);
    expect(checkFact(f)).toBeNull();
    const r = w.apply(logged(w, 'fact', f.kind, f));
    expect(r.decision.outcome, why(r)).toBe('fact');
    expect(w.state.facts.license.status).toBe('active');
  });

  it('Given a bad kind or payload, Then buildFact throws or checkFact names the field', () => {
    const feeder = idOf(CAST.feeder);
    const hlc = '2025-10-19T01:00:00.000+00:00#0';
    const signer = feeder.signer;
    expect(() => buildFact({ kind: 'weather' as 'tick', signer, hlc, payload: {} }))
      .toThrow(/kind/);
    const f = buildFact({ kind: 'license', signer, hlc, payload: { status: 'maybe' } });
    expect(checkFact(f)).toMatchObject({ code: 'invalid_fact' });
    expect(() => signFact(f, idOf(CAST.c1))).toThrow(TypeError);
  });
});

/** Runtime (non-type) import specifiers of one source file. */
function runtimeImports(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  for (const s of sf.statements) {
    if (ts.isImportDeclaration(s) && s.importClause?.isTypeOnly !== true &&
        ts.isStringLiteral(s.moduleSpecifier)) out.push(s.moduleSpecifier.text);
    if (ts.isExportDeclaration(s) && !s.isTypeOnly && s.moduleSpecifier !== undefined &&
        ts.isStringLiteral(s.moduleSpecifier)) out.push(s.moduleSpecifier.text);
  }
  return out;
}

const NODE_ONLY = [/^node:/, /^@nats-io\//, /^msgpackr/, /^(fs|path|os|crypto|net|http)$/, /^pino/];

/** `file → module` for every node-only module reachable from `roots` through runtime imports. */
function nodeImportsReachable(roots: readonly string[]): { found: string[]; files: number } {
  const seen = new Set<string>();
  const found: string[] = [];
  const queue = roots.map((r) => resolve(r));
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of runtimeImports(file)) {
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (NODE_ONLY.some((re) => re.test(spec))) {
        found.push(`${relative('.', file)} → ${spec}`);
      }
    }
  }
  return { found, files: seen.size };
}

describe('portability', () => {
  const portable = [
    'identity', 'clock', 'proposal', 'vote', 'fact', 'answers', 'http-client', 'producer',
    'verify-records',
  ].map((m) => `src/sdk/${m}.ts`);
  it('Given the portable SDK modules, Then nothing they load imports node, NATS or msgpack', () => {
    const { found, files } = nodeImportsReachable(portable);
    expect(files).toBeGreaterThan(20);
    expect(found).toEqual([]);
  });

  it('Given the node-only modules, Then the walk finds their node imports (it can fail)', () => {
    const { found } = nodeImportsReachable(['src/sdk/nats.ts', 'src/sdk/keyfile.ts']);
    expect(found).toEqual(expect.arrayContaining([
      'src/sdk/nats.ts → @nats-io/transport-node', 'src/sdk/keyfile.ts → node:fs',
    ]));
  });
});
