/**
 * SWOOSH's own reading of the JSON grammar (RFC 8259), with a nesting limit, run before
 * `JSON.parse` on every body that reaches a decision. Two reasons:
 *
 * - A rejection must be worded by SWOOSH: the engine's SyntaxError text changes between
 *   runtime versions ("… at position 7" became "… at position 7 (line 1 column 8)"), and a
 *   record that stored it could never be recomputed equal after an upgrade. The scanner names
 *   the first offending byte and what was expected, in its own words.
 * - Nesting is bounded (`JSON_DEPTH_MAX`) before anything recursive (JCS, schema checks,
 *   hashing) touches the value, so no replica ever meets a stack limit, whose depth depends on
 *   the runtime and its `--stack-size`.
 *
 * The scanner is iterative. A property test pins its verdict to `JSON.parse`'s on random text.
 */

/**
 * Deepest nesting of arrays and objects a body may have. Why 64: the deepest legitimate body
 * (a proposal's inputs holding votes or policy rules) nests under 10 levels; 64 leaves room
 * and keeps every recursive walk of a value far from any runtime's stack limit.
 */
export const JSON_DEPTH_MAX = 64;

/** What the scanner found: valid JSON, or the first problem and where it starts. */
export type JsonScan =
  | { readonly ok: true }
  | { readonly ok: false; readonly index: number; readonly problem: string };

/** Character codes the grammar names. */
const C = {
  Tab: 9, Lf: 10, Cr: 13, Space: 32, Quote: 34, Plus: 43, Comma: 44, Minus: 45,
  Dot: 46, Slash: 47, Zero: 48, Nine: 57, Colon: 58, UpperE: 69, OpenSq: 91,
  Backslash: 92, CloseSq: 93, LowerE: 101, OpenCurly: 123, CloseCurly: 125,
} as const;

const isWs = (c: number): boolean => c === C.Space || c === C.Lf || c === C.Cr || c === C.Tab;
const isDigit = (c: number): boolean => c >= C.Zero && c <= C.Nine;
const isHex = (c: number): boolean =>
  isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
/** Characters allowed after a backslash: " \ / b f n r t u. */
const ESCAPES = new Set([34, 92, 47, 98, 102, 110, 114, 116, 117]);

/**
 * Scan `text` as one JSON value with optional surrounding whitespace, nesting at most
 * `depthMax` arrays and objects. Never throws.
 */
export function scanJson(text: string, depthMax: number = JSON_DEPTH_MAX): JsonScan {
  return new Scanner(text, depthMax).run();
}

/** `invalid JSON at byte N: problem`, N counted in UTF-8 bytes of `text` (what was sent). */
export function describeJsonProblem(text: string, scan: Extract<JsonScan, { ok: false }>): string {
  return `invalid JSON at byte ${utf8Length(text, scan.index)}: ${scan.problem}`;
}

/** UTF-8 length of the first `end` UTF-16 code units of `s` (a lone surrogate counts 3). */
function utf8Length(s: string, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** What the scanner expects next inside the innermost container. */
const Expect = {
  Value: 0,
  ValueOrClose: 1,
  Key: 2,
  KeyOrClose: 3,
  Colon: 4,
  CommaOrClose: 5,
} as const;
type Expect = (typeof Expect)[keyof typeof Expect];

class Scanner {
  private i = 0;
  /** Open containers: true for an object, false for an array. */
  private readonly stack: boolean[] = [];
  private failure: { index: number; problem: string } | null = null;

  constructor(private readonly s: string, private readonly depthMax: number) {}

  run(): JsonScan {
    const done = this.value(Expect.Value);
    if (!done) return this.result();
    this.skipWs();
    if (this.i < this.s.length) return this.fail(this.i, 'unexpected text after the value');
    return { ok: true };
  }

  private result(): JsonScan {
    const f = this.failure ?? { index: this.i, problem: 'invalid JSON' };
    return { ok: false, index: f.index, problem: f.problem };
  }

  private fail(index: number, problem: string): JsonScan {
    this.failure = { index, problem };
    return this.result();
  }

  private stop(index: number, problem: string): false {
    this.failure = { index, problem };
    return false;
  }

  private skipWs(): void {
    while (this.i < this.s.length && isWs(this.s.charCodeAt(this.i))) this.i++;
  }

  /** The whole value at the cursor, containers included, without recursion. */
  private value(first: Expect): boolean {
    let expect: Expect = first;
    for (;;) {
      this.skipWs();
      if (this.i >= this.s.length) return this.stop(this.i, 'unexpected end of input');
      const c = this.s.charCodeAt(this.i);
      const inObject = this.stack.at(-1) === true;
      switch (expect) {
        case Expect.Key:
        case Expect.KeyOrClose:
          if (expect === Expect.KeyOrClose && c === C.CloseCurly) {
            if (!this.close()) return true;
            expect = Expect.CommaOrClose;
            continue;
          }
          if (c !== C.Quote) return this.stop(this.i, 'expected a string key');
          if (!this.string()) return false;
          expect = Expect.Colon;
          continue;
        case Expect.Colon:
          if (c !== C.Colon) return this.stop(this.i, 'expected a colon');
          this.i++;
          expect = Expect.Value;
          continue;
        case Expect.CommaOrClose:
          if (c === C.Comma) {
            this.i++;
            expect = inObject ? Expect.Key : Expect.Value;
            continue;
          }
          if (c === (inObject ? C.CloseCurly : C.CloseSq)) {
            if (!this.close()) return true;
            continue;
          }
          return this.stop(this.i, `expected a comma or ${inObject ? '}' : ']'}`);
        case Expect.ValueOrClose:
          if (c === C.CloseSq) {
            if (!this.close()) return true;
            expect = Expect.CommaOrClose;
            continue;
          }
          break;
        case Expect.Value:
          break;
      }
      // A value.
      if (c === C.OpenCurly || c === C.OpenSq) {
        if (this.stack.length >= this.depthMax) {
          return this.stop(this.i, `nested deeper than ${this.depthMax} levels`);
        }
        this.stack.push(c === C.OpenCurly);
        this.i++;
        expect = c === C.OpenCurly ? Expect.KeyOrClose : Expect.ValueOrClose;
        continue;
      }
      if (!this.scalar(c)) return false;
      if (this.stack.length === 0) return true;
      expect = Expect.CommaOrClose;
    }
  }

  /** Pop a container; true while containers remain open (the value goes on). */
  private close(): boolean {
    this.i++;
    this.stack.pop();
    return this.stack.length > 0;
  }

  private scalar(c: number): boolean {
    if (c === C.Quote) return this.string();
    if (c === C.Minus || isDigit(c)) return this.number();
    for (const word of ['true', 'false', 'null']) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return true;
      }
    }
    return this.stop(this.i, 'expected a value');
  }

  private string(): boolean {
    const s = this.s;
    let i = this.i + 1;
    for (;;) {
      if (i >= s.length) return this.stop(i, 'unterminated string');
      const c = s.charCodeAt(i);
      if (c === C.Quote) break;
      if (c < 0x20) return this.stop(i, 'control character in a string');
      if (c === C.Backslash) {
        const e = s.charCodeAt(i + 1);
        if (!ESCAPES.has(e)) return this.stop(i, 'invalid escape');
        if (e === 117) {
          for (let k = 2; k < 6; k++) {
            if (!isHex(s.charCodeAt(i + k))) return this.stop(i, 'invalid \\u escape');
          }
          i += 6;
        } else i += 2;
        continue;
      }
      i++;
    }
    this.i = i + 1;
    return true;
  }

  private number(): boolean {
    const s = this.s;
    const start = this.i;
    let i = start;
    if (s.charCodeAt(i) === C.Minus) i++;
    const d0 = s.charCodeAt(i);
    if (d0 === C.Zero) i++;
    else if (isDigit(d0)) while (isDigit(s.charCodeAt(i))) i++;
    else return this.stop(i, 'invalid number');
    if (s.charCodeAt(i) === C.Dot) {
      i++;
      if (!isDigit(s.charCodeAt(i))) return this.stop(i, 'invalid number');
      while (isDigit(s.charCodeAt(i))) i++;
    }
    const e = s.charCodeAt(i);
    if (e === C.LowerE || e === C.UpperE) {
      i++;
      const sign = s.charCodeAt(i);
      if (sign === C.Plus || sign === C.Minus) i++;
      if (!isDigit(s.charCodeAt(i))) return this.stop(i, 'invalid number');
      while (isDigit(s.charCodeAt(i))) i++;
    }
    this.i = i;
    return true;
  }
}
