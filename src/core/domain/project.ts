/**
 * A project's configuration from Project_Create's inputs: every parameter left out takes the
 * deployment's (genesis) value. One function for the `project` guard (which refuses a bad
 * configuration with a record) and for evolve and the world (which build the project from it),
 * so what was checked is exactly what is built.
 */
import type { Chart } from '../model/chart-spec.js';
import { str, type JsonObject } from '../encoding/json.js';
import type { CoreConfig } from '../model/state.js';
import { parsePins, parseRequiredRoles, parseWindowPolicy } from '../genesis.js';

/** The configuration, or why the inputs do not make one. */
export type ProjectConfigResult =
  | { readonly ok: true; readonly config: CoreConfig }
  | { readonly ok: false; readonly message: string };

function int(i: JsonObject, key: string, dflt: number): number {
  const v = i[key];
  return typeof v === 'number' ? v : dflt;
}

/** Build a project's configuration from Project_Create inputs (schema-checked already). */
export function projectConfigOf(
  chart: Chart,
  base: CoreConfig,
  i: JsonObject,
): ProjectConfigResult {
  let windowPolicy = base.window_policy;
  const wp = i['window_policy'];
  if (Array.isArray(wp)) {
    const asMap: Record<string, unknown> = {};
    for (let k = 0; k < wp.length; k++) {
      const item = wp[k] as JsonObject;
      const cls = str(item, 'class');
      if (Object.hasOwn(asMap, cls)) {
        return { ok: false, message: `inputs.window_policy[${k}]: class ${cls} given twice` };
      }
      asMap[cls] = item['phases'];
    }
    const parsed = parseWindowPolicy(asMap, chart);
    if (!parsed.ok) {
      return {
        ok: false,
        message: `${parsed.error.path.replace('genesis.', 'inputs.')}: ${parsed.error.message}`,
      };
    }
    windowPolicy = parsed.value;
  }
  let pins = base.mcp_pins;
  const mp = i['mcp_pins'];
  if (Array.isArray(mp)) {
    const asMap: Record<string, unknown> = {};
    for (let k = 0; k < mp.length; k++) {
      const item = mp[k] as JsonObject;
      const tool = str(item, 'tool');
      if (Object.hasOwn(asMap, tool)) {
        return { ok: false, message: `inputs.mcp_pins[${k}]: tool ${tool} given twice` };
      }
      asMap[tool] = item['version'];
    }
    const parsed = parsePins(asMap);
    if (!parsed.ok) {
      return {
        ok: false,
        message: `${parsed.error.path.replace('genesis.', 'inputs.')}: ${parsed.error.message}`,
      };
    }
    pins = parsed.value;
  }
  let requiredRoles = base.required_roles;
  if (i['required_roles'] !== undefined) {
    const parsed = parseRequiredRoles(i['required_roles'], 'inputs.required_roles');
    if (!parsed.ok) return { ok: false, message: `${parsed.error.path}: ${parsed.error.message}` };
    requiredRoles = parsed.value;
  }
  const { required_roles: _inherited, ...rest } = base;
  return {
    ok: true,
    config: {
      ...rest,
      ...(requiredRoles === undefined ? {} : { required_roles: requiredRoles }),
      quorum_threshold: int(i, 'quorum_threshold', base.quorum_threshold),
      approvals_threshold: int(i, 'approvals_threshold', base.approvals_threshold),
      window_policy: windowPolicy,
      mcp_pins: pins,
    },
  };
}
