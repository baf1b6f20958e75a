/** Secret files are their owner's alone (key files, seeds, tokens, the age identity). */
import { statSync } from 'node:fs';
import { SwooshError } from './errors.js';

/**
 * A secret file must be readable by its owner only (like ssh's private keys): a key readable by
 * the group or by others is refused before it is read, with the command that fixes it.
 */
export function refuseShared(path: string): void {
  if (process.platform === 'win32') return; // no POSIX modes to check
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT'
      ? `no such key file; create one with swoosh keygen --out ${path}`
      : `cannot read the key file (${code ?? (err as Error).message})`;
    throw new SwooshError('invalid_key_file', `${path}: ${why}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new SwooshError(
      'invalid_key_file',
      `${path}: the key file is readable by group or others (mode ${
        (mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${path}`,
    );
  }
}

