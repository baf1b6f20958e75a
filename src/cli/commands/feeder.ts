/**
 * `swoosh feeder license|backbeat|mcp|policy|tick`: the production feeders (docs/feeders.md).
 * Each is a long-running process that signs facts with a key file whose signer has the
 * `feeder` role in the genesis. Every option can also come from the environment variable
 * shown in `--help`; a flag wins over the variable.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  connectNats, PUBLISH_RETRIES_DEFAULT, PUBLISH_RETRIES_MAX, PUBLISH_TIMEOUT_MS_DEFAULT,
  runFeederProcess, type FeederContext, type FeederProcessOptions, type Started,
} from '../../feeders/common.js';
import { startBackbeatFeeder } from '../../feeders/backbeat.js';
import { loggableUrl } from '../../feeders/http-get.js';
import { LICENSE_DEFAULTS, startLicenseFeeder } from '../../feeders/license.js';
import { loadMcpConfig, MCP_DEFAULTS, startMcpFeeder } from '../../feeders/mcp.js';
import { POLICY_DEFAULTS, startPolicyFeeder, type PolicySource } from '../../feeders/policy.js';
import { startTickFeeder, TICK_DEFAULTS } from '../../feeders/tick.js';
import { natsAuthValuesFor, natsUrlOf, prefixOf } from '../connect.js';
import {
  env,
  fail,
  natsAuthFromOptions,
  parsePositive,
  withNatsAuthOptions,
} from '../options.js';

/** Options every feeder command takes. */
interface CommonFlags {
  natsUrl?: string;
  prefix?: string;
  keyFile?: string;
  logLevel: string;
  publishRetries: number;
  publishTimeoutMs: number;
}

function parseNonNegative(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer ≥ 0');
  return n;
}

/** An option also read from `envName`. */
function opt(flags: string, description: string, envName: string): Option {
  return new Option(flags, description).env(envName);
}

/** An integer option with a default, also read from `envName`; positive unless `zeroOk`. */
function intOpt(
  flags: string,
  description: string,
  envName: string,
  dflt: number,
  zeroOk = false,
): Option {
  const parse = zeroOk ? parseNonNegative : parsePositive;
  return opt(flags, description, envName).argParser(parse).default(dflt);
}

/** `--<flag> (or <ENV>) is required` unless `v` is set. */
function required<T>(v: T | undefined, flag: string, envName: string): T {
  if (v === undefined) throw new Error(`--${flag} (or ${envName}) is required`);
  return v;
}

function withCommon(cmd: Command): Command {
  return withNatsAuthOptions(cmd)
    .addOption(opt('--nats-url <url>',
      'NATS server(s) of the WAL, comma-separated (else dev.json)', 'NATS_URL'))
    .addOption(opt('--prefix <prefix>',
      'subject prefix (else dev.json, else swoosh)', 'SWOOSH_PREFIX'))
    .addOption(opt('--key-file <file>',
      'key file of a signer with the feeder role (required)', 'SWOOSH_FEEDER_KEY_FILE'))
    .addOption(opt('--log-level <level>', 'log level', 'SWOOSH_LOG_LEVEL').default('info'))
    .addOption(intOpt('--publish-retries <n>',
      `retries of a failed publish, 0..${PUBLISH_RETRIES_MAX}`,
      'SWOOSH_FEEDER_PUBLISH_RETRIES', PUBLISH_RETRIES_DEFAULT, true))
    .addOption(intOpt('--publish-timeout-ms <ms>', 'how long a publish waits for its ack',
      'SWOOSH_FEEDER_PUBLISH_TIMEOUT_MS', PUBLISH_TIMEOUT_MS_DEFAULT));
}

function processOptions(name: string, o: CommonFlags): FeederProcessOptions {
  const keyFile = required(o.keyFile, 'key-file', 'SWOOSH_FEEDER_KEY_FILE');
  return {
    name, natsUrl: natsUrlOf(o.natsUrl), prefix: prefixOf(o.prefix), keyFile,
    logLevel: o.logLevel, publishRetries: o.publishRetries, publishTimeoutMs: o.publishTimeoutMs,
    natsAuthValues: natsAuthValuesFor(o as unknown as Record<string, unknown>, o.natsUrl,
      'feeder'),
  };
}

/** Run feeder `name` as this process; failures end it with one line on stderr. */
function run(
  name: string,
  o: CommonFlags,
  start: (ctx: FeederContext) => Promise<Started>,
): Promise<void> {
  return Promise.resolve()
    .then(() => runFeederProcess(processOptions(name, o), start))
    .catch(fail);
}

const COMMON_HELP = `
Prints one {"event":"ready",...} line once running; stops on SIGINT/SIGTERM.
See docs/feeders.md.`;

interface LicenseFlags extends CommonFlags {
  url?: string; licenseId?: string; queryParam: string; tokenEnv: string; refreshMs: number;
  jitterPct: number; reaffirmMs: number; maxFailures: number; timeoutMs: number;
}

function registerLicense(feeder: Command): void {
  const d = LICENSE_DEFAULTS;
  withCommon(feeder.command('license'))
    .description('KACHING licence validation over HTTP → license facts (active | revoked).')
    .addOption(opt('--url <url>', 'KACHING validation endpoint (required)', 'SWOOSH_LICENSE_URL'))
    .addOption(opt('--license-id <id>', 'licence id to validate (required)', 'SWOOSH_LICENSE_ID'))
    .addOption(opt('--query-param <name>', 'query parameter carrying the licence id',
      'SWOOSH_LICENSE_QUERY_PARAM').default(d.queryParam))
    .addOption(opt('--token-env <name>', 'variable holding the bearer token (unset: no token)',
      'SWOOSH_LICENSE_TOKEN_ENV').default('KACHING_TOKEN'))
    .addOption(intOpt('--refresh-ms <ms>', 'time between checks',
      'SWOOSH_LICENSE_REFRESH_MS', d.refreshMs))
    .addOption(intOpt('--jitter-pct <pct>', 'random ± jitter of the refresh, 0..90',
      'SWOOSH_LICENSE_JITTER_PCT', d.jitterPct, true))
    .addOption(intOpt('--reaffirm-ms <ms>', 're-publish an unchanged status this often',
      'SWOOSH_LICENSE_REAFFIRM_MS', d.reaffirmMs))
    .addOption(intOpt('--max-failures <n>', 'consecutive failed checks that count as revoked',
      'SWOOSH_LICENSE_MAX_FAILURES', d.maxFailures))
    .addOption(intOpt('--timeout-ms <ms>', 'timeout of one check',
      'SWOOSH_LICENSE_TIMEOUT_MS', d.timeoutMs))
    .addHelpText('after', `
Example:
  $ export KACHING_TOKEN=…   # never logged
  $ swoosh feeder license --url https://kaching.example/v1/licenses/validate \\
      --license-id LIC-0042 --key-file feeder.key.json --nats-url nats://nats-1:4222
  {"event":"ready","feeder":"license","prefix":"swoosh","subject":"swoosh.facts.license",…}
${COMMON_HELP}`)
    .action((o: LicenseFlags) => run('license', o, async (ctx) => {
      const url = required(o.url, 'url', 'SWOOSH_LICENSE_URL');
      const licenseId = required(o.licenseId, 'license-id', 'SWOOSH_LICENSE_ID');
      const token = env(o.tokenEnv);
      const feeder = await startLicenseFeeder(ctx, {
        url, licenseId, queryParam: o.queryParam, token, refreshMs: o.refreshMs,
        jitterPct: o.jitterPct, reaffirmMs: o.reaffirmMs, maxFailures: o.maxFailures,
        timeoutMs: o.timeoutMs,
      });
      const ready = {
        url: loggableUrl(url), license_id: licenseId, auth: token === undefined ? 'none' : 'bearer',
        refresh_ms: o.refreshMs, max_failures: o.maxFailures,
      };
      return { feeder, ready };
    }));
}

interface BackbeatFlags extends CommonFlags {
  subject?: string; sourceUrl?: string; queue?: string;
}

function registerBackbeat(feeder: Command): void {
  withCommon(feeder.command('backbeat'))
    .description('Bridge BACKBEAT INT-A beat frames (JSON on a NATS subject) → backbeat facts.')
    .addOption(opt('--subject <subject>', 'subject carrying the beat frames (required)',
      'SWOOSH_BACKBEAT_SUBJECT'))
    .addOption(opt('--source-url <url>', 'NATS server(s) of the frames (default: --nats-url)',
      'SWOOSH_BACKBEAT_URL'))
    .addOption(opt('--queue <group>', 'queue group, so several bridges share the frames',
      'SWOOSH_BACKBEAT_QUEUE'))
    .addHelpText('after', `
Example:
  $ swoosh feeder backbeat --subject backbeat.cluster-a.beat \\
      --source-url nats://backbeat:4222 --key-file feeder.key.json
  {"event":"ready","feeder":"backbeat","subject":"swoosh.facts.backbeat",…}
Frames are checked against BACKBEAT's INT-A schema (beatframe v1.0.0) and recorded as
published; invalid frames are dropped with a warning naming the field.
${COMMON_HELP}`)
    .action((o: BackbeatFlags) => run('backbeat', o, async (ctx) => {
      const subject = required(o.subject, 'subject', 'SWOOSH_BACKBEAT_SUBJECT');
      const own = o.sourceUrl !== undefined;
      const source = o.sourceUrl === undefined
        ? ctx.nc
        : await connectNats(o.sourceUrl, 'swoosh-feeder-backbeat-source',
          natsAuthFromOptions(o as unknown as Record<string, unknown>));
      // The subscription ended without a stop: exit so a supervisor restarts the bridge.
      const onSourceLost = (): void => process.exit(1);
      const feeder = await startBackbeatFeeder(ctx, {
        source, subject, queue: o.queue, ownsSource: own, onSourceLost,
      });
      const ready = { source_subject: subject, source: own ? 'separate' : 'same', queue: o.queue };
      return { feeder, ready: { ...ready, queue: o.queue ?? null } };
    }));
}

interface McpFlags extends CommonFlags {
  config?: string; intervalMs: number; reaffirmMs: number; timeoutMs: number;
}

function registerMcp(feeder: Command): void {
  const d = MCP_DEFAULTS;
  withCommon(feeder.command('mcp'))
    .description('Probe MCP tools over HTTP (each answers {"version":…}) → mcp facts.')
    .addOption(opt('--config <file>', 'tools file, JSON or YAML: {tools: [{name, url}]} (required)',
      'SWOOSH_MCP_CONFIG'))
    .addOption(intOpt('--interval-ms <ms>', 'time between probe rounds',
      'SWOOSH_MCP_INTERVAL_MS', d.intervalMs))
    .addOption(intOpt('--reaffirm-ms <ms>', 're-publish an unchanged list this often',
      'SWOOSH_MCP_REAFFIRM_MS', d.reaffirmMs))
    .addOption(intOpt('--timeout-ms <ms>', 'timeout of one probe',
      'SWOOSH_MCP_TIMEOUT_MS', d.timeoutMs))
    .addHelpText('after', `
Example:
  $ cat mcp-tools.yaml
  tools:
    - { name: search, url: "http://search:8080/version" }
    - { name: fetch,  url: "http://fetch:8080/version" }
  $ swoosh feeder mcp --config mcp-tools.yaml --key-file feeder.key.json
  {"event":"ready","feeder":"mcp","subject":"swoosh.facts.mcp","tools":2,…}
${COMMON_HELP}`)
    .action((o: McpFlags) => run('mcp', o, async (ctx) => {
      const config = required(o.config, 'config', 'SWOOSH_MCP_CONFIG');
      const tools = loadMcpConfig(config);
      const feeder = await startMcpFeeder(ctx, {
        tools, intervalMs: o.intervalMs, reaffirmMs: o.reaffirmMs, timeoutMs: o.timeoutMs,
      });
      return { feeder, ready: { config, tools: tools.length, interval_ms: o.intervalMs } };
    }));
}

interface PolicyFlags extends CommonFlags {
  file?: string; kvBucket?: string; kvKey: string; intervalMs: number;
}

function policySource(o: PolicyFlags): PolicySource {
  if ((o.file === undefined) === (o.kvBucket === undefined)) {
    const which = '--file (SWOOSH_POLICY_FILE) and --kv-bucket (SWOOSH_POLICY_KV_BUCKET)';
    throw new Error(`give exactly one of ${which}`);
  }
  if (o.file !== undefined) return { type: 'file', path: o.file };
  return { type: 'kv', bucket: o.kvBucket ?? '', key: o.kvKey };
}

function registerPolicy(feeder: Command): void {
  withCommon(feeder.command('policy'))
    .description('Load SHHH policy rules from a file or NATS KV → a policy fact per new version.')
    .addOption(opt('--file <file>', 'policy file, JSON (.json) or YAML; its mtime is polled',
      'SWOOSH_POLICY_FILE'))
    .addOption(opt('--kv-bucket <bucket>', 'KV bucket holding the policy (watched)',
      'SWOOSH_POLICY_KV_BUCKET'))
    .addOption(opt('--kv-key <key>', 'KV key of the policy', 'SWOOSH_POLICY_KV_KEY')
      .default('policy'))
    .addOption(intOpt('--interval-ms <ms>', 'file poll interval (and KV publish retry)',
      'SWOOSH_POLICY_INTERVAL_MS', POLICY_DEFAULTS.intervalMs))
    .addHelpText('after', `
Example:
  $ cat policy.yaml
  version: 7
  denied_source_patterns: ["ucxl://untrusted/*"]
  max_council_size: 9
  required_evidence: { Execution_SubmitApproval: ["bubble://dr/"] }
  $ swoosh feeder policy --file policy.yaml --key-file feeder.key.json
  {"event":"ready","feeder":"policy","subject":"swoosh.facts.policy","source":"file",…}
A policy that fails validation or does not raise the version is refused: logged with the
field, never published.
${COMMON_HELP}`)
    .action((o: PolicyFlags) => run('policy', o, async (ctx) => {
      const source = policySource(o);
      const feeder = await startPolicyFeeder(ctx, { source, intervalMs: o.intervalMs });
      return { feeder, ready: { source: source.type, version: feeder.stats().version } };
    }));
}

function registerTick(feeder: Command): void {
  withCommon(feeder.command('tick'))
    .description('Publish an empty tick fact every interval: deadlines pass at a logged instant.')
    .addOption(intOpt('--interval-ms <ms>', 'time between ticks (at least 10)',
      'SWOOSH_TICK_INTERVAL_MS', TICK_DEFAULTS.intervalMs))
    .addHelpText('after', `
Example:
  $ swoosh feeder tick --interval-ms 5000 --key-file feeder.key.json
  {"event":"ready","feeder":"tick","subject":"swoosh.facts.tick","interval_ms":5000,…}
Ticks only matter while a deadline is pending (licence grace, a window's deadline_at); running
always at a coarse interval is fine: a deadline is acted on at most one interval late.
${COMMON_HELP}`)
    .action((o: CommonFlags & { intervalMs: number }) => run('tick', o, async (ctx) => {
      const feeder = await startTickFeeder(ctx, { intervalMs: o.intervalMs });
      return { feeder, ready: { interval_ms: o.intervalMs } };
    }));
}

/** Register `swoosh feeder` and its five subcommands. */
export function registerFeeder(program: Command): void {
  const feeder = program
    .command('feeder')
    .description('Run a production feeder: turn the outside world into signed facts.')
    .addHelpText('after', `
Examples:
  $ swoosh feeder license --url https://kaching.example/v1/validate --license-id LIC-0042 \\
      --key-file f.key.json
  $ swoosh feeder backbeat --subject backbeat.cluster-a.beat --key-file f.key.json
  $ swoosh feeder mcp --config mcp-tools.yaml --key-file f.key.json
  $ swoosh feeder policy --file policy.yaml --key-file f.key.json
  $ swoosh feeder tick --interval-ms 5000 --key-file f.key.json`);
  registerLicense(feeder);
  registerBackbeat(feeder);
  registerMcp(feeder);
  registerPolicy(feeder);
  registerTick(feeder);
}
