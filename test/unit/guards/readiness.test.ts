/** Readiness guard verdict table (guards/readiness): every region READY and every pin equal. */
import { describe, it } from 'vitest';
import { readinessGuard } from '../../../src/core/guards/readiness.js';
import type { State } from '../../../src/core/index.js';
import { h } from '../../../src/proving/sim/world.js';
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
    ['all READY and every pin equal', null, ready, { pins: PINS }],
    ['ingestion not READY', 'region_not_ready', { ...ready, ingestion: { ...ready.ingestion, state: 'INDEX' } }, { pins: PINS }],
    ['council not READY', 'region_not_ready', { ...ready, council: { ...ready.council, state: 'TOOLING_SYNC' } }, { pins: PINS }],
    ['environment not READY', 'region_not_ready', { ...ready, environment: { ...ready.environment, state: 'DEGRADED' } }, { pins: PINS }],
    ['no pins', 'pin_mismatch', ready, {}],
    ['another content hash', 'pin_mismatch', ready, { pins: { ...PINS, content_hash: h('x') } }],
    ['another ingestion version', 'pin_mismatch', ready, { pins: { ...PINS, ingestion_version: 'v2' } }],
    ['another member set', 'pin_mismatch', ready, { pins: { ...PINS, member_set_hash: h('x') } }],
    ['another env version', 'pin_mismatch', ready, { pins: { ...PINS, env_version: 'e2' } }],
  ] as const)('Given %s, When Lifecycle_AllReady is checked, Then verdict %s (null: pass)', (_what, code, state, inputs) => {
    expectVerdict(readinessGuard(ctx('Lifecycle_AllReady', state, { inputs: inputs })), code);
  });
});
