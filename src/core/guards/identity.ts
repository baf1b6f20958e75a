/**
 * Identity safety (Identity_Grant, Identity_Revoke): the writer role is Writer_Rotate's alone,
 * an admin cannot hand itself the powers that need a second person (admin, feeder), and the
 * registry never loses its last lasting admin (one for the whole deployment, without an
 * expiry): nothing could change the registry again.
 */
import { deny, pass, type GuardFn } from './contract.js';
import { WRITER_ROLE } from '../domain/writers.js';
import { str } from '../encoding/json.js';
import { rolesIn } from '../model/state.js';

/** Roles an admin may not grant to its own key. */
const SECOND_PERSON_ROLES = ['admin', 'feeder'];

/** Passes when the grant or revocation keeps the registry safe. */
export const identityGuard: GuardFn = ({ state, proposal, spec }) => {
  const who = str(proposal.inputs, 'identity');
  const roles = proposal.inputs['roles'] as readonly string[];
  if (roles.includes(WRITER_ROLE)) {
    return deny(
      'reserved_role',
      `the ${WRITER_ROLE} role changes only by Writer_Rotate (it decides which keys may sign ` +
      'decision records)',
    );
  }
  // Lasting admins of the deployment: control transitions are decided with no project, so an
  // admin whose roles are limited to projects cannot change the registry, and one with an
  // expiry will stop being able to.
  const admins = Object.keys(state.identities).filter((k) => {
    const id = state.identities[k];
    return rolesIn(id, undefined).includes('admin') && id?.not_after_ms === undefined;
  });
  // No other lasting admin (also when there is none at all: then no admin may go).
  const lastAdmin = !admins.some((a) => a !== who);
  if (spec.name === 'Identity_Grant') {
    const own = roles.filter((r) => SECOND_PERSON_ROLES.includes(r));
    if (who === proposal.signer && own.length > 0) {
      return deny(
        'self_grant',
        `an admin cannot grant ${own.join(', ')} to its own key; another admin must sign`,
      );
    }
    if (lastAdmin && Array.isArray(proposal.inputs['projects'])) {
      return deny('last_admin', `${who} is the last admin of the deployment; limiting it to ` +
        'projects would leave none; grant admin to another key first');
    }
    if (lastAdmin && proposal.inputs['not_after_ms'] !== undefined) {
      return deny('last_admin', `${who} is the last admin without an expiry; an expiry would ` +
        'leave the deployment without one; grant admin to another key first');
    }
    return pass(`grants ${roles.join(', ')} to ${who}`);
  }
  if (roles.includes('admin') && lastAdmin) {
    return deny('last_admin', `${who} is the last admin; grant admin to another key first`);
  }
  return pass(`revokes ${roles.join(', ')} from ${who}`);
};
