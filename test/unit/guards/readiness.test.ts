/** Readiness guard verdict table (guards/readiness): every region READY and every pin equal. */
import { describe, it } from 'vitest';
import { readinessGuard } from '../../../guards/readiness/index.js';
import type { State } from '../../../src/core/index.js';
import { h } from '../../support/world.js';
import { ctx, expectVerdict, genesisState } from './context.js';

const s0 = genesisState();
const ready: State = {
  ...s0,
  ingestion: { ...s0.ingestion, state: 'READY', content_hash: h('c'), version: 'v1' },
  council: { ...s0.council, state: 'READY', member_set_hash: h('m') },
  environment: { ...s0.environment, state: 'READY', env_version: 'e1' },
};
const PINS = { content_hash: h('c'), ingestion_version: 'v1', member_set_hash: h('m'), env_version: 'e1' };

describe('readiness guard', () => {
  it.each([
    ['all READY and every pin equal', ready, { pins: PINS }, null],
    ['ingestion not READY', { ...ready, ingestion: { ...ready.ingestion, state: 'INDEX' } }, { pins: PINS }, 'region_not_ready'],
    ['council not READY', { ...ready, council: { ...ready.council, state: 'TOOLING_SYNC' } }, { pins: PINS }, 'region_not_ready'],
    ['environment not READY', { ...ready, environment: { ...ready.environment, state: 'DEGRADED' } }, { pins: PINS }, 'region_not_ready'],
    ['no pins', ready, {}, 'pin_mismatch'],
    ['another content hash', ready, { pins: { ...PINS, content_hash: h('x') } }, 'pin_mismatch'],
    ['another ingestion version', ready, { pins: { ...PINS, ingestion_version: 'v2' } }, 'pin_mismatch'],
    ['another member set', ready, { pins: { ...PINS, member_set_hash: h('x') } }, 'pin_mismatch'],
    ['another env version', ready, { pins: { ...PINS, env_version: 'e2' } }, 'pin_mismatch'],
  ] as const)('Given %s, When Lifecycle_AllReady is checked, Then %s', (_what, state, inputs, code) => {
    expectVerdict(readinessGuard(ctx('Lifecycle_AllReady', state, { inputs: inputs })), code);
  });
});
