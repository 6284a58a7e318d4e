import type pg from 'pg';
import type { InstanceRow } from '../../db/schema.js';
import { withTenantDatabase } from './tenant-database.js';
import type { LoginDeps } from './tenant-login.js';

/** A staging copy is neutralised (and checked) before its first start. */
export const needsNeutralizing = (instance: Pick<InstanceRow, 'staging_of' | 'neutralized_at'>): boolean =>
  instance.staging_of !== null && instance.neutralized_at === null;

/** The mail server `odoo neutralize` adds so that nothing falls back to one given on the command line: it sends nowhere. */
const NEUTRALIZATION_SMTP_HOST = 'invalid';

const tableExists = async (client: pg.Client, table: string) =>
  (await client.query<{ found: boolean }>('select to_regclass($1) is not null as found', [table])).rows[0]!.found;

const count = async (client: pg.Client, query: string, values: unknown[] = []) =>
  Number((await client.query<{ n: string }>(query, values)).rows[0]!.n);

/**
 * What still makes the copy unsafe to start, read in its database after `odoo neutralize` (the tenant's data could
 * undo it, a trigger for one): `database.is_neutralized` set, no active outgoing mail server but Odoo's dummy one, no
 * active incoming one (fetchmail, when installed), no active cron but Odoo's autovacuum. Empty when it is safe.
 */
export async function neutralizationProblems(client: pg.Client): Promise<string[]> {
  const problems: string[] = [];
  const flag = await client.query<{ value: string }>("select value from ir_config_parameter where key = 'database.is_neutralized'");
  if (!['true', 'True', '1'].includes(flag.rows[0]?.value ?? '')) problems.push('database.is_neutralized is not set');
  const outgoing = await count(client, 'select count(*) as n from ir_mail_server where active and smtp_host is distinct from $1', [
    NEUTRALIZATION_SMTP_HOST,
  ]);
  if (outgoing > 0) problems.push(`${outgoing} outgoing mail server(s) still active`);
  if (await tableExists(client, 'fetchmail_server')) {
    const incoming = await count(client, 'select count(*) as n from fetchmail_server where active');
    if (incoming > 0) problems.push(`${incoming} incoming mail server(s) still active`);
  }
  const crons = await count(
    client,
    `select count(*) as n from ir_cron where active and id not in
       (select res_id from ir_model_data where model = 'ir.cron' and module = 'base' and name = 'autovacuum_job')`,
  );
  if (crons > 0) problems.push(`${crons} scheduled action(s) still active`);
  return problems;
}

/** The copy's problems, read in its own database as its role. */
export const stagingProblems = (deps: LoginDeps, instance: Pick<InstanceRow, 'id' | 'db_server_id'>): Promise<string[]> =>
  withTenantDatabase(deps, instance, neutralizationProblems);
