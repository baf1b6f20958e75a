/** The genesis a command replays from: --genesis, else what `swoosh dev` used. */
import { type Genesis, createCore } from '../core/index.js';
import { nodeHasher } from '../crypto/hasher.js';
import { devGenesis } from '../proving/dev/dev.js';
import { SwooshError } from '../protocol/errors.js';
import { loadGenesisFile, loadKeyFile, parseGenesisText } from '../protocol/files.js';
import { readDevConnection } from './connect.js';
import { env } from './options.js';
import { dirname, join } from 'node:path';

/** Resolve the genesis for replaying commands. */
export function genesisFor(flag: string | undefined): Genesis {
  const core = createCore(nodeHasher);
  const file = flag ?? env('SWOOSH_GENESIS');
  if (file !== undefined) return loadGenesisFile(core, file);
  const dev = readDevConnection();
  if (dev?.genesis !== null && dev?.genesis !== undefined) {
    return loadGenesisFile(core, dev.genesis);
  }
  if (dev?.dev_keys !== null && dev?.dev_keys !== undefined) {
    // swoosh dev keeps its writer key beside the dev keys (runDev).
    const writer = loadKeyFile(join(dirname(dev.dev_keys), 'writer-key.json')).signer;
    return parseGenesisText(
      core,
      JSON.stringify(devGenesis(loadKeyFile(dev.dev_keys).signer, writer)),
      'dev-genesis.json',
    );
  }
  throw new SwooshError(
    'invalid_config',
    'no genesis: pass --genesis FILE, set SWOOSH_GENESIS, or run `npm start` (swoosh dev) first',
  );
}
