/**
 * `swoosh project create` flags → Project_Create inputs: each parameter appears only when
 * given, and each bad flag is named.
 */
import { describe, expect, it } from 'vitest';
import { createInputs } from '../../src/cli/commands/project.js';

const none = { mcpPin: [], windowPolicy: [], requiredRole: [] };

describe('swoosh project create: inputs from flags', () => {
  it('Given only an id, Then the inputs name the project and nothing else (the rest from the genesis)', () => {
    expect(createInputs('chorus-api', none)).toEqual({ project: 'chorus-api' });
  });

  it('Given every flag, Then each becomes its input', () => {
    expect(createInputs('chorus-db', {
      quorumThreshold: '3', approvalsThreshold: '2', mcpPin: ['repo-tools=1.2.0'],
      windowPolicy: ['plan=plan,execute'], requiredRole: ['architect', 'dba'],
    })).toEqual({
      project: 'chorus-db', quorum_threshold: 3, approvals_threshold: 2,
      mcp_pins: [{ tool: 'repo-tools', version: '1.2.0' }],
      window_policy: [{ class: 'plan', phases: ['plan', 'execute'] }],
      required_roles: ['architect', 'dba'],
    });
  });

  it('Given a bad id or flag, Then the error names it', () => {
    expect(() => createInputs('Chorus', none)).toThrow('project id "Chorus"');
    expect(() => createInputs('a', { ...none, quorumThreshold: '0' })).toThrow('--quorum-threshold');
    expect(() => createInputs('a', { ...none, mcpPin: ['repo-tools'] })).toThrow('--mcp-pin "repo-tools"');
  });
});
