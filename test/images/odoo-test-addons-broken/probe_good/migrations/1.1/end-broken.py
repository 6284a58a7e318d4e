from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """The release's mistake: its end migration reads a model that no module defines."""
    api.Environment(cr, SUPERUSER_ID, {})['probe.no_such_model'].search([])
