/**
 * The functional core must stay pure: no I/O modules, no clock, no randomness, no
 * environment. This walks the TypeScript AST of every file under src/core and guards (the
 * guards are part of the core) and fails on any forbidden import or global.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOTS = ['src/core'];
const FORBIDDEN_MODULES = [/^node:/, /^(fs|path|os|crypto|child_process|net|http|https|worker_threads)$/,
  /^nats/, /^@nats-io\//, /^pino/, /^prom-client/, /^msgpackr/, /^fastify/, /^@noble\//, /^yaml$/,
  /^\.\.\/(\.\.\/)?(src\/)?(shell|crypto|sdk|chart|runtime|cli)\//];
const FORBIDDEN_GLOBALS = new Set(['Date', 'process', 'performance', 'setTimeout', 'setInterval',
  'setImmediate', 'fetch', 'require', 'crypto', 'globalThis', 'Buffer', 'queueMicrotask']);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return files(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

/** Problems found in one source text. */
export function impurities(path: string, text: string): string[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const where = (n: ts.Node): string => `${path}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const m = n.moduleSpecifier.text;
      if (FORBIDDEN_MODULES.some((re) => re.test(m))) out.push(`${where(n)} imports ${m}`);
    }
    if (ts.isIdentifier(n) && FORBIDDEN_GLOBALS.has(n.text)) {
      const p = n.parent;
      const isMember = ts.isPropertyAccessExpression(p) && p.name === n;
      const isKey = (ts.isPropertyAssignment(p) || ts.isPropertySignature(p)) && p.name === n;
      if (!isMember && !isKey) out.push(`${where(n)} uses ${n.text}`);
    }
    if (ts.isPropertyAccessExpression(n) && n.expression.getText(sf) === 'Math' && n.name.text === 'random') {
      out.push(`${where(n)} uses Math.random`);
    }
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) out.push(`${where(n)} dynamic import`);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('pure core', () => {
  it('Given every core and guard source file, Then none imports I/O or reads the clock, randomness or environment', () => {
    const all = ROOTS.flatMap(files);
    expect(all.length).toBeGreaterThan(10);
    const problems = all.flatMap((f) => impurities(f, readFileSync(f, 'utf8')));
    expect(problems).toEqual([]);
  });

  it('Given sources that break the rule, Then the checker reports each one (the check can fail)', () => {
    const bad = [
      "import { readFileSync } from 'node:fs';",
      "import { connect } from '@nats-io/transport-node';",
      "import pino from 'pino';",
      'const now = Date.now();',
      'const r = Math.random();',
      "const e = process.env['X'];",
      "const d = new Date('2020-01-01');",
      'const t = performance.now();',
      "import { x } from '../shell/entry.js';",
    ];
    for (const line of bad) expect(impurities('bad.ts', line), line).toHaveLength(1);
    expect(impurities('ok.ts', "const o = { Date: 1 }; o.Date; import { jcs } from './json.js';")).toEqual([]);
  });
});
