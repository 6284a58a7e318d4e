def migrate(cr, version):
    """A data migration of this release: it rewrites the tenant's customers."""
    cr.execute("update res_partner set name = 'Renamed by the broken build' where email like '%@rollout.example'")
