/**
 * AGE-encrypted secrets (brief §9: "AGE-encrypted configs; never log plaintext"). Any secret
 * file SWOOSH reads — a key file, the genesis, NATS creds, nkey seeds, passwords, tokens — may
 * be an age file (armored or binary) whose name ends in `.age`. Processes unlock them once at
 * start (`unlockAgeFiles`, asynchronous: age-encryption's API is) with an identity from
 * `SWOOSH_AGE_IDENTITY_FILE` (mode 0600) or `SWOOSH_AGE_IDENTITY`; the readers in files.ts
 * then take the plaintext from memory. Plaintext never reaches a log, a record, a metric or an
 * error message (test/integration/age-secrets.test.ts scans a whole run for it).
 *
 * age-encryption is pinned to an exact version (package.json): it is the reference TypeScript
 * implementation (typage) and runs on every supported Node major.
 */
import { readFileSync } from 'node:fs';
import { Decrypter, Encrypter, armor } from 'age-encryption';
import { SwooshError } from './errors.js';
import { refuseShared } from './secret-mode.js';

/** Paths ending in this are age files. */
export const AGE_SUFFIX = '.age';

/** Decrypted content by path, for the synchronous readers (files.ts). */
const unlocked = new Map<string, Uint8Array>();

/** True when `path` names an age file. */
export function isAgeFile(path: string): boolean {
  return path.endsWith(AGE_SUFFIX);
}

/** The identity (`AGE-SECRET-KEY-1…`) from the environment, or null. */
export function ageIdentityFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  const file = env['SWOOSH_AGE_IDENTITY_FILE'];
  if (file !== undefined && file !== '') {
    return readIdentityFile(file);
  }
  const v = env['SWOOSH_AGE_IDENTITY'];
  return v === undefined || v === '' ? null : v.trim();
}

function readIdentityFile(path: string): string {
  refuseShared(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SwooshError('invalid_config', `SWOOSH_AGE_IDENTITY_FILE ${path}: cannot read it (${
      (err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  // age identity files may hold comments (`# created: …`); the key is the one other line.
  const key = text.split('\n').map((l) => l.trim()).find((l) => l.startsWith('AGE-SECRET-KEY-'));
  if (key === undefined) {
    throw new SwooshError('invalid_config',
      `SWOOSH_AGE_IDENTITY_FILE ${path}: no AGE-SECRET-KEY- line`);
  }
  return key;
}

/**
 * Decrypt every age file among `paths` (others are ignored) into memory. Throws
 * invalid_config naming the file, never its content, when there is no identity or the
 * identity does not open it.
 */
export async function unlockAgeFiles(
  paths: readonly (string | undefined)[],
  identity: string | null = ageIdentityFromEnv(),
): Promise<void> {
  const age = paths.filter((p): p is string => p !== undefined && isAgeFile(p));
  if (age.length === 0) return;
  if (identity === null) {
    throw new SwooshError('invalid_config', `${age.join(', ')}: encrypted with age; set ` +
      'SWOOSH_AGE_IDENTITY_FILE (or SWOOSH_AGE_IDENTITY) to the identity that opens it');
  }
  const d = new Decrypter();
  try {
    d.addIdentity(identity);
  } catch (err) {
    throw new SwooshError('invalid_config',
      'the age identity is not an AGE-SECRET-KEY-1… string', { cause: err });
  }
  for (const path of age) {
    let raw: Uint8Array;
    try {
      raw = readFileSync(path);
    } catch (err) {
      throw new SwooshError('invalid_config', `${path}: cannot read it (${
        (err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
    }
    const text = new TextDecoder().decode(raw);
    try {
      const armored = text.startsWith('-----BEGIN AGE ENCRYPTED FILE-----');
      const bytes = armored ? armor.decode(text) : raw;
      unlocked.set(path, await d.decrypt(bytes));
    } catch (err) {
      // The library's wording stays in the cause (logs), out of the message.
      throw new SwooshError('invalid_config',
        `${path}: the age identity does not open it (or it is not an age file)`, { cause: err });
    }
  }
}

/** The plaintext of an unlocked age file; invalid_config when it was not unlocked. */
export function unlockedContent(path: string): Uint8Array {
  const b = unlocked.get(path);
  if (b === undefined) {
    throw new SwooshError('invalid_config', `${path}: an age file this process did not ` +
      'unlock at start; set SWOOSH_AGE_IDENTITY_FILE and pass the file where the process ' +
      'reads its secrets');
  }
  return b;
}

/** Encrypt `plaintext` to `recipients` (`age1…`), armored. */
export async function encryptToRecipients(
  plaintext: string,
  recipients: readonly string[],
): Promise<string> {
  const e = new Encrypter();
  for (const r of recipients) {
    try {
      e.addRecipient(r);
    } catch (err) {
      throw new SwooshError('invalid_config', `--age-recipient ${r}: not an age recipient ` +
        '(age1…)', { cause: err });
    }
  }
  return armor.encode(await e.encrypt(plaintext));
}
