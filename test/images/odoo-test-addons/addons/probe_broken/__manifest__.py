{
    'name': 'Probe (fails to install)',
    'version': '1.0',
    'license': 'LGPL-3',
    'depends': ['probe_good'],
    'data': ['data/broken.xml'],
    'installable': True,
}
