/**
 * The layers point one way (docs/architecture.md, "Layers"): core ← crypto ← protocol ←
 * server ← surfaces (http, feeders, cli; the SDK takes core, crypto and protocol only), and the
 * proving machinery (harness, sim, dev, chaos, bench) stays outside the server's import graph:
 * only the CLI and the tests load it. Outside src/core, the core is reached through its
 * index.ts only. This walks the TypeScript AST of every source file (like purity.test.ts) and
 * fails on any import that points the wrong way.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** The layer a repository path belongs to, or null when no rule applies (tests, node_modules). */
export function layerOf(path: string): string | null {
  const p = path.split('\\').join('/');
  if (p === 'streams' || p.startsWith('streams/')) return 'protocol';
  if (p.startsWith('scripts/')) return 'scripts';
  const m = /^src\/([^/]+)\//.exec(p);
  if (m === null) return null;
  return m[1] === 'stubs' ? null : (m[1] ?? null);
}

/** What each layer may import (besides itself and packages). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: [],
  crypto: ['core'],
  protocol: ['core', 'crypto'],
  chart: ['core'],
  server: ['core', 'crypto', 'protocol'],
  sdk: ['core', 'crypto', 'protocol'],
  http: ['core', 'crypto', 'protocol', 'server'],
  feeders: ['core', 'crypto', 'protocol', 'server', 'sdk'],
  migration: ['core', 'crypto', 'protocol', 'sdk'],
  proving: ['core', 'crypto', 'protocol', 'server', 'http', 'sdk', 'feeders', 'chart', 'migration'],
  cli: ['core', 'crypto', 'protocol', 'server', 'http', 'sdk', 'feeders', 'proving', 'chart',
    'migration'],
  scripts: ['chart', 'core'],
};

/** The problem with one relative import from `from` (a repository path), or null. */
export function wrongWay(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const target = posix.normalize(posix.join(posix.dirname(from), spec));
  const a = layerOf(from);
  const b = layerOf(target);
  if (a === null || b === null) return null;
  if (a !== b && !(ALLOWED[a] ?? []).includes(b)) return `${a} may not import ${b} (${spec})`;
  if (b === 'core' && a !== 'core' && target.replace(/\.js$/, '.ts') !== 'src/core/index.ts') {
    return `outside the core, import src/core/index.ts only (${spec})`;
  }
  return null;
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'stubs' ? [] : files(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

/** Every wrong-way import in one source text. */
export function layerProblems(path: string, text: string): string[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const check = (n: ts.Node, spec: string): void => {
    const why = wrongWay(path, spec);
    if (why === null) return;
    out.push(`${path}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1} ${why}`);
  };
  const visit = (n: ts.Node): void => {
    const isImport = ts.isImportDeclaration(n) || ts.isExportDeclaration(n);
    if (isImport && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      check(n, n.moduleSpecifier.text);
    }
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = n.arguments;
      if (arg !== undefined && ts.isStringLiteral(arg)) check(n, arg.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('layers', () => {
  it('Given every source file, Then no import points the wrong way', () => {
    const all = ['src', 'streams', 'scripts'].flatMap(files).map((f) => f.split('\\').join('/'));
    expect(all.length).toBeGreaterThan(100);
    const problems = all.flatMap((f) => layerProblems(f, readFileSync(f, 'utf8')));
    expect(problems).toEqual([]);
  });

  it('Given imports that point the wrong way, Then each is reported (the check can fail)', () => {
    const bad: [string, string][] = [
      ['src/core/decide/decide.ts', "import { x } from '../../protocol/envelope.js';"],
      ['src/crypto/keys.ts', "import { x } from '../protocol/entry.js';"],
      ['src/protocol/entry.ts', "import { x } from '../server/replication/replica.js';"],
      ['src/server/process/instance.ts', "import { x } from '../../proving/harness/proc.js';"],
      ['src/server/process/instance.ts', "import { x } from '../../http/server.js';"],
      ['src/sdk/nats.ts', "import { x } from '../server/observability/log.js';"],
      ['src/http/server.ts', "import { x } from '../proving/sim/world.js';"],
      ['src/sdk/proposal.ts', "import { x } from '../core/encoding/json.js';"],
      ['src/proving/sim/world.ts', "const m = await import('../../cli/main.js');"],
    ];
    for (const [file, line] of bad) {
      expect(layerProblems(file, line), `${file}: ${line}`).toHaveLength(1);
    }
    const good: [string, string][] = [
      ['src/sdk/proposal.ts', "import { jcs } from '../core/index.js';"],
      ['src/cli/main.ts', "import { x } from '../proving/chaos/run.js';"],
      ['src/core/decide/decide.ts', "import { x } from '../encoding/json.js';"],
    ];
    for (const [file, line] of good) {
      expect(layerProblems(file, line), `${file}: ${line}`).toEqual([]);
    }
  });
});
