"""Waits until the database server accepts the tenant's login, then execs the command after the config file's path.

What the official image's wait-for-psql.py does, which takes the password on its command line: this reads the settings
from Odoo's config file instead. python3 and psycopg2 are in the official image. A refused password fails at once:
waiting helps a server that is away or starting, never a wrong password.
Usage: python3 -c "$(cat wait-for-database.py)" <odoo.conf> <command> [args...]
"""
import configparser
import os
import sys
import time

import psycopg2

conf = configparser.RawConfigParser()
conf.read(sys.argv[1])
o = dict(conf.items('options'))
deadline = time.time() + 30
while True:
    try:
        psycopg2.connect(dbname='postgres', host=o['db_host'], port=o['db_port'], user=o['db_user'],
                         password=o['db_password'], connect_timeout=5).close()
        break
    except psycopg2.OperationalError as error:
        if time.time() >= deadline or 'password authentication failed' in str(error):
            print('Database connection failure: %s' % error, file=sys.stderr)
            sys.exit(1)
        time.sleep(1)
os.execvp(sys.argv[2], sys.argv[2:])
