/** `swoosh keygen`: make an Ed25519 identity and write it as a key file. */
import type { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { generateKeyPair } from '../../crypto/keys.js';
import { fail, jsonLine } from '../options.js';
import { encryptToRecipients, isAgeFile } from '../../protocol/age-secrets.js';

/** Register the command. */
export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description(
      'Generate an Ed25519 identity: {"signer":"hmmm:pubkey:<hex>","secret_key":"<hex seed>"}.',
    )
    .option('-o, --out <file>', 'write the key file here (mode 0600) instead of printing it')
    .option('--force', 'overwrite an existing file')
    .option('--age-recipient <age1…>', 'encrypt the key file to this age recipient (repeatable; ' +
      '--out must end in .age)', (v: string, prev: string[] = []) => [...prev, v])
    .addHelpText(
      'after',
      `
Example:
  $ swoosh keygen --out council-1.key.json
  {"signer":"hmmm:pubkey:3b6a27bc…","file":"council-1.key.json"}
  $ swoosh keygen --out writer.key.json.age --age-recipient age1…   # encrypted (docs/security.md)
Add the signer to the genesis identities with the roles it needs.`,
    )
    .action(async (o: { out?: string; force?: boolean; ageRecipient?: string[] }) => {
      try {
        const kp = generateKeyPair();
        const file = { signer: kp.signer, secret_key: Buffer.from(kp.secretKey).toString('hex') };
        const recipients = o.ageRecipient ?? [];
        if (recipients.length > 0 && (o.out === undefined || !isAgeFile(o.out))) {
          throw new Error('--age-recipient: pass --out FILE ending in .age (the encrypted key)');
        }
        if (o.out === undefined) {
          jsonLine(file);
          return;
        }
        if (existsSync(o.out) && o.force !== true) {
          throw new Error(`${o.out} exists; pass --force to overwrite it`);
        }
        const text = `${JSON.stringify(file, null, 2)}\n`;
        writeFileSync(o.out, recipients.length > 0 ? await encryptToRecipients(text, recipients)
          : text, { mode: 0o600 });
        jsonLine({ signer: kp.signer, file: o.out, ...(recipients.length > 0
          ? { encrypted_to: recipients } : {}) });
      } catch (err) {
        fail(err);
      }
    });
}
