/**
 * The API description served at GET /openapi.json: docs/openapi.yaml, parsed once. The file
 * is found by walking up from this module, so the same code works from `src/` (tsx, tests)
 * and from `dist/src/` (a build run next to the repository's docs).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** Where the description lives, relative to the repository root. */
export const OPENAPI_PATH = join('docs', 'openapi.yaml');

/** The path of docs/openapi.yaml above `from` (at most five levels up), or null. */
export function findOpenApi(from: string = dirname(fileURLToPath(import.meta.url))): string | null {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, OPENAPI_PATH);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** docs/openapi.yaml as a JSON value, or null when the file is not installed. */
export async function loadOpenApi(path: string | null = findOpenApi()): Promise<unknown> {
  if (path === null) return null;
  return parse(await readFile(path, 'utf8')) as unknown;
}
