/**
 * Records do not depend on the runtime (ARCHITECTURE §1, §9). A hostile corpus — random bytes
 * on the proposal and fact subjects, envelope tricks, every kind of bad body, deep nesting,
 * edge-case signatures — is decided here and in a child process of another Node major, and
 * every record must be byte-identical. Then the same corpus is decided with the engine's and
 * the libraries' exceptions relabelled with a canary: no record may carry the canary, so a
 * record field built from a caught error's message fails this file.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hostileCorpus } from '../support/hostile.js';
import { recordTexts } from '../support/record-pipeline.js';
import { REPO_ROOT, nodeMajor, secondNode } from '../support/second-node.js';

const SEED = Number(process.env['SWOOSH_PROPERTY_SEED'] ?? 20261207);
const RANDOM_COUNT = 400;

describe('the same records on two Node majors', () => {
  it(`hostile corpus (seed ${SEED}): every record byte-identical`, () => {
    const other = secondNode();
    const here = recordTexts(hostileCorpus(SEED, RANDOM_COUNT));
    const child = spawnSync(other, ['--import', 'tsx', 'test/support/record-pipeline.ts'], {
      cwd: REPO_ROOT, input: JSON.stringify({ seed: SEED, randomCount: RANDOM_COUNT }),
      encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000,
    });
    expect(child.status, child.stderr).toBe(0);
    const there = JSON.parse(child.stdout) as { node: string; openssl: string; texts: string[] };
    console.log(`seed ${SEED}: ${here.length} records on ${process.version} (OpenSSL ${process.versions.openssl}) `
      + `and ${there.node} (OpenSSL ${there.openssl})`);
    expect(nodeMajor(other)).not.toBe(Number(process.versions.node.split('.')[0]));
    expect(there.texts.length).toBe(here.length);
    const first = here.findIndex((t, i) => t !== there.texts[i]);
    expect(first, first < 0 ? '' : `record ${first + 1}:\n here  ${here[first]}\n there ${there.texts[first]}`).toBe(-1);
    // The corpus reaches every stage that words a rejection, so the comparison means something.
    const codes = new Set(here.map((t) => (JSON.parse(t) as { code: string | null }).code));
    for (const c of ['malformed_envelope', 'invalid_proposal', 'invalid_fact', 'non_canonical_body', 'bad_signature']) {
      expect(codes, c).toContain(c);
    }
  }, 240_000);
});

const CANARY = 'CANARY-ENGINE-TEXT';

describe('no record carries text from a caught exception', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('with every engine and library error relabelled, no record contains the label', () => {
    const parse = JSON.parse.bind(JSON);
    vi.spyOn(JSON, 'parse').mockImplementation((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
      try {
        return parse(text, reviver) as unknown;
      } catch (err) {
        throw new SyntaxError(CANARY, { cause: err });
      }
    });
    // eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound with .call below
    const decode = TextDecoder.prototype.decode;
    vi.spyOn(TextDecoder.prototype, 'decode').mockImplementation(function (this: InstanceType<typeof TextDecoder>, input, options) {
      try {
        return decode.call(this, input, options);
      } catch (err) {
        throw new TypeError(CANARY, { cause: err });
      }
    });
    // eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound with .apply below
    const unpack = Packr.prototype.unpack;
    vi.spyOn(Packr.prototype, 'unpack').mockImplementation(function (this: Packr, ...args: Parameters<Packr['unpack']>) {
      try {
        const out: unknown = unpack.apply(this, args);
        return out;
      } catch (err) {
        throw new Error(CANARY, { cause: err });
      }
    });
    // The relabelling works: an engine error now carries the canary.
    expect(() => { JSON.parse('{'); }).toThrow(CANARY);
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xff]))).toThrow(CANARY);
    const texts = recordTexts(hostileCorpus(SEED + 1, RANDOM_COUNT));
    const carrying = texts.filter((t) => t.includes(CANARY) || /position \d|Unexpected token|call stack/i.test(t));
    expect(carrying.slice(0, 3)).toEqual([]);
  });
});

/** Files whose code builds entries, decisions or records. */
const RECORD_PATH = ['src/core', 'src/protocol/entry.ts', 'src/protocol/envelope.ts',
  'src/protocol/utf8.ts', 'src/protocol/decision-record.ts', 'src/server/replication/replica.ts',
  'src/crypto'];

function sources(p: string): string[] {
  const full = join(REPO_ROOT, p);
  if (p.endsWith('.ts')) return [full];
  return readdirSync(full, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('on the record path a caught error is only discarded or rethrown', () => {
  it('no catch block there reads its error (void err, throw err, or cause: err only)', () => {
    const offences: string[] = [];
    for (const file of RECORD_PATH.flatMap(sources)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/catch \((\w+)\) \{([^}]*)\}/g)) {
        const [, name = '', body = ''] = m;
        const uses = body.replace(new RegExp(`void ${name};|throw ${name};|cause: ${name}\\b`, 'g'), '');
        if (new RegExp(`\\b${name}\\b`).test(uses)) offences.push(`${file}: catch (${name}) { ${body.trim()} }`);
      }
    }
    expect(offences).toEqual([]);
  });
});
