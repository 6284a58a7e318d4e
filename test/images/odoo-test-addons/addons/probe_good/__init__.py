def rename_probe_customers(env):
    """A data migration, as modules make them on install: it rewrites records the tenant already had."""
    env['res.partner'].search([('email', '=like', '%@probe.example')]).write({'name': 'Renamed by probe_good'})
