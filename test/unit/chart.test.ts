import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Chart } from '../../src/core/model/chart-spec.js';
import { CHART } from '../../src/core/generated/chart.js';
import { CHART_SOURCE, generate, staleFiles } from '../../src/chart/generate.js';
import { ChartError, loadChartFile, parseChart, type ChartProblem } from '../../src/chart/load.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A small valid chart; each invalid case below breaks one line of it. */
const MINI = `version: 1
machine: mini
machine_version: 1.0.0
top:
  initial: BOOT
  states:
    BOOT: { kind: compound, region: boot }
    RUN: { kind: control }
    END: { kind: final }
regions:
  boot: { parent: BOOT, initial: A, states: [A, B] }
  control: { states: [] }
roles:
  operator: Runs it.
  admin: Owns it.
window_classes:
  plan: { phases: [plan] }
guards:
  window: Window open.
  license: Licence ok.
defs:
  hash: { type: string, format: hash }
transitions:
  - name: Boot_Go
    region: boot
    active_in: [BOOT]
    from: [A]
    to: B
    top: RUN
    roles: [operator]
    guards: [license]
    scope: region
    coordination: non_monotone
    inputs:
      type: object
      required: [h]
      properties:
        h: { $ref: hash }
  - name: Control_Stop
    region: control
    active_in: [RUN]
    top: END
    roles: [operator, admin]
    guards: [window]
    window_class: plan
    scope: global
    coordination: non_monotone
`;

/** MINI with `from` replaced by `to`; fails the test when `from` does not occur exactly once. */
function edit(from: string, to: string): string {
  expect(MINI.split(from).length, `"${from}" occurs once in MINI`).toBe(2);
  return MINI.replace(from, to);
}

/** 1-based line of the only occurrence of `needle` in `text`. */
function lineOf(text: string, needle: string, nth = 0): number {
  const lines = text.split('\n');
  const hits = lines.flatMap((l, i) => (l.includes(needle) ? [i + 1] : []));
  const hit = hits[nth];
  if (hit === undefined) throw new Error(`"${needle}" not found`);
  return hit;
}

/** The problems of an invalid chart; fails the test when it loads. */
function problems(text: string): readonly ChartProblem[] {
  try {
    parseChart(text, 'mini.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ChartError);
    if (e instanceof ChartError) return e.problems;
    throw e;
  }
  throw new Error('the chart loaded');
}

const T_KEYS =
  'name, region, active_in, scope, coordination, from, to, top, substate, roles, guards, ' +
  'window_class, automatic, compensation, inputs, doc';

const DUPLICATE = `  - name: Control_Stop
    region: control
    active_in: [RUN]
    roles: [admin]
    scope: global
    coordination: non_monotone
`;

interface Case {
  readonly label: string;
  readonly text: string;
  readonly path: string;
  readonly message: string;
  /** Text on the line the problem must point at (its `nth` occurrence). */
  readonly at: string;
  readonly nth?: number;
}

const CASES: readonly Case[] = [
  {
    label: 'unknown state in from',
    text: edit('from: [A]', 'from: [Z]'),
    path: 'transitions[0].from[0]',
    message: '"Z" is not a local state of region "boot" (A, B)',
    at: 'from: [Z]',
  },
  {
    label: 'unknown top state in active_in',
    text: edit('active_in: [RUN]', 'active_in: [RUN, NOPE]'),
    path: 'transitions[1].active_in[1]',
    message: 'unknown top state "NOPE"',
    at: 'active_in: [RUN, NOPE]',
  },
  {
    label: 'duplicate transition name',
    text: MINI + DUPLICATE,
    path: 'transitions[2].name',
    message: `duplicate transition name "Control_Stop" (first at line ${lineOf(MINI, 'Stop')})`,
    at: 'name: Control_Stop',
    nth: 1,
  },
  {
    label: 'transition without roles',
    text: edit('    roles: [operator, admin]\n', ''),
    path: 'transitions[1].roles',
    message: 'a proposable transition needs at least one role',
    at: '- name: Control_Stop',
  },
  {
    label: 'automatic transition with roles',
    text: edit('roles: [operator, admin]', 'roles: [operator, admin]\n    automatic: true'),
    path: 'transitions[1].roles',
    message: 'an automatic transition names no roles',
    at: 'roles: [operator, admin]',
  },
  {
    label: 'unreachable local state',
    text: edit('states: [A, B]', 'states: [A, B, C]'),
    path: 'regions.boot.states[2]',
    message: 'state "C" is unreachable from "A"',
    at: 'states: [A, B, C]',
  },
  {
    label: 'unreachable top state',
    text: edit('END: { kind: final }\n', 'END: { kind: final }\n    LIMBO: { kind: control }\n'),
    path: 'top.states.LIMBO',
    message: 'top state "LIMBO" is unreachable from "BOOT"',
    at: 'LIMBO',
  },
  {
    label: 'unknown guard',
    text: edit('guards: [license]', 'guards: [licence]'),
    path: 'transitions[0].guards[0]',
    message: 'unknown guard "licence" (window, license)',
    at: 'guards: [licence]',
  },
  {
    label: 'unknown key',
    text: edit('    to: B\n', '    to: B\n    colour: red\n'),
    path: 'transitions[0].colour',
    message: `unknown key "colour" (allowed: ${T_KEYS})`,
    at: 'colour: red',
  },
  {
    label: 'unknown key in a schema',
    text: edit('required: [h]', 'required: [h]\n      additionalProperties: true'),
    path: 'transitions[0].inputs.additionalProperties',
    message: 'unknown key "additionalProperties" (allowed: type, properties, required)',
    at: 'additionalProperties',
  },
  {
    label: 'window guard without window_class',
    text: edit('    window_class: plan\n', ''),
    path: 'transitions[1].guards',
    message: 'the window guard needs a window_class',
    at: 'guards: [window]',
  },
  {
    label: 'window_class without the window guard',
    text: edit('guards: [window]', 'guards: []'),
    path: 'transitions[1].window_class',
    message: 'a window_class needs the window guard',
    at: 'window_class: plan',
  },
  {
    label: 'bad name prefix',
    text: edit('name: Control_Stop', 'name: Ctrl_Stop'),
    path: 'transitions[1].name',
    message: '"Ctrl_Stop" must start with "Control_" (region control)',
    at: 'name: Ctrl_Stop',
  },
  {
    label: 'name not in PascalCase',
    text: edit('name: Control_Stop', 'name: Control_stop_now'),
    path: 'transitions[1].name',
    message: '"Control_stop_now" is not <Region>_<Event> in PascalCase',
    at: 'name: Control_stop_now',
  },
  {
    label: 'unknown $ref',
    text: edit('$ref: hash', '$ref: hsh'),
    path: 'transitions[0].inputs.properties.h.$ref',
    message: 'unknown $ref "hsh" (defs: hash)',
    at: '$ref: hsh',
  },
  {
    label: 'unknown region',
    text: edit('region: control', 'region: controls'),
    path: 'transitions[1].region',
    message: 'unknown region "controls"',
    at: 'region: controls',
  },
  {
    label: 'from in a region without local states',
    text: edit('    top: END\n', '    top: END\n    from: [A]\n'),
    path: 'transitions[1].from',
    message: 'region "control" has no local states: no from/to',
    at: 'from: [A]',
    nth: 1,
  },
  {
    label: 'unknown top target',
    text: edit('top: END', 'top: ENDED'),
    path: 'transitions[1].top',
    message: 'unknown top state "ENDED" (or $history)',
    at: 'top: ENDED',
  },
  {
    label: 'region initial not among its states',
    text: edit('initial: A,', 'initial: Q,'),
    path: 'regions.boot.initial',
    message: '"Q" is not one of the region\'s states',
    at: 'initial: Q,',
  },
  {
    label: 'region parent not a top state',
    text: edit('parent: BOOT', 'parent: BOOTS'),
    path: 'regions.boot.parent',
    message: 'unknown top state "BOOTS"',
    at: 'parent: BOOTS',
  },
  {
    label: 'bad scope',
    text: edit('scope: region', 'scope: world'),
    path: 'transitions[0].scope',
    message: 'expected one of global, region',
    at: 'scope: world',
  },
  {
    label: 'schema bounds out of order',
    text: edit('format: hash }', 'format: hash, minLength: 9, maxLength: 2 }'),
    path: 'defs.hash.minLength',
    message: 'minLength 9 is greater than maxLength 2',
    at: 'minLength: 9',
  },
  {
    label: 'YAML duplicate key',
    text: edit('    to: B\n', '    to: B\n    to: A\n'),
    path: '',
    message: 'Map keys must be unique',
    at: 'to: A',
  },
];

describe('parseChart', () => {
  it('loads the minimal chart and fills the defaults', () => {
    const chart = parseChart(MINI);
    const stop = chart.transitions[1];
    expect(stop).toEqual({
      name: 'Control_Stop',
      region: 'control',
      active_in: ['RUN'],
      from: [],
      top: 'END',
      roles: ['operator', 'admin'],
      guards: ['window'],
      window_class: 'plan',
      scope: 'global',
      coordination: 'non_monotone',
      automatic: false,
      compensation: false,
      inputs: { type: 'object', properties: {} },
    });
    expect(chart.transitions[0]?.inputs).toEqual({
      type: 'object',
      properties: { h: { type: 'string', format: 'hash' } },
      required: ['h'],
    });
  });

  it('gives keys in a fixed order whatever the YAML order', () => {
    const shuffled = edit('    from: [A]\n    to: B\n', '    to: B\n    from: [A]\n');
    expect(JSON.stringify(parseChart(shuffled))).toBe(JSON.stringify(parseChart(MINI)));
  });

  it.each(CASES)('rejects: $label', (c) => {
    const found = problems(c.text);
    const line = lineOf(c.text, c.at, c.nth ?? 0);
    expect(found).toContainEqual({ path: c.path, line, message: c.message });
  });

  it('collects every problem, sorted by line, into one message', () => {
    const text = edit('from: [A]', 'from: [Z]').replace('guards: [license]', 'guards: [licence]');
    let error: unknown;
    try {
      parseChart(text, 'mini.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChartError);
    const err = error as ChartError;
    expect(err.code).toBe('chart_invalid');
    const lines = err.problems.map((p) => p.line ?? Infinity);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
    expect(err.message.split('\n')).toEqual([
      `mini.yaml: invalid statechart (${err.problems.length} problems)`,
      ...err.problems.map((p) => `mini.yaml:${p.line}: ${p.path}: ${p.message}`),
    ]);
    expect(err.message).toContain(
      `mini.yaml:${lineOf(text, 'from: [Z]')}: transitions[0].from[0]: "Z" is not a local state`,
    );
    expect(err.message).toContain(
      `mini.yaml:${lineOf(text, 'licence]')}: transitions[0].guards[0]: unknown guard "licence"`,
    );
  });

  it('reports YAML syntax errors with their line', () => {
    const text = edit('  initial: BOOT', '  initial: [BOOT');
    const found = problems(text);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((p) => p.path === '' && p.line !== null)).toBe(true);
  });

  it('rejects a document that is not a mapping', () => {
    expect(problems('- 1\n')).toContainEqual({ path: '', line: 1, message: 'expected a mapping' });
  });
});

describe('the real chart', () => {
  const chart: Chart = loadChartFile(join(ROOT, CHART_SOURCE));

  it('loads', () => {
    expect(chart.top.initial).toBe('BOOT');
    expect(chart.transitions.length).toBeGreaterThan(0);
  });

  it('is what the generated module holds, key order included', () => {
    expect(JSON.stringify(CHART)).toBe(JSON.stringify(chart));
  });

  it('has fresh generated files (run npm run gen)', () => {
    expect(staleFiles(ROOT, generate(chart))).toEqual([]);
  });

  it('generates byte-identical output twice', () => {
    expect(generate(loadChartFile(join(ROOT, CHART_SOURCE)))).toEqual(generate(chart));
  });

  it('names every transition <Region>_<Event> and marks automatic ones roleless', () => {
    for (const t of chart.transitions) {
      expect(t.automatic ? t.roles.length === 0 : t.roles.length > 0).toBe(true);
      expect(t.name).toMatch(/^[A-Z][A-Za-z0-9]*_[A-Z][A-Za-z0-9]*$/);
    }
  });
});
