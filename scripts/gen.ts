/**
 * `npm run gen`: regenerates src/core/generated/chart.ts and docs/statechart.md from
 * src/chart/statechart.yaml. `npm run gen:check` (`--check`) regenerates in memory and exits 1
 * when a file on disk is stale. Either way an invalid chart exits 1 listing its problems.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHART_SOURCE, generate, staleFiles, type GeneratedFile } from '../src/chart/generate.js';
import { loadChartFile } from '../src/chart/load.js';

function write(root: string, files: readonly GeneratedFile[]): void {
  for (const f of files) {
    const target = join(root, f.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.content);
    console.log(`wrote ${f.path}`);
  }
}

function main(argv: readonly string[]): number {
  const check = argv.includes('--check');
  const root = fileURLToPath(new URL('..', import.meta.url));
  process.chdir(root);
  let files: GeneratedFile[];
  try {
    files = generate(loadChartFile(CHART_SOURCE));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    return 1;
  }
  if (!check) {
    write(root, files);
    return 0;
  }
  const stale = staleFiles(root, files);
  for (const path of stale) console.error(`${path} is stale: run npm run gen`);
  return stale.length === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
