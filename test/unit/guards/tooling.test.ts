/** MCP tooling guard verdict table (guards/tooling). */
import { describe, it } from 'vitest';
import { toolingGuard } from '../../../src/core/guards/tooling.js';
import type { State } from '../../../src/core/index.js';
import { ctx, expectVerdict, genesisState } from './context.js';

type Tools = State['facts']['mcp']['tools'];
const s0 = genesisState(); // pins repo-tools at 1.2.0
const withTools = (tools: Tools): State => ({ ...s0, facts: { ...s0.facts, mcp: { hlc: null, tools } } });

describe('tooling guard', () => {
  it.each([
    ['no tool reported', 'tool_unreachable', {}],
    ['the pinned tool unreachable', 'tool_unreachable', { 'repo-tools': { reachable: false, version: '1.2.0' } }],
    ['the pinned tool at another version', 'tool_version_mismatch', { 'repo-tools': { reachable: true, version: '1.2.1' } }],
    ['the pinned tool reachable at its version', null, { 'repo-tools': { reachable: true, version: '1.2.0' } }],
    ['an extra unpinned tool down besides', null, {
      'repo-tools': { reachable: true, version: '1.2.0' }, other: { reachable: false, version: '0' },
    }],
  ] as const)('Given %s, When Council_McpGreen is checked, Then verdict %s (null: pass)', (_what, code, tools) => {
    expectVerdict(toolingGuard(ctx('Council_McpGreen', withTools(tools))), code);
  });
});
