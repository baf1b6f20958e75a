/**
 * The embedded default (`npm start`, `swoosh dev`): everything on one machine.
 *
 *  1. a local `nats-server -js` child on a free loopback port, store under `<data-dir>/nats`
 *     (or the server at `--nats-url` / NATS_URL);
 *  2. without `--genesis`, a dev identity holding every role, kept in `<data-dir>/dev-keys.json`
 *     as `{ "signer": "hmmm:pubkey:<hex>", "secret_key": "<hex seed>" }`, and a dev genesis;
 *  3. the streams, the writer (an Instance) and the HTTP API;
 *  4. simulated feeders (licence, beat frames, MCP, capacity, policy, ticks);
 *  5. one JSON line `{"event":"ready", …}` with every URL; Ctrl-C drains and stops the child.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { CHART, WRITER_ROLE, type Genesis, createCore } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { generateKeyPair } from '../../crypto/keys.js';
import { createNodeSigner } from '../../crypto/node-sign.js';
import { createHttpServer } from '../../http/server.js';
import { SwooshError } from '../../protocol/errors.js';
import { loadGenesisFile, loadKeyFile } from '../../protocol/files.js';
import { Instance } from '../../server/process/instance.js';
import type { Logger } from '../../server/observability/log.js';
import { startNatsServer, type EmbeddedNats } from '../harness/nats-server.js';
import { SIMULATOR_DEFAULTS, Simulators, type SimulatorOptions } from './simulators.js';

/** Options of `swoosh dev`. */
export interface DevOptions {
  readonly dataDir: string;
  readonly httpPort: number;
  readonly httpHost: string;
  readonly natsUrl?: string;
  readonly genesisFile?: string;
  readonly prefix: string;
  readonly simulate: Partial<SimulatorOptions>;
  readonly log: Logger;
}

/** What a running dev environment exposes. */
export interface DevHandle {
  readonly httpUrl: string;
  readonly natsUrl: string;
  readonly devKeysFile: string | null;
  readonly instance: Instance;
  stop(): Promise<void>;
}

/** MCP pins of the dev genesis (the MCP simulator reports exactly these). */
export const DEV_MCP_PINS = { 'dev-tools': '1.0.0' } as const;

/** Read or create a key file `{signer, secret_key}` (mode 0600). */
function ensureKeyFile(path: string): { signer: string; seed: Uint8Array } {
  if (!existsSync(path)) {
    const kp = generateKeyPair();
    writeFileSync(
      path,
      `${JSON.stringify(
        { signer: kp.signer, secret_key: Buffer.from(kp.secretKey).toString('hex') }, null, 2,
      )}\n`,
      { mode: 0o600 },
    );
  }
  return loadKeyFile(path);
}

/** The dev genesis: one identity with every role, thresholds of one, the dev MCP pins. */
export function devGenesis(signer: string, writer: string): Record<string, unknown> {
  return {
    instance_id: 'swoosh-dev',
    // Every role but `writer`: the dev signer proposes; the writer key signs records.
    identities: {
      [signer]: { roles: Object.keys(CHART.roles).filter((r) => r !== WRITER_ROLE).sort() },
    },
    writers: [writer],
    quorum_threshold: 1,
    approvals_threshold: 1,
    mcp_pins: DEV_MCP_PINS,
  };
}

function parseDevGenesis(raw: Record<string, unknown>): Genesis {
  const g = createCore(nodeHasher).parseGenesis(raw);
  if (!g.ok) {
    throw new SwooshError('invalid_genesis', `dev genesis: ${g.error.path}: ${g.error.message}`);
  }
  return g.value;
}

/** Start the embedded default. */
export async function runDev(o: DevOptions): Promise<DevHandle> {
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true });
  let nats: EmbeddedNats | null = null;
  let natsUrl = o.natsUrl;
  if (natsUrl === undefined) {
    nats = await startNatsServer({ storeDir: join(dataDir, 'nats') });
    natsUrl = nats.url;
  }
  const core = createCore(nodeHasher);
  let genesis: Genesis;
  let devKeysFile: string | null = null;
  let devSigner: ReturnType<typeof createNodeSigner> | null = null;
  const writerKey = ensureKeyFile(join(dataDir, 'writer-key.json'));
  if (o.genesisFile !== undefined) genesis = loadGenesisFile(core, o.genesisFile);
  else {
    devKeysFile = join(dataDir, 'dev-keys.json');
    const dev = ensureKeyFile(devKeysFile);
    devSigner = createNodeSigner(dev.seed);
    genesis = parseDevGenesis(devGenesis(dev.signer, writerKey.signer));
  }
  const instance = new Instance({
    natsUrl,
    prefix: o.prefix,
    name: 'dev',
    genesis,
    signerSeed: writerKey.seed,
    log: o.log,
  });
  let http: FastifyInstance | null = null;
  let sims: Simulators | null = null;
  const stop = async (): Promise<void> => {
    sims?.stop();
    await http?.close();
    await instance.stop();
    await nats?.stop();
  };
  try {
    await instance.start().catch((err: unknown) => {
      const devMismatch = err instanceof SwooshError && err.code === 'genesis_mismatch';
      if (!devMismatch || devKeysFile === null) throw err;
      const hint = `With swoosh dev, the genesis is made from ${devKeysFile}: restore that file, `
        + `or remove ${dataDir} to start over.`;
      const message = `${(err as Error).message} ${hint}`;
      throw new SwooshError('genesis_mismatch', message, { cause: err });
    });
    const server = await createHttpServer({ instance, log: o.log });
    http = server;
    const address = await server.listen({ port: o.httpPort, host: o.httpHost });
    if (devSigner !== null) {
      sims = new Simulators(
        instance.nats.js,
        o.prefix,
        devSigner,
        { ...SIMULATOR_DEFAULTS, mcpTools: DEV_MCP_PINS, ...o.simulate },
        (err, kind) => o.log.warn({ err, kind }, 'simulated feeder publish failed'),
      );
      sims.start();
    }
    return { httpUrl: address, natsUrl, devKeysFile, instance, stop };
  } catch (err) {
    await stop().catch((e: unknown) =>
      o.log.error({ err: e }, 'cleanup after a failed start failed'),
    );
    throw err;
  }
}

