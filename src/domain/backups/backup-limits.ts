import { statfs } from 'node:fs/promises';
import { sql } from 'kysely';
import type { Deps } from '../../deps.js';
import { DomainError } from '../../errors.js';
import { instanceBackupsDir } from '../../swarm/backup-job.js';

const MIB = 1024 * 1024;
/**
 * Manual backups, restores and module changes one customer may ask for in a day, all its instances together (each restore
 * and module change takes a FINAL backup).
 */
const CUSTOMER_ACTIONS_PER_DAY = 24;
/** A customer may restore one instance once an hour. */
const CUSTOMER_RESTORE_SECONDS = 3600;

const since = (seconds: number) => sql<Date>`now() - make_interval(secs => ${seconds})`;

/**
 * What a customer (`actor`, `customer:<id>`) may still ask for: at most CUSTOMER_ACTIONS_PER_DAY manual backups,
 * restores and module changes a day, and, for a restore, one per instance an hour. Admins and the scheduler are not
 * counted.
 */
export async function limitCustomer(
  deps: Pick<Deps, 'db'>,
  actor: string,
  instanceId: string,
  what: 'backup' | 'restore' | 'modules',
): Promise<void> {
  if (!actor.startsWith('customer:')) return;
  if (what === 'restore') {
    const last = await deps.db
      .selectFrom('restores')
      .select('created_at')
      .where('instance_id', '=', instanceId)
      .where('actor', '=', actor)
      .where('created_at', '>', since(CUSTOMER_RESTORE_SECONDS))
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    if (last) {
      const next = new Date(last.created_at.getTime() + CUSTOMER_RESTORE_SECONDS * 1000);
      throw new DomainError('CONFLICT', `One restore of an instance an hour: the next one can be made from ${next.toISOString()}.`);
    }
  }
  const dayAgo = since(86_400);
  const [backups, restores, changes] = await Promise.all([
    deps.db
      .selectFrom('backups')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('actor', '=', actor)
      .where('kind', '=', 'MANUAL')
      .where('created_at', '>', dayAgo)
      .executeTakeFirstOrThrow(),
    deps.db
      .selectFrom('restores')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('actor', '=', actor)
      .where('created_at', '>', dayAgo)
      .executeTakeFirstOrThrow(),
    deps.db
      .selectFrom('module_changes')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('actor', '=', actor)
      .where('created_at', '>', dayAgo)
      .executeTakeFirstOrThrow(),
  ]);
  const count = Number(backups.count) + Number(restores.count) + Number(changes.count);
  if (count >= CUSTOMER_ACTIONS_PER_DAY)
    throw new DomainError(
      'CONFLICT',
      `At most ${CUSTOMER_ACTIONS_PER_DAY} manual backups, restores and module changes a day: try again tomorrow.`,
    );
}

/**
 * Refuses to start a backup (or a restore, which takes one) when the backups' storage could not hold it: free space
 * must stay above BACKUP_MIN_FREE_MB and twice the instance's newest backup.
 */
export async function assertStorageHeadroom(deps: Pick<Deps, 'db' | 'config'>, instanceId: string): Promise<void> {
  const newest = await deps.db
    .selectFrom('backups')
    .select('size_bytes')
    .where('instance_id', '=', instanceId)
    .where('status', '=', 'COMPLETED')
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  const needed = Math.max(deps.config.backups.minFreeMb * MIB, 2 * Number(newest?.size_bytes ?? 0));
  const dir = instanceBackupsDir(deps.config.cephfsRoot, instanceId);
  const fs = await statfs(dir).catch(() => statfs(deps.config.cephfsRoot));
  const free = fs.bavail * fs.bsize;
  if (free < needed) {
    throw new DomainError(
      'CONFLICT',
      `The backups' storage has ${Math.floor(free / MIB)} MiB free, less than the ${Math.ceil(needed / MIB)} MiB a backup needs: ` +
        'delete backups or add storage first.',
    );
  }
}
