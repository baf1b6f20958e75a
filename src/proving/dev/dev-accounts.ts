/**
 * NATS accounts for the child nats-server of `swoosh dev` (docs/security.md, "swoosh dev"): one
 * nkey user per role of src/server/process/nats-permissions.ts, its seed in
 * `<data-dir>/nats-auth/<role>.nk` (mode 0600, the directory 0700), made on the first start and
 * kept across restarts, so the CLI commands that find the dev through dev.json connect as the
 * role they need. The server's config holds public keys only: a seed never leaves its file, and
 * nothing here logs or returns one except to build a connection's authenticator.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { nkeyAuthenticator, type Authenticator } from '@nats-io/nats-core';
import { SwooshError } from '../../protocol/errors.js';
import { readSecretFile } from '../../protocol/files.js';
import {
  NATS_ROLES,
  renderAuthorization,
  type NatsRole,
} from '../../server/process/nats-permissions.js';

/** The directory under the data dir that holds the seeds. */
export const DEV_NATS_AUTH_DIR = 'nats-auth';

/** The dev's NATS users: a seed file per role and the server's `authorization` block. */
export interface DevAccounts {
  readonly dir: string;
  /** The seed file of each role (absolute when the data dir is). */
  readonly files: Readonly<Record<NatsRole, string>>;
  /** The `authorization` block for the prefix: public keys and permissions, no seed. */
  readonly authorization: string;
}

const enc = new TextEncoder();

/** The seed in `file` as bytes, checked to be an nkey *user* seed (never quoted in errors). */
function readUserSeed(file: string): Uint8Array {
  const seed = enc.encode(readSecretFile(file, 'NATS nkey seed file'));
  let publicKey: string;
  try {
    publicKey = fromSeed(seed).getPublicKey();
  } catch (err) {
    throw new SwooshError('invalid_config', `${file} does not hold an nkey seed; remove it and ` +
      'swoosh dev makes a new one', { cause: err });
  }
  if (!publicKey.startsWith('U')) {
    throw new SwooshError('invalid_config', `${file} holds an nkey seed that is not a user's; ` +
      'remove it and swoosh dev makes a new one');
  }
  return seed;
}

/** What the dev server lets the feeder subscribe to for BACKBEAT's beat frames. */
export const DEV_BACKBEAT_SUBJECTS = 'backbeat.>';

/**
 * Read the seeds of `<dataDir>/nats-auth`, making those that are missing, and render the
 * authorization block for `prefix` (made for each start: the prefix may change, the keys stay).
 */
export function ensureDevAccounts(dataDir: string, prefix: string): DevAccounts {
  const dir = join(dataDir, DEV_NATS_AUTH_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode only applies to a new directory (and through the umask): make it exact.
  chmodSync(dir, 0o700);
  const files = {} as Record<NatsRole, string>;
  const users = NATS_ROLES.map((role) => {
    const file = join(dir, `${role}.nk`);
    if (!existsSync(file)) {
      // `wx`: never replace a seed another start wrote in the meantime.
      writeFileSync(file, `${new TextDecoder().decode(createUser().getSeed())}\n`,
        { mode: 0o600, flag: 'wx' });
    }
    files[role] = file;
    return { role, nkey: fromSeed(readUserSeed(file)).getPublicKey() };
  });
  // A BACKBEAT run next to dev (or frames published by hand as the admin) reaches
  // `swoosh feeder backbeat --subject backbeat.<cluster>.beat` on this server.
  const authorization = renderAuthorization(prefix, users,
    { backbeatSubjects: [DEV_BACKBEAT_SUBJECTS] });
  return { dir, files, authorization };
}

/** An authenticator for `role` (the readiness probe of the child server). */
export function devAuthenticator(accounts: DevAccounts, role: NatsRole): Authenticator {
  return nkeyAuthenticator(readUserSeed(accounts.files[role]));
}
