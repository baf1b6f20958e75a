/**
 * `swoosh nats-config`: least-privilege NATS users for a deployment (docs/security.md, "NATS
 * permissions"): one nkey user per role, its seed in `<out>/<role>.nk` (mode 0600), and the
 * nats-server `authorization` block in `<out>/swoosh-auth.conf` to include from nats.conf.
 */
import type { Command } from 'commander';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import {
  NATS_ROLES,
  renderAuthorization,
  subjectProblem,
} from '../../server/process/nats-permissions.js';
import { subjectsFor } from '../../../streams/definitions.js';
import { SwooshError } from '../../protocol/errors.js';
import { env, fail, jsonLine } from '../options.js';

/** Which setting each role's process reads its seed from. */
const USE: Record<(typeof NATS_ROLES)[number], string> = {
  instance: 'swoosh serve: NATS_NKEY (or --nats-nkey)',
  producer: 'producers (SDK NatsClient.connect auth.nkeyFile, or NATS_NKEY)',
  operator: 'swoosh CLI commands run by an operator: NATS_NKEY',
  feeder: 'swoosh feeder …: NATS_NKEY (or --nats-nkey)',
  reader: 'downstream readers (swoosh tail, SDK follow): NATS_NKEY',
  admin: 'swoosh streams apply, by a person; keep it offline',
};

/** Register the command. */
export function registerNatsConfig(program: Command): void {
  program
    .command('nats-config')
    .description(
      'Write least-privilege NATS users for a deployment: one nkey seed per role (instance, ' +
      'producer, operator, feeder, reader, admin) and the nats-server authorization block.',
    )
    .requiredOption('-o, --out <dir>', 'directory for the seeds and swoosh-auth.conf')
    .option('--prefix <prefix>', 'subject prefix [env SWOOSH_PREFIX]',
      env('SWOOSH_PREFIX') ?? 'swoosh')
    .option('--producer-projects <ids>', 'limit producers to these projects (comma-separated)')
    .option('--backbeat-subject <subjects>',
      'subjects BACKBEAT publishes beat frames on, when on this server: the feeder may ' +
      'subscribe to them (comma-separated; wildcards allowed) [env SWOOSH_BACKBEAT_SUBJECT]',
      env('SWOOSH_BACKBEAT_SUBJECT'))
    .option('--force', 'overwrite existing files')
    .addHelpText('after', `
Example:
  $ swoosh nats-config --out /etc/nats/swoosh --prefix swoosh
Then add  include "swoosh/swoosh-auth.conf"  to nats.conf, reload nats-server, and give each
process its seed (NATS_NKEY=/etc/nats/swoosh/instance.nk for swoosh serve). See docs/security.md.`)
    .action((o: {
      out: string; prefix: string; producerProjects?: string; backbeatSubject?: string;
      force?: boolean;
    }) => {
      try {
        subjectsFor(o.prefix); // a bad prefix fails before anything is written
        const projects = o.producerProjects?.split(',').map((p) => p.trim())
          .filter((p) => p !== '');
        const backbeatSubjects = (o.backbeatSubject ?? '').split(',').map((x) => x.trim())
          .filter((x) => x !== '');
        for (const b of backbeatSubjects) {
          const why = subjectProblem(b);
          if (why !== null) {
            throw new SwooshError('invalid_config',
              `--backbeat-subject ${JSON.stringify(b)}: ${why}`);
          }
        }
        const conf = join(o.out, 'swoosh-auth.conf');
        const files = [conf, ...NATS_ROLES.map((r) => join(o.out, `${r}.nk`))];
        const existing = files.filter((f) => existsSync(f));
        if (existing.length > 0 && o.force !== true) {
          throw new SwooshError('invalid_config', `${existing.join(', ')} exist; pass --force ` +
            'to replace them (every user gets a new key)');
        }
        mkdirSync(o.out, { recursive: true, mode: 0o700 });
        const users = NATS_ROLES.map((role) => {
          const u = createUser();
          const file = join(o.out, `${role}.nk`);
          writeFileSync(file, `${new TextDecoder().decode(u.getSeed())}\n`, { mode: 0o600 });
          jsonLine({ role, nkey: u.getPublicKey(), seed_file: file, use: USE[role] });
          return { role, nkey: u.getPublicKey() };
        });
        const opts = {
          ...(projects === undefined ? {} : { projects }),
          ...(backbeatSubjects.length === 0 ? {} : { backbeatSubjects }),
        };
        writeFileSync(conf, renderAuthorization(o.prefix, users, opts), { mode: 0o644 });
        jsonLine({ event: 'written', conf, prefix: o.prefix });
      } catch (err) {
        fail(err);
      }
    });
}
