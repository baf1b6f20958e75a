/** `swoosh snapshot list|restore`: the snapshots in the SNAPSHOTS bucket. */
import type { Command } from 'commander';
import { Kvm } from '@nats-io/kv';
import { SnapshotStore } from '../../server/replication/snapshots.js';
import { connectFor, type Connected } from '../connect.js';
import { fail, withNatsAuthOptions } from '../options.js';
import { SNAPSHOT_HISTORY_DEFAULT } from '../../../streams/definitions.js';

async function storeOf(
  c: Connected,
): Promise<{ store: SnapshotStore; kv: Awaited<ReturnType<Kvm['open']>> }> {
  const kv = await new Kvm(c.js).open(c.subjects.snapshotsBucket);
  return {
    store: new SnapshotStore(kv, c.nc.info?.max_payload ?? 1_048_576, SNAPSHOT_HISTORY_DEFAULT),
    kv,
  };
}

/**
 * The SNAPSHOTS bucket is open to the instance (a process) and the admin (a person) only; the
 * CLI never borrows the instance's identity, so against swoosh dev both commands run as admin.
 */
const ROLE = 'admin';

const common = (cmd: Command): Command => withNatsAuthOptions(cmd)
  .option('--nats-url <url>', 'NATS server [env NATS_URL, or .swoosh/dev.json]')
  .option('--prefix <prefix>', 'subject prefix [env SWOOSH_PREFIX]');

/** Register the commands. */
export function registerSnapshot(program: Command): void {
  const s = program.command('snapshot').description('List or restore snapshots.');
  common(s.command('list'))
    .description('List the retained snapshot revisions, newest first.')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ swoosh snapshot list')
    .action(async (o: { natsUrl?: string; prefix?: string; json?: boolean }) => {
      try {
        const c = await connectFor(o.natsUrl, o.prefix, o, ROLE);
        try {
          const { store } = await storeOf(c);
          const rows = [];
          for (const rev of await store.revisions()) {
            const snap = await store
              .load(rev)
              .catch((err: unknown) => ({ revision: rev, error: (err as Error).message }));
            rows.push(
              'error' in snap
                ? snap
                : {
                    revision: rev,
                    wal_seq: snap.wal_seq,
                    state_hash: snap.state_hash,
                    hlc_last: snap.hlc_last,
                    bytes: snap.bytes,
                    taken_at: new Date(snap.taken_at_ms).toISOString(),
                  },
            );
          }
          if (o.json === true) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
          else for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
        } finally {
          await c.nc.close();
        }
      } catch (err) {
        fail(err);
      }
    });
  common(s.command('restore'))
    .description(
      'Make an older revision the head again. The next recovery verifies it against the log and ' +
      'replays from it; an unverifiable one is skipped. Use it after a bad snapshot was written.',
    )
    .requiredOption('--revision <n>', 'the revision to restore (see `snapshot list`)')
    .addHelpText('after', '\nExample:\n  $ swoosh snapshot restore --revision 41')
    .action(async (o: { natsUrl?: string; prefix?: string; revision: string }) => {
      try {
        const rev = Number(o.revision);
        if (!Number.isSafeInteger(rev) || rev <= 0) {
          throw new Error('--revision: expected a positive integer');
        }
        const c = await connectFor(o.natsUrl, o.prefix, o, ROLE);
        try {
          const { store, kv } = await storeOf(c);
          const snap = await store.load(rev);
          const e = await kv.get('head', { revision: rev });
          if (e === null) throw new Error(`revision ${rev} is gone`);
          const head = await store.headRevision();
          const newRev = await kv.update('head', e.value, head);
          const restored = {
            restored: rev, as_revision: newRev, wal_seq: snap.wal_seq, state_hash: snap.state_hash,
          };
          process.stdout.write(`${JSON.stringify(restored)}\n`);
        } finally {
          await c.nc.close();
        }
      } catch (err) {
        fail(err);
      }
    });
}
