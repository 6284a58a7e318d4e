import { sql, type Kysely } from 'kysely';

/**
 * What a tenant's Odoo is made from (image, version, limits, settings, environment: an OdooSpec), recorded when it is
 * provisioned or its plan changes, so the init job, the server and later changes are built from one spec whichever
 * replica acts. Instances provisioned before have none: the next action that needs one records the acting replica's.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table instances add column odoo_spec jsonb`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table instances drop column odoo_spec`.execute(db);
}
