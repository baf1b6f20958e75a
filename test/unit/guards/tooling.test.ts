/** MCP tooling guard verdict table (guards/tooling). */
import { describe, it } from 'vitest';
import { toolingGuard } from '../../../guards/tooling/index.js';
import type { State } from '../../../src/core/index.js';
import { ctx, expectVerdict, genesisState } from './context.js';

type Tools = State['facts']['mcp']['tools'];
const s0 = genesisState(); // pins repo-tools at 1.2.0
const withTools = (tools: Tools): State => ({ ...s0, facts: { ...s0.facts, mcp: { hlc: null, tools } } });

describe('tooling guard', () => {
  it.each([
    ['no tool reported', {}, 'tool_unreachable'],
    ['the pinned tool unreachable', { 'repo-tools': { reachable: false, version: '1.2.0' } }, 'tool_unreachable'],
    ['the pinned tool at another version', { 'repo-tools': { reachable: true, version: '1.2.1' } }, 'tool_version_mismatch'],
    ['the pinned tool reachable at its version', { 'repo-tools': { reachable: true, version: '1.2.0' } }, null],
    ['an extra unpinned tool down besides', {
      'repo-tools': { reachable: true, version: '1.2.0' }, other: { reachable: false, version: '0' },
    }, null],
  ] as const)('Given %s, When Council_McpGreen is checked, Then %s', (_what, tools, code) => {
    expectVerdict(toolingGuard(ctx('Council_McpGreen', withTools(tools))), code);
  });
});
