const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: string): boolean => UUID.test(value);

const compactId = (instanceId: string): string => instanceId.replace(/-/g, '').toLowerCase();

/** Tenant database and role names derive from the instance id alone, so a retry finds what an earlier try made. */
export const tenantDatabaseName = (instanceId: string): string => `odoo_${compactId(instanceId)}`;
export const tenantRoleName = (instanceId: string): string => `${tenantDatabaseName(instanceId)}_user`;
/** The daemon's login into the tenant's database: a member of the tenant's role and of nothing else. */
export const tenantMaintenanceRoleName = (instanceId: string): string => `${tenantDatabaseName(instanceId)}_maint`;

export const credentialsKey = (instanceId: string): string => `instance:${instanceId}:db_credentials`;

/** Swarm service names are DNS labels (at most 63 characters); the id suffix keeps them unique over time. */
export const odooServiceName = (instance: { id: string; subdomain: string }): string =>
  `odoo-${instance.subdomain.slice(0, 40).replace(/-+$/, '')}-${compactId(instance.id).slice(0, 8)}`;

/** The Docker secret holding the tenant's Odoo config file, its database password included. */
export const odooSecretName = (instance: { id: string }): string => `odoo-config-${compactId(instance.id)}`;

/** A pool's template database, and the role its build job runs as (it owns what Odoo made until a copy is handed over). */
export const templateDatabaseName = (templateId: string): string => `odoo_tpl_${compactId(templateId)}`;
export const templateRoleName = (templateId: string): string => `${templateDatabaseName(templateId)}_user`;
/** The Swarm job building a template, and the Docker secret with its Odoo config file. */
export const templateJobName = (templateId: string): string => `odoo-tpl-${compactId(templateId)}`;
export const templateSecretName = (templateId: string): string => `odoo-tpl-config-${compactId(templateId)}`;
