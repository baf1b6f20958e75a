/**
 * The integration-test NATS server. In order of preference: the server at NATS_URL (shared by
 * suites, so every fixture gets its own subject prefix); a `nats:2.10` container when
 * SWOOSH_TEST_CONTAINERS=1; else a local nats-server child on a free loopback port with a
 * fresh store, removed on close.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsServer, type EmbeddedNats } from '../../src/proving/harness/nats-server.js';

/** A NATS server for one suite. */
export interface NatsFixture {
  readonly url: string;
  /** Unique per fixture (`t` + 6 hex chars), so suites sharing a server never collide. */
  readonly prefix: string;
  /** The local child process; null when NATS_URL or a container is used. */
  readonly server: EmbeddedNats | null;
  /** Stop what this fixture started and remove its store. Idempotent. */
  close(): Promise<void>;
}

/** A fresh subject prefix: `t` and 6 lowercase hex chars. */
export function uniquePrefix(): string {
  return `t${randomBytes(3).toString('hex')}`;
}

const natsImage = 'nats:2.10';
const natsClientPort = 4222; // inside the container only; the host side is a mapped port

async function containerFixture(prefix: string): Promise<NatsFixture> {
  // Loaded only on this path, so suites never load testcontainers otherwise.
  const tc = await import('testcontainers');
  const container = await new tc.GenericContainer(natsImage)
    .withCommand(['-js'])
    .withExposedPorts(natsClientPort)
    .withWaitStrategy(tc.Wait.forLogMessage(/Server is ready/))
    .start();
  let closed = false;
  return {
    url: `nats://${container.getHost()}:${container.getMappedPort(natsClientPort)}`,
    prefix,
    server: null,
    close: async () => {
      if (closed) return;
      closed = true;
      await container.stop();
    },
  };
}

async function childFixture(prefix: string): Promise<NatsFixture> {
  const storeDir = await mkdtemp(join(tmpdir(), 'swoosh-nats-'));
  let server: EmbeddedNats;
  try {
    server = await startNatsServer({ storeDir });
  } catch (err) {
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    url: server.url,
    prefix,
    server,
    close: async () => {
      if (closed) return;
      closed = true;
      await server.stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

/** A NATS server with JetStream for one suite; call close() in afterAll. */
export async function natsFixture(): Promise<NatsFixture> {
  const prefix = uniquePrefix();
  const url = process.env['NATS_URL'];
  if (url !== undefined && url !== '') {
    return { url, prefix, server: null, close: () => Promise.resolve() };
  }
  if (process.env['SWOOSH_TEST_CONTAINERS'] === '1') return containerFixture(prefix);
  return childFixture(prefix);
}
