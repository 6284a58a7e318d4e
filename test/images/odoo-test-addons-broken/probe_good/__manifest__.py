{
    'name': 'Probe (installs)',
    'version': '1.1',
    'license': 'LGPL-3',
    'depends': ['base'],
    'data': ['data/probe_good.xml'],
    'post_init_hook': 'rename_probe_customers',
    'installable': True,
}
