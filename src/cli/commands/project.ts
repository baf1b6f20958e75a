/**
 * `swoosh project create <id> | list | show <id>`: the deployment's projects over HTTP
 * (contract v2 §4). `create` proposes Project_Create to the deployment chain, signed with an
 * admin or operator key, with the same --url/--key options as `propose`.
 */
import type { Command } from 'commander';
import { PROJECT_RE, type JsonObject } from '../../core/index.js';
import { HttpClient, Producer, type ProjectRowAnswer } from '../../sdk/index.js';
import { httpUrlOf } from '../connect.js';
import { fail } from '../options.js';
import { identityOf } from './propose.js';

interface CreateFlags {
  key?: string;
  url?: string;
  quorumThreshold?: string;
  approvalsThreshold?: string;
  mcpPin: string[];
  windowPolicy: string[];
  requiredRole: string[];
  json?: boolean;
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

function intFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^[0-9]{1,3}$/.test(v) || n < 1 || n > 256) {
    throw new Error(`--${name}: expected an integer in 1..256, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** Project_Create inputs from the flags; each bad flag is named. */
export function createInputs(id: string, o: CreateFlags): JsonObject {
  if (!PROJECT_RE.test(id)) {
    throw new Error(`project id ${JSON.stringify(id)}: expected ^[a-z0-9][a-z0-9-]{0,62}$`);
  }
  const q = intFlag('quorum-threshold', o.quorumThreshold);
  const a = intFlag('approvals-threshold', o.approvalsThreshold);
  const pins = o.mcpPin.map((p) => {
    const m = /^([^=]+)=(.+)$/.exec(p);
    if (m === null) throw new Error(`--mcp-pin ${JSON.stringify(p)}: expected tool=version`);
    return { tool: m[1] ?? '', version: m[2] ?? '' };
  });
  const windows = o.windowPolicy.map((w) => {
    const m = /^([^=]+)=([a-z,]*)$/.exec(w);
    if (m === null) {
      throw new Error(`--window-policy ${JSON.stringify(w)}: expected class=phase[,phase]`);
    }
    return { class: m[1] ?? '', phases: (m[2] ?? '').split(',').filter((x) => x !== '') };
  });
  return {
    project: id,
    ...(q === undefined ? {} : { quorum_threshold: q }),
    ...(a === undefined ? {} : { approvals_threshold: a }),
    ...(pins.length === 0 ? {} : { mcp_pins: pins }),
    ...(windows.length === 0 ? {} : { window_policy: windows }),
    ...(o.requiredRole.length === 0 ? {} : { required_roles: o.requiredRole }),
  };
}

function row(r: ProjectRowAnswer): string {
  return `${r.project.padEnd(24)} ${r.top.padEnd(18)} bucket ${String(r.bucket).padStart(2)}  ` +
    `${r.hash.slice(0, 19)}…  hlc ${r.hlc_last ?? '-'}`;
}

/** Register the command. */
export function registerProject(program: Command): void {
  const p = program
    .command('project')
    .description("Create, list and show the deployment's projects.");
  p.command('create <id>')
    .description(
      'Start a project (Project_Create, an admin or operator key). Parameters left out take ' +
      "the genesis values. Exit 0 when accepted, 1 when refused, 2 on error.",
    )
    .option('--key <file>', 'key file of the proposer [env SWOOSH_KEY_FILE; default: the dev key]')
    .option('--url <url>', 'SWOOSH HTTP API [env SWOOSH_URL; default: .swoosh/dev.json]')
    .option('--quorum-threshold <n>', 'valid council votes a quorum certificate needs')
    .option('--approvals-threshold <n>', 'distinct member approvals REVIEW needs')
    .option(
      '--mcp-pin <tool=version>',
      'a required MCP tool and its version (repeatable)',
      collect,
      [],
    )
    .option(
      '--window-policy <class=phases>',
      'phases a window class may act in, e.g. plan=plan (repeatable)',
      collect,
      [],
    )
    .option(
      '--required-role <role>',
      'a council role every role plan of the project must name (repeatable)',
      collect,
      [],
    )
    .option('--json', 'print the answer as JSON')
    .addHelpText('after', `
Examples:
  $ swoosh project create chorus-api
  $ swoosh project create chorus-db --required-role architect --required-role dba
  $ swoosh project create chorus-web --quorum-threshold 3 --mcp-pin repo-tools=1.2.0`)
    .action(async (id: string, o: CreateFlags) => {
      try {
        const inputs = createInputs(id, o);
        const http = new HttpClient(httpUrlOf(o.url));
        const producer = new Producer({ identity: await identityOf(o.key), http });
        const a = await producer.propose('Project_Create', inputs);
        if (o.json === true) process.stdout.write(`${JSON.stringify(a)}\n`);
        else if (a.kind === 'accepted') {
          process.stdout.write(`created ${id} wal_seq=${a.wal_seq} dr=${a.dr_id}\n`);
        } else if (a.kind === 'rejected') {
          process.stdout.write(`refused ${id}: ${a.code}: ${a.message}\n`);
        } else {
          process.stdout.write(`${a.kind}: ${JSON.stringify(a)}\n`);
        }
        process.exitCode =
          a.kind === 'accepted' ? 0 : a.kind === 'rejected' || a.kind === 'invalid' ? 1 : 2;
      } catch (err) {
        fail(err);
      }
    });
  p.command('list')
    .description('Every project: id, top state, bucket, HEAD and last HLC (all pages).')
    .option('--url <url>', 'SWOOSH HTTP API [env SWOOSH_URL; default: .swoosh/dev.json]')
    .option('--json', 'one JSON row per line')
    .action(async (o: { url?: string; json?: boolean }) => {
      try {
        const http = new HttpClient(httpUrlOf(o.url));
        let after: string | undefined;
        for (;;) {
          const page = await http.projects(after === undefined ? {} : { after });
          if (page.kind !== 'ok') throw new Error(`GET /projects failed: ${JSON.stringify(page)}`);
          for (const r of page.body.projects) {
            process.stdout.write(`${o.json === true ? JSON.stringify(r) : row(r)}\n`);
          }
          if (page.body.next === null) break;
          after = page.body.next;
        }
      } catch (err) {
        fail(err);
      }
    });
  p.command('show <id>')
    .description("A project's state: hashes, last HLC, WAL position and the sections asked for.")
    .option('--url <url>', 'SWOOSH HTTP API [env SWOOSH_URL; default: .swoosh/dev.json]')
    .option('--projection <sections>', 'comma-separated sections (default: all)')
    .action(async (id: string, o: { url?: string; projection?: string }) => {
      try {
        const s = await new HttpClient(httpUrlOf(o.url)).state(o.projection, id);
        process.stdout.write(`${JSON.stringify(s.kind === 'ok' ? s.body : s, null, 2)}\n`);
        process.exitCode = s.kind === 'ok' ? 0 : 1;
      } catch (err) {
        fail(err);
      }
    });
}
