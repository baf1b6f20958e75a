/**
 * UCXL addresses (CHORUS's context addresses) as evidence references:
 * `ucxl://agent:role@project:task/temporal_segment/path`. Components are
 * `[A-Za-z0-9_-]+` (which includes the word `any`); the temporal segment is one of `*^`
 * (latest), `*~` (any), `*~N` (version N), `~~N` (N back), `^^N` (N forward); the path is
 * `[A-Za-z0-9_\-/.#]*` (real records use `/#/`). Checked by SWOOSH's own code, ASCII only, so
 * every runtime gives the same verdict and the same words.
 */

/** The parts of a UCXL address. */
export interface Ucxl {
  readonly agent: string;
  readonly role: string;
  readonly project: string;
  readonly task: string;
  readonly temporal: string;
  readonly path: string;
}

/** True when `s` starts with the `ucxl://` scheme (ASCII letters in any case). */
export function isUcxlRef(s: string): boolean {
  if (s.length < 7 || s.slice(4, 7) !== '://') return false;
  const scheme = 'ucxl';
  for (let i = 0; i < 4; i++) {
    const c = s.charCodeAt(i);
    const lower = c >= 65 && c <= 90 ? c + 32 : c;
    if (lower !== scheme.charCodeAt(i)) return false;
  }
  return true;
}

const isWordChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;

function isComponent(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isWordChar(s.charCodeAt(i))) return false;
  return true;
}

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** `*^`, `*~`, `*~N`, `~~N` or `^^N`. */
function isTemporal(s: string): boolean {
  if (s === '*^' || s === '*~') return true;
  const head = s.slice(0, 2);
  return (head === '*~' || head === '~~' || head === '^^') && isDigits(s.slice(2));
}

function isPath(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isWordChar(c) && c !== 47 && c !== 46 && c !== 35) return false;
  }
  return true;
}

/**
 * True for a decision record's own back-link, `ucxl://swoosh:<instance>@wal/<seq>` (the `ucxl`
 * field of every record, src/protocol/decision-record.ts), which cites a WAL entry rather than
 * a context path; producers may cite records as evidence.
 */
export function isRecordBacklink(s: string): boolean {
  const head = 'ucxl://swoosh:';
  if (!s.startsWith(head)) return false;
  const at = s.lastIndexOf('@wal/');
  if (at <= head.length) return false;
  const seq = s.slice(at + 5);
  return seq.length > 0 && seq.length <= 16 && seq[0] !== '0' &&
    [...seq].every((c) => c >= '0' && c <= '9');
}

/** The parts of a UCXL address, or what is wrong with it (in SWOOSH's words). */
export function parseUcxl(s: string): { ok: true; value: Ucxl } | { ok: false; problem: string } {
  const bad = (problem: string): { ok: false; problem: string } => ({ ok: false, problem });
  if (!isUcxlRef(s)) return bad('expected the ucxl:// scheme');
  const rest = s.slice(7);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const at = authority.indexOf('@');
  if (at < 0) return bad('expected agent:role@project:task after ucxl://');
  const who = authority.slice(0, at).split(':');
  const where = authority.slice(at + 1).split(':');
  if (who.length !== 2 || where.length !== 2) {
    return bad('expected agent:role@project:task after ucxl://');
  }
  const [agent, role] = who as [string, string];
  const [project, task] = where as [string, string];
  const names: [string, string][] = [['agent', agent], ['role', role], ['project', project],
    ['task', task]];
  for (const [name, v] of names) {
    if (!isComponent(v)) return bad(`${name}: expected [A-Za-z0-9_-]+ or any`);
  }
  if (slash < 0) return bad('expected /<temporal segment> after the task');
  const tail = rest.slice(slash + 1);
  const next = tail.indexOf('/');
  const temporal = next < 0 ? tail : tail.slice(0, next);
  if (!isTemporal(temporal)) {
    return bad('temporal segment: expected *^, *~, *~N, ~~N or ^^N');
  }
  const path = next < 0 ? '' : tail.slice(next + 1);
  if (!isPath(path)) return bad('path: expected [A-Za-z0-9_-/.#]*');
  return { ok: true, value: { agent, role, project, task, temporal, path } };
}
