/**
 * The embedded default (`npm start`, `swoosh dev`): everything on one machine.
 *
 *  1. a local `nats-server -js` child on a free loopback port, store under `<data-dir>/nats`,
 *     with one nkey user per role (dev-accounts.ts; `--insecure`: none, anonymous access), or
 *     the server at `--nats-url` / NATS_URL (its own settings apply);
 *  2. without `--genesis`, a dev identity holding every role, kept in `<data-dir>/dev-keys.json`
 *     as `{ "signer": "hmmm:pubkey:<hex>", "secret_key": "<hex seed>" }`, and a dev genesis;
 *  3. the streams, the writer (an Instance) and the HTTP API, connected as `instance`;
 *  4. simulated feeders (licence, beat frames, MCP, capacity, policy, ticks) on their own
 *     connection, as `feeder`;
 *  5. one JSON line `{"event":"ready", …}` with every URL; Ctrl-C drains and stops the child.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { CHART, WRITER_ROLE, type Genesis, createCore } from '../../core/index.js';
import { nodeHasher } from '../../crypto/hasher.js';
import { generateKeyPair } from '../../crypto/keys.js';
import { createNodeSigner } from '../../crypto/node-sign.js';
import { createHttpServer } from '../../http/server.js';
import { SwooshError } from '../../protocol/errors.js';
import { loadGenesisFile, loadKeyFile } from '../../protocol/files.js';
import { natsConnectOptions, type NatsAuth } from '../../protocol/nats-auth.js';
import { Instance } from '../../server/process/instance.js';
import type { NatsRole } from '../../server/process/nats-permissions.js';
import type { Logger } from '../../server/observability/log.js';
import { startNatsServer, type EmbeddedNats } from '../harness/nats-server.js';
import { devAuthenticator, ensureDevAccounts } from './dev-accounts.js';
import { SIMULATOR_DEFAULTS, Simulators, type SimulatorOptions } from './simulators.js';

/** Options of `swoosh dev`. */
export interface DevOptions {
  readonly dataDir: string;
  readonly httpPort: number;
  readonly httpHost: string;
  readonly natsUrl?: string;
  /** Start the child nats-server without accounts (anonymous clients may do anything). */
  readonly insecure?: boolean;
  readonly genesisFile?: string;
  readonly prefix: string;
  readonly simulate: Partial<SimulatorOptions>;
  readonly log: Logger;
}

/** Where the seeds of the dev's NATS users are. */
export interface DevNatsAuth {
  readonly dir: string;
  readonly files: Readonly<Record<NatsRole, string>>;
}

/** What a running dev environment exposes. */
export interface DevHandle {
  readonly httpUrl: string;
  readonly natsUrl: string;
  readonly devKeysFile: string | null;
  /**
   * The directory of the NATS users' seeds and the seed file of each role when the child
   * server runs with accounts; null with `--insecure` or `--nats-url`.
   */
  readonly natsAuth: DevNatsAuth | null;
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

/** The NATS side of a dev run: the child server (if any) and how each part connects. */
interface DevNats {
  readonly server: EmbeddedNats | null;
  readonly url: string;
  readonly auth: DevNatsAuth | null;
  /** How the Instance (writer and HTTP gateway) connects, and how the simulators do. */
  readonly instance: NatsAuth;
  readonly feeder: NatsAuth;
}

/**
 * The server at `natsUrl` as it is, or a child nats-server: with accounts (one nkey user per
 * role, the readiness probe as `instance`) unless `insecure`.
 */
async function startDevNats(o: DevOptions, dataDir: string): Promise<DevNats> {
  if (o.natsUrl !== undefined) {
    return { server: null, url: o.natsUrl, auth: null, instance: {}, feeder: {} };
  }
  const storeDir = join(dataDir, 'nats');
  if (o.insecure === true) {
    const server = await startNatsServer({ storeDir });
    return { server, url: server.url, auth: null, instance: {}, feeder: {} };
  }
  const accounts = ensureDevAccounts(dataDir, o.prefix);
  const server = await startNatsServer({
    storeDir,
    extraConfig: accounts.authorization,
    probeOptions: { authenticator: devAuthenticator(accounts, 'instance') },
  });
  return {
    server,
    url: server.url,
    auth: { dir: accounts.dir, files: accounts.files },
    instance: { nkeyFile: accounts.files.instance },
    feeder: { nkeyFile: accounts.files.feeder },
  };
}

/** The genesis of a dev run: `--genesis`, or one made from the dev identity. */
function devSetup(o: DevOptions, dataDir: string): {
  genesis: Genesis;
  writerSeed: Uint8Array;
  devKeysFile: string | null;
  devSigner: ReturnType<typeof createNodeSigner> | null;
} {
  const core = createCore(nodeHasher);
  const writerKey = ensureKeyFile(join(dataDir, 'writer-key.json'));
  if (o.genesisFile !== undefined) {
    return {
      genesis: loadGenesisFile(core, o.genesisFile), writerSeed: writerKey.seed,
      devKeysFile: null, devSigner: null,
    };
  }
  const devKeysFile = join(dataDir, 'dev-keys.json');
  const dev = ensureKeyFile(devKeysFile);
  return {
    genesis: parseDevGenesis(devGenesis(dev.signer, writerKey.signer)),
    writerSeed: writerKey.seed,
    devKeysFile,
    devSigner: createNodeSigner(dev.seed),
  };
}

/** Start the embedded default. */
export async function runDev(o: DevOptions): Promise<DevHandle> {
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const { genesis, writerSeed, devKeysFile, devSigner } = devSetup(o, dataDir);
  const nats = await startDevNats(o, dataDir);
  const instance = new Instance({
    natsUrl: nats.url,
    natsAuth: nats.instance,
    prefix: o.prefix,
    name: 'dev',
    genesis,
    signerSeed: writerSeed,
    log: o.log,
  });
  let http: FastifyInstance | null = null;
  let sims: Simulators | null = null;
  let simsNc: NatsConnection | null = null;
  const stop = async (): Promise<void> => {
    sims?.stop();
    if (simsNc !== null && !simsNc.isClosed()) await simsNc.drain();
    await http?.close();
    await instance.stop();
    await nats.server?.stop();
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
      // The simulated feeders publish facts as the `feeder` user, like a production feeder.
      simsNc = await connect({
        ...natsConnectOptions([nats.url], nats.feeder),
        name: 'swoosh:dev-simulators',
        noAsyncTraces: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      });
      sims = new Simulators(
        jetstream(simsNc),
        o.prefix,
        devSigner,
        { ...SIMULATOR_DEFAULTS, mcpTools: DEV_MCP_PINS, ...o.simulate },
        (err, kind) => o.log.warn({ err, kind }, 'simulated feeder publish failed'),
      );
      sims.start();
    }
    return {
      httpUrl: address, natsUrl: nats.url, devKeysFile, natsAuth: nats.auth, instance, stop,
    };
  } catch (err) {
    await stop().catch((e: unknown) =>
      o.log.error({ err: e }, 'cleanup after a failed start failed'),
    );
    throw err;
  }
}
