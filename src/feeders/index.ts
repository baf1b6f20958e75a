/**
 * The production feeders (ARCHITECTURE §6, docs/feeders.md): each turns one part of the
 * outside world into signed facts. `swoosh feeder …` runs them as processes.
 */
export {
  connectNats, FactHeldError, FactPublisher, FactRefusedError, LicenceGate, Loop,
  openFeederContext, reportUnpublished, resumeFrom,
  runFeederProcess, type Feeder, type FeederContext, type FeederProcessOptions, type LastFact,
  type PublishedFact, type Started,
} from './common.js';
export { getJson, loggableUrl, type GetJsonResult } from './http-get.js';
export {
  LICENSE_DEFAULTS, parseLicenseAnswer, startLicenseFeeder, type LicenseFeederOptions,
  type LicenseStats,
} from './license.js';
export {
  BEAT_FRAME_FIELDS, frameToPayload, startBackbeatFeeder, type BackbeatFeederOptions,
  type BackbeatStats,
} from './backbeat.js';
export {
  loadMcpConfig, MCP_DEFAULTS, parseMcpConfig, startMcpFeeder, type McpFeederOptions,
  type McpStats, type McpTool,
} from './mcp.js';
export {
  parsePolicyText, POLICY_DEFAULTS, startPolicyFeeder, type PolicyFeederOptions,
  type PolicySource, type PolicyStats,
} from './policy.js';
export { startTickFeeder, TICK_DEFAULTS, type TickFeederOptions, type TickStats } from './tick.js';
