/**
 * A second Node.js major for the cross-runtime tests: records must be byte-identical whichever
 * supported runtime computes them. `SWOOSH_SECOND_NODE` names the binary (CI sets it); without
 * it, the runtime is taken from `.cache/` or unpacked there from the npm registry's
 * `node-<platform>-<arch>` package (Node 26 when this is an older major, Node 20 when it is 26
 * or newer). A test that cannot get one fails with this message; it never skips.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root (this file is test/support/second-node.ts). */
export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

/** Major version of a node binary, e.g. 26. */
export function nodeMajor(bin: string): number {
  const v = execFileSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  return Number(v.split('.')[0]);
}

/** Path of a node binary of another major than this process's. */
export function secondNode(): string {
  const given = process.env['SWOOSH_SECOND_NODE'];
  const thisMajor = Number(process.versions.node.split('.')[0]);
  if (given !== undefined && given !== '') {
    if (!existsSync(given)) throw new Error(`SWOOSH_SECOND_NODE=${given}: no such file`);
    const major = nodeMajor(given);
    if (major === thisMajor) throw new Error(`SWOOSH_SECOND_NODE=${given} is Node ${major}, the same major as this process`);
    return given;
  }
  const want = thisMajor >= 26 ? 20 : 26;
  const dir = join(REPO_ROOT, '.cache', `node-${want}`);
  const bin = join(dir, 'package', 'bin', 'node');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const pkg = `node-${process.platform}-${process.arch}@${want}`;
  try {
    execFileSync('npm', ['pack', pkg, '--silent'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (tgz === undefined) throw new Error('npm pack wrote no tarball');
    execFileSync('tar', ['xzf', tgz], { cwd: dir, timeout: 120_000 });
  } catch (err) {
    throw new Error(`cannot get a second Node runtime (${pkg} from the npm registry); `
      + 'set SWOOSH_SECOND_NODE to a node binary of another major', { cause: err });
  }
  if (!existsSync(bin)) throw new Error(`${pkg} unpacked without ${bin}`);
  return bin;
}
