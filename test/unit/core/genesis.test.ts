/** Genesis validation: every problem names its field; defaults are filled in. */
import { describe, expect, it } from 'vitest';
import { createCore } from '../../../src/core/index.js';
import { GENESIS_DEFAULTS } from '../../../src/core/genesis.js';
import { nodeHasher } from '../../../src/crypto/hasher.js';
import { CAST, castGenesis } from '../../../src/proving/sim/world.js';

const core = createCore(nodeHasher);

describe('genesis', () => {
  it('Given a minimal genesis, Then defaults are filled and the state starts in BOOT', () => {
    const g = core.parseGenesis({ instance_id: 'dev', identities: { [CAST.operator.signer]: { roles: ['operator'] } } });
    if (!g.ok) throw new Error(g.error.message);
    expect(g.value.config).toMatchObject({
      idem_retention_ms: GENESIS_DEFAULTS.idem_retention_ms, idem_max: GENESIS_DEFAULTS.idem_max,
      max_clock_skew_ms: GENESIS_DEFAULTS.max_clock_skew_ms, license_grace_ms: GENESIS_DEFAULTS.license_grace_ms,
    });
    expect(g.value.config.window_policy['reverb']).toEqual(['review']);
    const s = core.genesis(g.value);
    expect(s.control.top).toBe('BOOT');
    expect(s.meta.chart_hash).toBe(core.chartHash);
    expect(Object.values(s.epochs).every((e) => e === 0)).toBe(true);
  });

  it('Given the same genesis twice, Then the same state hash; a changed field changes it', () => {
    const a = core.parseGenesis(castGenesis());
    const b = core.parseGenesis(castGenesis());
    const c = core.parseGenesis(castGenesis({ quorum_threshold: 3 }));
    if (!a.ok || !b.ok || !c.ok) throw new Error('genesis');
    expect(core.hashes(core.genesis(a.value)).head).toBe(core.hashes(core.genesis(b.value)).head);
    expect(core.hashes(core.genesis(c.value)).head).not.toBe(core.hashes(core.genesis(a.value)).head);
  });

  const table: [string, Record<string, unknown>, string, string][] = [
    ['not an object', [] as unknown as Record<string, unknown>, 'genesis', 'expected an object'],
    ['unknown field', { ...castGenesis(), colour: 'red' }, 'genesis.colour', 'unknown field'],
    ['bad instance id', castGenesis({ instance_id: '' }), 'genesis.instance_id', 'expected 1..200'],
    ['no identities', castGenesis({ identities: {} }), 'genesis.identities', 'at least one'],
    ['bad signer key', castGenesis({ identities: { 'hmmm:pubkey:XY': { roles: ['operator'] } } }), 'genesis.identities["hmmm:pubkey:XY"]', 'hmmm:pubkey'],
    ['unknown role', castGenesis({ identities: { [CAST.operator.signer]: { roles: ['wizard'] } } }), `genesis.identities["${CAST.operator.signer}"].roles`, 'unknown role "wizard"'],
    ['threshold 0', castGenesis({ quorum_threshold: 0 }), 'genesis.quorum_threshold', 'integer in 1..256'],
    ['float retention', castGenesis({ idem_retention_ms: 1.5 }), 'genesis.idem_retention_ms', 'integer'],
    ['unknown window class', castGenesis({ window_policy: { lunch: ['plan'] } }), 'genesis.window_policy.lunch', 'unknown window class'],
    ['unknown phase', castGenesis({ window_policy: { plan: ['dusk'] } }), 'genesis.window_policy.plan', 'unknown phase "dusk"'],
    ['bad pin', castGenesis({ mcp_pins: { tool: 3 } }), 'genesis.mcp_pins.tool', 'version string'],
    ['bad policy field', castGenesis({ policy: { version: 1, banned: [] } }), 'genesis.policy.banned', 'unknown field'],
  ];
  for (const [name, raw, path, message] of table) {
    it(`Given a genesis with ${name}, Then invalid_genesis at ${path}`, () => {
      const g = core.parseGenesis(raw);
      expect(g.ok).toBe(false);
      if (g.ok) return;
      expect(g.error.code).toBe('invalid_genesis');
      expect(g.error.path).toBe(path);
      expect(g.error.message).toContain(message);
    });
  }
});
