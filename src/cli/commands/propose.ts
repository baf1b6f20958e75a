/**
 * `swoosh propose`: build, sign and submit a proposal, print the decision. Reads the current
 * hash from GET /state (region hash for region-scoped transitions), keeps an HLC, and for
 * BACKBEAT-gated transitions waits until the open window's phase allows the transition.
 */
import { unlockAgeFiles } from '../../protocol/age-secrets.js';
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { CHART, type JsonObject, assertNever, isJsonObject, parseHlc } from '../../core/index.js';
import {
  HttpClient,
  Producer,
  buildVote,
  loadIdentity,
  memberSetHash,
  quorumCertInputs,
  signVote,
  type Identity,
  type StateAnswer,
  type SubmitAnswer,
} from '../../sdk/index.js';
import { httpUrlOf, readDevConnection } from '../connect.js';
import { env, fail } from '../options.js';

/** How long to wait for a permitted beat phase before giving up. */
export const WAIT_WINDOW_MS_MAX = 60_000;

interface ProposeFlags {
  project?: string;
  inputs?: string;
  inputsFile?: string;
  key?: string;
  url?: string;
  window?: string;
  evidence: string[];
  idemKey?: string;
  fill?: boolean;
  json?: boolean;
  wait: boolean;
  retries: string;
}

function inputsOf(o: ProposeFlags): JsonObject {
  const text = o.inputsFile !== undefined ? readFileSync(o.inputsFile, 'utf8') : o.inputs;
  if (text === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`--inputs: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isJsonObject(v)) throw new Error('--inputs: expected a JSON object');
  return v;
}

export async function identityOf(flag: string | undefined): Promise<Identity> {
  const path = flag ?? env('SWOOSH_KEY_FILE') ?? readDevConnection()?.dev_keys ?? undefined;
  if (path === undefined || path === null) {
    throw new Error(
      'no key: pass --key FILE, set SWOOSH_KEY_FILE, or run `npm start` (swoosh dev) first',
    );
  }
  await unlockAgeFiles([path]);
  return loadIdentity(path);
}

async function stateOf(
  http: HttpClient,
  projection: string,
  project: string | undefined,
): Promise<StateAnswer> {
  const s = await http.state(projection, project);
  if (s.kind !== 'ok') {
    throw new Error(`GET ${project === undefined ? '/state' : `/projects/${project}/state`} ` +
      `failed: ${JSON.stringify(s)}`);
  }
  return s.body;
}

/** Inputs derived from the state for transitions whose inputs are all known to the server. */
async function fill(
  http: HttpClient,
  transition: string,
  id: Identity,
  given: JsonObject,
  project: string | undefined,
): Promise<JsonObject> {
  const state = await stateOf(http, 'Council,Ingestion,Environment,Execution', project);
  const p = state.projection as Record<
    string,
    Record<string, unknown>
  >;
  const council = p['council'] ?? {};
  switch (transition) {
    case 'Council_QuorumCert': {
      const plan = council['plan'] as { assignments: { agent: string }[] } | null;
      const members = [...new Set((plan?.assignments ?? []).map((a) => a.agent))].sort();
      const term = council['term'] as number;
      const vote = signVote(
        buildVote({ voter: id.signer, memberSetHash: memberSetHash(members), term, project }),
        id,
      );
      return { ...quorumCertInputs({ members, term, votes: [vote] }), ...given };
    }
    case 'Lifecycle_AllReady':
      return {
        pins: {
          content_hash: p['ingestion']?.['content_hash'] ?? null,
          ingestion_version: p['ingestion']?.['version'] ?? null,
          member_set_hash: council['member_set_hash'] ?? null,
          env_version: p['environment']?.['env_version'] ?? null,
        },
        ...given,
      } as JsonObject;
    case 'Execution_SubmitApproval':
      return { work_hash: p['execution']?.['work_hash'] ?? null, ...given } as JsonObject;
    default:
      throw new Error(
        `--fill knows Council_QuorumCert, Lifecycle_AllReady and Execution_SubmitApproval, not ` +
        `${transition}`,
      );
  }
}

/**
 * Part of a beat that must still be ahead when a time-gated proposal is sent. The phase the
 * window guard sees is the latest beat frame's at the entry's log time, so a proposal sent in
 * the last moments of a beat lands in the next phase; waiting for a fresh beat leaves it half a
 * beat (500 ms at 60 bpm) to be published and logged.
 */
const BEAT_MARGIN_FRACTION = 0.5;

/** One beat's length in ms at the frame's tempo (60 bpm when unknown); state keeps milli-bpm. */
function beatMs(beat: { tempo_mbpm?: number }): number {
  const m = beat.tempo_mbpm;
  return typeof m === 'number' && m > 0 ? 60_000_000 / m : 1000;
}

/** Time left in the beat the frame opened, by its producer's HLC (0 when unknown). */
function beatTimeLeftMs(beat: { hlc?: string; tempo_mbpm?: number }): number {
  const h = typeof beat.hlc === 'string' ? parseHlc(beat.hlc) : null;
  return h === null || !h.ok ? 0 : h.hlc.ms + beatMs(beat) - Date.now();
}

/** Wait until the latest beat frame opens a window this transition's class may act in. */
async function waitForWindow(
  http: HttpClient,
  transition: string,
  project: string | undefined,
): Promise<string> {
  const spec = CHART.transitions.find((t) => t.name === transition);
  const cls = spec?.window_class;
  if (cls === undefined) return '';
  const phases = CHART.window_classes[cls]?.phases ?? [];
  const needsNew = CHART.window_classes[cls]?.new_window === true;
  const until = Date.now() + WAIT_WINDOW_MS_MAX;
  while (Date.now() < until) {
    const p = (await stateOf(http, 'Facts,Execution', project)).projection as Record<
      string,
      Record<string, unknown>
    >;
    const beat = (p['facts']?.['backbeat'] ?? {}) as {
      phase?: string;
      window_id?: string;
      deadline_ms?: number;
      hlc?: string;
      tempo_mbpm?: number;
    };
    const planned = p['execution']?.['window_id'];
    const open =
      beat.phase !== undefined &&
      phases.includes(beat.phase) &&
      (beat.deadline_ms ?? 0) > Date.now() + 200 &&
      beatTimeLeftMs(beat) >= BEAT_MARGIN_FRACTION * beatMs(beat);
    if (open && beat.window_id !== undefined && (!needsNew || beat.window_id !== planned)) {
      return beat.window_id;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `no window allowing ${transition} (phases ${phases.join('|')}) opened within ` +
    `${WAIT_WINDOW_MS_MAX / 1000} s; is the BACKBEAT feeder running?`,
  );
}

function print(a: SubmitAnswer, json: boolean, transition: string): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...a })}\n`);
    return;
  }
  switch (a.kind) {
    case 'accepted':
      process.stdout.write(
        `accepted${a.duplicate ? ' (duplicate of an earlier proposal)' : ''} ${transition} ` +
        `wal_seq=${a.wal_seq} dr=${a.dr_id} state=${a.state_hash}\n`,
      );
      return;
    case 'rejected':
      process.stdout.write(
        `rejected ${transition}: ${a.code} (${a.failing_guard ?? '-'}): ${a.message} ` +
        `dr=${a.dr_id}\n`,
      );
      return;
    case 'invalid':
      process.stdout.write(
        `${a.httpStatus === 403 ? 'refused by the gateway' : 'invalid proposal'} (${a.code}) ` +
        `at ${a.path === '' ? '(body)' : a.path}: ${a.message}\n`,
      );
      return;
    case 'timeout':
      process.stdout.write(
        `timeout: in the WAL at seq ${a.wal_seq}, no decision yet: ${a.message}\n`,
      );
      return;
    case 'error':
      process.stdout.write(`error ${a.httpStatus}: ${JSON.stringify(a.body)}\n`);
      return;
  }
  assertNever(a, 'answer');
}

/** Register the command. */
export function registerPropose(program: Command): void {
  program
    .command('propose <transition>')
    .description(
      'Build, sign and submit a proposal over HTTP, then print the decision. Exit 0 when ' +
      'accepted, 1 when refused, 2 on timeout or error.',
    )
    .option(
      '--project <id>',
      'the project (signed into the proposal) [default: none, the v1 form: project default]',
    )
    .option('--inputs <json>', 'inputs as a JSON object')
    .option('--inputs-file <file>', 'inputs from a JSON file')
    .option(
      '--fill',
      "derive inputs the server knows (Council_QuorumCert: planned members + this key's vote; " +
      "Lifecycle_AllReady: pins; Execution_SubmitApproval: work hash)",
    )
    .option('--key <file>', 'key file of the proposer [env SWOOSH_KEY_FILE; default: the dev key]')
    .option('--url <url>', 'SWOOSH HTTP API [env SWOOSH_URL; default: .swoosh/dev.json]')
    .option('--window <id>', 'window_id (default: the open window, for time-gated transitions)')
    .option('--no-wait', 'do not wait for a permitted beat phase')
    .option(
      '--evidence <ref>',
      'evidence reference (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option(
      '--idem-key <key>',
      'idempotency key (default <transition>:<uuid>); reuse one to retry safely',
    )
    .option('--retries <n>', 'resubmissions after stale_state_hash / hlc_regression', '3')
    .option('--json', 'print the answer as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ swoosh propose Boot_ConfigOk --inputs '{"config_hash":"sha256-${'0'.repeat(64)}"}'
  $ swoosh propose Council_QuorumCert --fill
  $ swoosh propose Boot_ConfigOk --project chorus-api --inputs '{"config_hash":"sha256-…"}'
  $ swoosh propose Execution_PlanLocked --inputs '{"plan_hash":"sha256-${'1'.repeat(64)}"}'`,
    )
    .action(async (transition: string, o: ProposeFlags) => {
      try {
        if (!CHART.transitions.some((t) => t.name === transition)) {
          throw new Error(`unknown transition ${transition} (see docs/statechart.md)`);
        }
        const http = new HttpClient(httpUrlOf(o.url));
        const id = await identityOf(o.key);
        let inputs = inputsOf(o);
        if (o.fill === true) inputs = await fill(http, transition, id, inputs, o.project);
        const windowId =
          o.window ?? (o.wait ? await waitForWindow(http, transition, o.project) : '');
        const producer = new Producer({
          identity: id, http, retries: Number(o.retries),
          ...(o.project === undefined ? {} : { project: o.project }),
        });
        const a = await producer.propose(transition, inputs, {
          ...(windowId !== '' ? { windowId } : {}),
          evidence: o.evidence,
          ...(o.idemKey !== undefined ? { idemKey: o.idemKey } : {}),
        });
        print(a, o.json === true, transition);
        process.exitCode =
          a.kind === 'accepted' ? 0 : a.kind === 'rejected' || a.kind === 'invalid' ? 1 : 2;
      } catch (err) {
        fail(err);
      }
    });
}
