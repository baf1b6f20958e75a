/**
 * Decide WAL messages from the fixture genesis and return each decision record's content text
 * (what replicas compare and the chain hashes). Used in-process and, as a script, in a child
 * process of another Node major: `node --import tsx test/support/record-pipeline.ts` reads
 * `{seed, randomCount}` on stdin, rebuilds the same hostile corpus, and prints the texts.
 */
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { createNodeVerifier } from '../../src/crypto/verify.js';
import { Replica } from '../../src/server/replication/replica.js';
import type { WalMessage } from '../../src/protocol/wal-message.js';
import { hostileCorpus } from './hostile.js';
import { parseFixtureGenesis } from '../../src/proving/sim/world.js';

/** Content texts of the records of `messages`, decided in order from the cast's genesis. */
export function recordTexts(messages: readonly WalMessage[]): string[] {
  const core = createCore(nodeHasher);
  const replica = Replica.fromGenesis(core, nodeHasher, createNodeVerifier(), parseFixtureGenesis());
  return messages.map((m) => replica.decideNext(m).contentText);
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const { seed, randomCount } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { seed: number; randomCount: number };
  const texts = recordTexts(hostileCorpus(seed, randomCount));
  process.stdout.write(JSON.stringify({ node: process.version, openssl: process.versions.openssl, texts }));
}

if (process.argv[1]?.endsWith('record-pipeline.ts') === true) {
  main().catch((err: unknown) => {
    process.stderr.write(`record-pipeline failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
