/** Writer_Rotate's guard: a rotation that names keys and leaves at least one writer. */
import { deny, pass, type GuardFn } from './contract.js';
import { writerKeys } from '../domain/writers.js';

function keysOf(v: unknown): readonly string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

/** Passes when every key added is new, every key removed is a writer, and one remains. */
export const writersGuard: GuardFn = ({ state, proposal }) => {
  const add = keysOf(proposal.inputs['add']);
  const remove = keysOf(proposal.inputs['remove']);
  if (add.length === 0 && remove.length === 0) {
    return deny('invalid_writers', 'name at least one key in add or remove');
  }
  const both = add.find((k) => remove.includes(k));
  if (both !== undefined) return deny('invalid_writers', `${both} is both added and removed`);
  const now = writerKeys(state.identities);
  const known = add.find((k) => now.includes(k));
  if (known !== undefined) return deny('invalid_writers', `${known} is a writer already`);
  const stranger = remove.find((k) => !now.includes(k));
  if (stranger !== undefined) return deny('invalid_writers', `${stranger} is not a writer`);
  const left = now.length - remove.length + add.length;
  if (left === 0) {
    return deny(
      'invalid_writers',
      'the rotation would leave no writer; add the successor in the same rotation or before',
    );
  }
  return pass(`writers: +${add.length} −${remove.length}, ${left} after`);
};
