/** `swoosh keygen`: make an Ed25519 identity and write it as a key file. */
import type { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { generateKeyPair } from '../../crypto/keys.js';
import { fail, jsonLine } from '../options.js';

/** Register the command. */
export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description(
      'Generate an Ed25519 identity: {"signer":"hmmm:pubkey:<hex>","secret_key":"<hex seed>"}.',
    )
    .option('-o, --out <file>', 'write the key file here (mode 0600) instead of printing it')
    .option('--force', 'overwrite an existing file')
    .addHelpText(
      'after',
      `
Example:
  $ swoosh keygen --out council-1.key.json
  {"signer":"hmmm:pubkey:3b6a27bc…","file":"council-1.key.json"}
Add the signer to the genesis identities with the roles it needs.`,
    )
    .action((o: { out?: string; force?: boolean }) => {
      try {
        const kp = generateKeyPair();
        const file = { signer: kp.signer, secret_key: Buffer.from(kp.secretKey).toString('hex') };
        if (o.out === undefined) {
          jsonLine(file);
          return;
        }
        if (existsSync(o.out) && o.force !== true) {
          throw new Error(`${o.out} exists; pass --force to overwrite it`);
        }
        writeFileSync(o.out, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
        jsonLine({ signer: kp.signer, file: o.out });
      } catch (err) {
        fail(err);
      }
    });
}
