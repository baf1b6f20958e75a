/**
 * Least-privilege NATS permissions for a deployment's prefix, one set per role
 * (docs/security.md, "NATS permissions"), and the nats-server `authorization` block that gives
 * each role's nkey user its set. `swoosh nats-config` writes the block and one nkey seed per
 * role; test/integration/nats-permissions.test.ts runs a real nats-server with it and checks
 * that every role can do its job and nothing else.
 *
 * Nothing here grants `$JS.API.>` or `>` except to `admin` (stream management, run by a
 * person, not a service): a wholesale JetStream grant lets a client delete streams, and
 * CVE-2025-30215 showed the API itself can be reached in ways a subject list does not expect.
 */
import { subjectsFor } from '../../../streams/definitions.js';

/** The roles a deployment's NATS users take. */
export const NATS_ROLES = [
  'instance', 'producer', 'operator', 'feeder', 'reader', 'admin',
] as const;
export type NatsRole = (typeof NATS_ROLES)[number];

/** What one role may publish and subscribe to. */
export interface RolePermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  /** Reply to requests (the instance answers `<prefix>.admin.<name>.status`). */
  readonly allowResponses: boolean;
}

/** The JetStream API calls that read a stream: info, gets, and its own ordered consumers. */
function readApi(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** Creating and updating a stream (never deleting or purging it). */
function applyApi(stream: string): string[] {
  return [`$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.UPDATE.${stream}`];
}

/** Options of a deployment's permissions. */
export interface PermissionOptions {
  /** Limit producers to these projects (else every project). */
  readonly projects?: readonly string[];
  /**
   * Subjects BACKBEAT publishes its beat frames on, when on this server: the feeder role may
   * subscribe to them (`swoosh feeder backbeat --subject`). CHORUS documents no subject, so it
   * is a setting (`swoosh nats-config --backbeat-subject`).
   */
  readonly backbeatSubjects?: readonly string[];
}

/** Why `subject` is not a subject a permission may name, or null. */
export function subjectProblem(subject: string): string | null {
  if (subject === '' || /[\s]/.test(subject)) return 'expected a NATS subject without spaces';
  const tokens = subject.split('.');
  if (tokens.some((t) => t === '')) {
    return 'expected no empty token (no leading, trailing or double dot)';
  }
  if (tokens.slice(0, -1).includes('>')) return '> may only be the last token';
  return null;
}

/** Permissions of `role` for the deployment at `prefix`; producers optionally per project. */
export function rolePermissions(
  prefix: string,
  role: NatsRole,
  opts: PermissionOptions = {},
): RolePermissions {
  const s = subjectsFor(prefix);
  const inbox = '_INBOX.>';
  const kvStreams = [s.snapshotsBucket, s.leasesBucket, s.deploymentBucket].map((b) => `KV_${b}`);
  const logs = [s.walName, s.decisionsName, s.transitionsName];
  const proposals = opts.projects === undefined || opts.projects.length === 0
    ? [`${prefix}.proposals.>`]
    : opts.projects.map((p) => `${prefix}.proposals.${p}.>`);
  const listing = ['$JS.API.INFO'];
  switch (role) {
    case 'instance':
      return {
        publish: [
          ...listing,
          `${prefix}.dr.>`, `${prefix}.transitions.>`,
          // The HTTP gateway writes proposals and control proposals into the WAL.
          `${prefix}.proposals.>`, `${prefix}.control.>`,
          ...[s.snapshotsBucket, s.leasesBucket, s.deploymentBucket].map((b) => `$KV.${b}.>`),
          ...[...logs, ...kvStreams].flatMap((x) => [...readApi(x), ...applyApi(x)]),
          `$JS.API.CONSUMER.DURABLE.CREATE.${s.walName}.${s.writerDurable}`,
          `$JS.API.CONSUMER.CREATE.${s.walName}.${s.writerDurable}`,
          `$JS.ACK.${s.walName}.>`,
        ],
        // `dr.>`: the HTTP gateway answers a proposal with its record as soon as it is seen.
        subscribe: [inbox, `${prefix}.admin.>`, `${prefix}.dr.>`],
        allowResponses: true,
      };
    case 'producer':
      return { publish: proposals, subscribe: [inbox], allowResponses: false };
    case 'operator':
      return {
        publish: [
          ...listing, ...proposals, `${prefix}.control.>`, `${prefix}.admin.>`,
          ...[s.decisionsName, s.transitionsName, s.walName].flatMap(readApi),
          // `audit verify` reads the deployment's writers mode (a message get).
          `$JS.API.STREAM.MSG.GET.KV_${s.deploymentBucket}`,
        ],
        subscribe: [inbox],
        allowResponses: false,
      };
    case 'feeder':
      // Feeders resume from their last fact (read from the WAL), publish new ones, and read
      // the licence gate the instances keep in the deployment bucket (a message get).
      return {
        publish: [
          ...listing, `${prefix}.facts.>`, ...readApi(s.walName),
          `$JS.API.STREAM.MSG.GET.KV_${s.deploymentBucket}`,
        ],
        // The backbeat feeder's source, when BACKBEAT publishes on this server.
        subscribe: [inbox, ...(opts.backbeatSubjects ?? [])],
        allowResponses: false,
      };
    case 'reader':
      return {
        publish: [...listing, ...[s.decisionsName, s.transitionsName].flatMap(readApi)],
        subscribe: [inbox, `${prefix}.dr.>`, `${prefix}.transitions.>`],
        allowResponses: false,
      };
    case 'admin':
      return { publish: ['>'], subscribe: ['>'], allowResponses: true };
  }
}

/** A string as a nats-server config string literal. */
function q(s: string): string {
  return JSON.stringify(s);
}

/** The `authorization` block: one nkey user per role with its permissions. */
export function renderAuthorization(
  prefix: string,
  users: readonly { readonly role: NatsRole; readonly nkey: string }[],
  opts: PermissionOptions = {},
): string {
  const lines = [
    `# SWOOSH least-privilege users for prefix ${prefix} (swoosh nats-config).`,
    '# Include it from nats.conf: include "swoosh-auth.conf"',
    'authorization {',
    '  users = [',
  ];
  for (const u of users) {
    const p = rolePermissions(prefix, u.role, opts);
    lines.push(`    # ${u.role}`);
    lines.push(`    { nkey: ${q(u.nkey)}, permissions: {`);
    const list = (xs: readonly string[]): string[] => xs.map((x) => `          ${q(x)}`);
    lines.push('        publish: { allow: [', ...list(p.publish), '        ] }');
    lines.push('        subscribe: { allow: [', ...list(p.subscribe), '        ] }');
    if (p.allowResponses) lines.push('        allow_responses: true');
    lines.push('    } }');
  }
  lines.push('  ]', '}', '');
  return lines.join('\n');
}
