"""Runs Odoo's launcher in this interpreter, so that a tenant's first requests do not wait on work Odoo defers.

Odoo's prefork master loads the registry before it forks its HTTP workers, but each worker then reads the manifest of
every addon on disk (the map of static paths) and builds the routing map on its own first request, and the master
starts the websocket (gevent) server at once: a second interpreter importing all of Odoo on the same CPU quota as the
first login. Measured on real Odoo 17 at 1 CPU, that first login took 4.4 s instead of well under one. So, in the
master only:
- the static paths and the routing map are made right after the registry is preloaded: every worker forks with them;
- the gevent server starts GEVENT_DELAY_SECONDS after the workers, once their first requests are served. The web
  client reconnects its websocket by itself.
Each change applies only when Odoo has what it wraps; otherwise (another Odoo, a stand-in) the command runs as it is
and the reason is printed.
Usage: ODOO_ORCHESTRATOR_SERVER="$(cat odoo-server.py)" \
         python3 -c "import os; exec(os.environ.pop('ODOO_ORCHESTRATOR_SERVER'))" odoo [odoo's arguments...]
(the script in the environment, not on the command line, keeps every Odoo process's command line short).
"""
import os

os.environ['TZ'] = 'UTC'  # what Odoo's own launcher sets before anything imports time

import runpy
import shutil
import sys
import time

GEVENT_DELAY_SECONDS = 5


def say(message):
    print('odoo-server.py: %s' % message, file=sys.stderr, flush=True)


try:
    import odoo.service.server as server
except ImportError as error:
    say('Odoo runs as it is: %s' % error)
    os.execvp(sys.argv[1], sys.argv[1:])


def prepare_workers(dbnames):
    import odoo
    import odoo.http
    from odoo.modules.registry import Registry

    odoo.http.root.statics
    for dbname in dbnames:
        with Registry(dbname).cursor() as cr:
            odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})['ir.http'].routing_map()


def preload_then_prepare(preload):
    def preload_registries(dbnames):
        rc = preload(dbnames)
        if rc == 0 and dbnames:
            try:
                prepare_workers(dbnames)
            except Exception as error:  # what is not made here each worker makes, as Odoo does
                say('workers left to prepare themselves: %r' % error)
        return rc

    return preload_registries


def deferred(spawn):
    def long_polling_spawn(self):
        if getattr(self, 'gevent_not_before', None) is None:
            self.gevent_not_before = time.monotonic() + GEVENT_DELAY_SECONDS
        if time.monotonic() >= self.gevent_not_before:
            spawn(self)

    return long_polling_spawn


if callable(getattr(server, 'preload_registries', None)):
    server.preload_registries = preload_then_prepare(server.preload_registries)
else:
    say('this Odoo has no preload_registries: each worker prepares itself')
if callable(getattr(getattr(server, 'PreforkServer', None), 'long_polling_spawn', None)):
    server.PreforkServer.long_polling_spawn = deferred(server.PreforkServer.long_polling_spawn)
else:
    say('this Odoo has no PreforkServer.long_polling_spawn: its gevent server starts at once')

launcher = shutil.which(sys.argv[1])
if launcher is None:
    say('no %s on PATH' % sys.argv[1])
    sys.exit(127)
# Odoo starts its gevent server as `python3 <sys.argv[0]> gevent …`: argv[0] must be the launcher's path.
sys.argv = [launcher] + sys.argv[2:]
runpy.run_path(launcher, run_name='__main__')
