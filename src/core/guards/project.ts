/**
 * Project_Create's guard: the project is new (a terminated project keeps its id and stays
 * readable, so an id is never reused) and its parameters make a valid configuration.
 */
import { deny, pass, type GuardFn } from './contract.js';
import { projectConfigOf } from '../domain/project.js';
import { str } from '../encoding/json.js';

/** Passes when the named project does not exist and its configuration is valid. */
export const projectGuard: GuardFn = ({ state, proposal, chart }) => {
  const id = str(proposal.inputs, 'project');
  if (Object.hasOwn(state.projects, id)) {
    const at = state.projects[id]?.created_seq ?? 0;
    return deny(
      'project_exists',
      `project ${id} exists (created ${at === 0 ? 'by the genesis' : `at WAL seq ${at}`}); ` +
      'project ids are never reused',
    );
  }
  const cfg = projectConfigOf(chart, state.meta.config, proposal.inputs);
  if (!cfg.ok) return deny('invalid_project_config', cfg.message);
  return pass(`project ${id} is new`);
};
