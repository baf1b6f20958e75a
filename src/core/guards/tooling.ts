/** MCP tooling guard: every pinned tool reachable at its pinned version (facts.mcp). */
import { deny, pass, type GuardFn } from './contract.js';

/** Passes when every tool in the genesis pins is reachable at exactly its pinned version. */
export const toolingGuard: GuardFn = ({ state }) => {
  const pins = state.meta.config.mcp_pins;
  const tools = state.facts.mcp.tools;
  const unreachable: string[] = [];
  const mismatched: string[] = [];
  for (const tool of Object.keys(pins).sort()) {
    const seen = tools[tool];
    if (seen === undefined || !seen.reachable) unreachable.push(`${tool}: unreachable or unknown`);
    else if (seen.version !== pins[tool]) {
      mismatched.push(`${tool}: version ${seen.version}, pinned ${pins[tool] ?? ''}`);
    }
  }
  if (unreachable.length > 0) return deny('tool_unreachable', ...unreachable, ...mismatched);
  if (mismatched.length > 0) return deny('tool_version_mismatch', ...mismatched);
  return pass(`${Object.keys(pins).length} pinned tools reachable at their versions`);
};
