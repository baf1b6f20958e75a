/**
 * The end of every exhaustive switch: the compiler proves the call unreachable (its argument
 * has type `never`), and if a value the types did not foresee arrives anyway it is a programmer
 * error, so it crashes (STYLE: programmer errors crash; a supervisor restarts, recovery replays).
 */

/** Unreachable when the switch before it covers every member of the union. */
export function assertNever(value: never, what: string): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
