/**
 * Core benchmark (`npx tsx src/proving/bench/micro/core.ts`): decisions per second through decide +
 * evolve (step, with
 * invariants and hashing), without and with Ed25519 verification, and how the rate changes as
 * the state grows from ~10 KB to ~10 MB. Not part of `npm test`: figures, not assertions.
 *
 * Streams are generated first (signing is the producers' cost, not the core's), then timed:
 *   - "core":         WAL entries already carrying verdicts → core.step
 *   - "core+verify":  raw signed messages → node:crypto verification → core.step
 * The large state is a 10 MB identity registry (src/proving/bench/workload.ts genesisOfSize, shared
 * with
 * `swoosh bench`'s scale section): realistic, and untouched by most transitions, which is
 * exactly what the Merkle section cache is for.
 *
 * Usage: npx tsx src/proving/bench/micro/core.ts [--entries 20000] [--json]
 */
import { type Core, type State, type WalEntry, createCore, jcs } from '../../../core/index.js';
import { nodeHasher } from '../../../crypto/hasher.js';
import { createNodeVerifier } from '../../../crypto/verify.js';
import { entryFromRaw, type RawSigned } from '../../../protocol/entry.js';
import { CHAOS, generateStream, type FaultRates } from '../../sim/stream.js';
import { genesisOfSize } from '../workload.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const ENTRIES = flag('entries', 20_000);
const JSON_OUT = args.includes('--json');
const log = (msg: string): void => {
  if (!JSON_OUT) process.stderr.write(`${msg}\n`);
};

function genesisState(core: Core, raw: Record<string, unknown>): State {
  const g = core.parseGenesis(raw);
  if (!g.ok) throw new Error(g.error.message);
  return core.genesis(g.value);
}

function toRaw(sigs: ReadonlyMap<string, Uint8Array>, e: WalEntry): RawSigned | null {
  if (e.type !== 'signed') return null;
  const sig = sigs.get(e.body);
  if (sig === undefined) return null;
  return {
    seq: e.seq,
    logMs: e.log_ms,
    channel: e.channel,
    name: e.name,
    body: new TextEncoder().encode(e.body),
    sig,
  };
}

interface Row {
  readonly scenario: string;
  /** JCS size of the state at genesis (what the scenario is named after). */
  readonly genesis_state_bytes: number;
  /** JCS size at the end: the idempotency memory grows with accepted proposals. */
  readonly state_bytes: number;
  readonly entries: number;
  readonly decisions_per_s: number;
  readonly us_per_decision: number;
}

function timeSteps(core: Core, start: State, entries: readonly WalEntry[]): number {
  let s = start;
  const t0 = process.hrtime.bigint();
  for (const e of entries) s = core.step(s, e).state;
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function timeVerifyAndSteps(core: Core, start: State, raws: readonly RawSigned[]): number {
  const verifier = createNodeVerifier();
  let s = start;
  const t0 = process.hrtime.bigint();
  for (const r of raws) s = core.step(s, entryFromRaw(r, verifier)).state;
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function run(label: string, bytesTarget: number, rates: FaultRates): Row[] {
  const genesis = genesisOfSize(bytesTarget);
  log(`generating ${ENTRIES} entries for ${label} …`);
  const stream = generateStream(20251019, ENTRIES, rates, genesis);
  const core = createCore(nodeHasher);
  const start = genesisState(core, genesis);
  const stateBytes = jcs(stream.world.state).length;
  const genesisBytes = jcs(start).length;
  // Warm-up pass (JIT), then the timed pass on a fresh reducer.
  timeSteps(createCore(nodeHasher), genesisState(core, genesis), stream.entries.slice(0, 2000));
  const secs = timeSteps(core, start, stream.entries);
  const rows: Row[] = [
    {
      scenario: `${label} core`,
      genesis_state_bytes: genesisBytes,
      state_bytes: stateBytes,
      entries: stream.entries.length,
      decisions_per_s: Math.round(stream.entries.length / secs),
      us_per_decision: +((secs * 1e6) / stream.entries.length).toFixed(2),
    },
  ];
  const raws = stream.entries
    .map((e) => toRaw(stream.world.sigs, e))
    .filter((r): r is RawSigned => r !== null);
  if (raws.length === stream.entries.length) {
    const core2 = createCore(nodeHasher);
    const s2 = timeVerifyAndSteps(core2, genesisState(core2, genesis), raws);
    rows.push({
      scenario: `${label} core+verify`,
      genesis_state_bytes: genesisBytes,
      state_bytes: stateBytes,
      entries: raws.length,
      decisions_per_s: Math.round(raws.length / s2),
      us_per_decision: +((s2 * 1e6) / raws.length).toFixed(2),
    });
  }
  return rows;
}

const rows = [
  ...run('10KB happy', 10_000, {
    ...CHAOS,
    dup: 0,
    reorder: 0,
    drop: 0,
    stale: 0,
    badsig: 0,
    stranger: 0,
    skew: 0,
    resubmit: 0,
    disrupt: 0,
    advance: 0,
  }),
  ...run('10KB chaos', 10_000, CHAOS),
  ...run('10MB happy', 10_000_000, {
    ...CHAOS,
    dup: 0,
    reorder: 0,
    drop: 0,
    stale: 0,
    badsig: 0,
    stranger: 0,
    skew: 0,
    resubmit: 0,
    disrupt: 0,
    advance: 0,
  }),
];
const find = (s: string): number => rows.find((r) => r.scenario === s)?.decisions_per_s ?? 0;
const ratio = find('10MB happy core') / Math.max(1, find('10KB happy core'));
const report = {
  node: process.version, cpus: (await import('node:os')).cpus().length, entries: ENTRIES, rows,
  ratio_10MB_to_10KB: +ratio.toFixed(3),
  targets: { core_10KB_decisions_per_s: 100_000, ratio_10MB_to_10KB_min: 0.5 },
};
if (JSON_OUT) console.log(JSON.stringify(report, null, 2));
else {
  console.table(rows);
  console.log(
    `10 MB / 10 KB rate ratio: ${ratio.toFixed(3)} (target ≥ 0.5); target 10 KB core ≥ 100,000/s`,
  );
}
