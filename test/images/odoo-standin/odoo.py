#!/usr/bin/env python3
"""Stand-in for the `odoo` server of the official odoo:17.0 image.

It does what a daemon can observe of a real Odoo 17 server, and nothing else:

* parses the usual server options (unknown ones are ignored), reading the config file
  given by -c/--config or $ODOO_RC first, the command line overriding it;
* connects to each database given with -d/--database (or `db_name`) as --db_user; on
  failure it prints the psycopg2 error (e.g. ``FATAL:  password authentication failed for
  user "x"``) to stderr and exits 1;
* with -i/--init (or -u) initialises the database the way installing ``base`` does:
  ``ir_module_module`` (base ``to install``, then ``installed`` once done),
  ``ir_config_parameter`` (``database.uuid``), ``res_partner`` and ``res_users`` (id 1
  ``__system__`` inactive, id 2 ``admin`` / ``admin`` hashed as passlib's pbkdf2-sha512 with
  600000 rounds). Initialisation takes $STANDIN_INIT_SECONDS (default 0). On an initialised
  database -i reloads base (its write_date moves) and keeps the users, as Odoo's noupdate
  data does. Without -i an uninitialised database is reported, not initialised;
* like Odoo's server, starts HTTP before it loads the database: ``/web/health`` answers
  200 at once, ``/web/login`` 500 until the database is ready;
* --stop-after-init: no HTTP; exits 0 once initialised;
* writes its filestore under ``<data_dir>/filestore/<db>/`` and a ``sessions`` dir;
* serves HTTP on --http-interface:--http-port (0.0.0.0:8069): ``GET /web/health`` ->
  200 ``{"status": "pass"}``, ``POST /web/session/authenticate`` (JSON-RPC: the user's id when the
  login's stored hash verifies the password, Odoo's AccessDenied otherwise), ``/`` and ``/web`` -> 303
  to ``/web/login``, a login page (500 with $STANDIN_BROKEN_LOGIN set: a build that starts but
  cannot serve it),
  404 otherwise; with --workers > 0 also ``/websocket`` on the gevent port (8072);
* with --workers > 0, like Odoo's prefork server, applies limit_memory_soft / limit_memory_hard to each worker's
  VIRTUAL size: a worker is born at $STANDIN_WORKER_VIRTUAL_MB (default 265 MiB, what a fresh Odoo 17/18 worker
  measures), so limits below that make every worker quit at birth (``Worker (N) virtual memory limit (X) reached.``,
  over and over), and HTTP is accepted but never answered: ``/web/health`` times out;
* exits 0 promptly on SIGTERM/SIGINT, healthy or not (what Swarm sees when it stops an unhealthy task).
"""
import argparse
import base64
import configparser
import datetime
import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg2

VERSION = "17.0"
SERIES = "17.0"
_logger = logging.getLogger("odoo")
_server_logger = logging.getLogger("odoo.service.server")
_sql_logger = logging.getLogger("odoo.sql_db")
_http_logger = logging.getLogger("werkzeug")


# --------------------------------------------------------------------------- options

DEFAULTS = {
    "db_name": None,
    "dbfilter": "",
    "list_db": True,
    "proxy_mode": False,
    "init": "",
    "update": "",
    "without_demo": False,
    "data_dir": os.path.expanduser("~/.local/share/Odoo"),
    "addons_path": "",
    "db_host": None,
    "db_port": None,
    "db_user": None,
    "db_password": None,
    "db_maxconn": 64,
    "db_sslmode": "prefer",
    "http_interface": "",
    "http_port": 8069,
    "workers": 0,
    "max_cron_threads": 2,
    "limit_memory_soft": 2048 * 1024 * 1024,
    "limit_memory_hard": 2560 * 1024 * 1024,
    "gevent_port": 8072,
    "log_level": "info",
    "stop_after_init": False,
}


def build_parser():
    p = argparse.ArgumentParser(prog="odoo", allow_abbrev=False,
                                description="Odoo %s (stand-in)" % VERSION)
    a = p.add_argument
    a("--version", action="store_true")
    a("-c", "--config", dest="config")
    a("-s", "--save", action="store_true")
    a("-d", "--database", dest="db_name")
    a("--db-filter", dest="dbfilter")
    a("--no-database-list", dest="list_db", action="store_false", default=None)
    a("--proxy-mode", dest="proxy_mode", action="store_true", default=None)
    a("-i", "--init", dest="init")
    a("-u", "--update", dest="update")
    a("--without-demo", dest="without_demo", nargs="?", const="all")
    a("-D", "--data-dir", dest="data_dir")
    a("--addons-path", dest="addons_path")
    a("-r", "--db_user", dest="db_user")
    a("-w", "--db_password", dest="db_password")
    a("--db_host", dest="db_host")
    a("--db_port", dest="db_port")
    a("--db_maxconn", dest="db_maxconn", type=int)
    a("--db_sslmode", dest="db_sslmode")
    a("--db_template", dest="db_template")
    a("--http-interface", "--xmlrpc-interface", dest="http_interface")
    a("-p", "--http-port", "--xmlrpc-port", dest="http_port", type=int)
    a("--gevent-port", "--longpolling-port", dest="gevent_port", type=int)
    a("--workers", dest="workers", type=int)
    a("--max-cron-threads", dest="max_cron_threads", type=int)
    a("--limit-memory-soft", dest="limit_memory_soft", type=int)
    a("--limit-memory-hard", dest="limit_memory_hard", type=int)
    a("--log-level", dest="log_level")
    a("--logfile", dest="logfile")
    a("--stop-after-init", dest="stop_after_init", action="store_true", default=None)
    return p


def _config_value(raw):
    """Odoo's config file spells 'no value' as None or empty, and booleans as True/False."""
    if raw is None:
        return None
    value = raw.strip()
    if value in ("None", ""):
        return None
    if value in ("True", "False"):
        return value == "True"
    return value


def load_options(argv):
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Real Odoo accepts many more options; the stand-in has no use for them.
        _logger.debug("ignoring options: %s", " ".join(unknown))

    opts = dict(DEFAULTS)
    config_file = args.config or os.environ.get("ODOO_RC")
    opts["config"] = config_file
    if config_file and os.path.exists(config_file):
        cp = configparser.ConfigParser(interpolation=None)
        cp.read(config_file)
        if cp.has_section("options"):
            for key, raw in cp.items("options"):
                value = _config_value(raw)
                if value is not None:
                    opts[key] = value
    for key, value in vars(args).items():
        if value is not None and key != "config":
            opts[key] = value

    for key in ("db_maxconn", "http_port", "workers", "gevent_port", "max_cron_threads",
                "limit_memory_soft", "limit_memory_hard"):
        opts[key] = int(opts[key])
    for key in ("list_db", "proxy_mode", "stop_after_init"):
        opts[key] = opts[key] in (True, "True", "true", "1")
    opts["version"] = args.version
    return opts


# --------------------------------------------------------------------------- logging

class _DbFilter(logging.Filter):
    dbname = "?"

    def filter(self, record):
        record.pid = os.getpid()
        record.dbname = getattr(record, "dbname", None) or self.dbname
        return True


_db_filter = _DbFilter()


def setup_logging(opts):
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_db_filter)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    level = str(opts.get("log_level") or "info").upper()
    root.setLevel(getattr(logging, level, logging.INFO))


# --------------------------------------------------------------------------- database

def connect(opts, dbname):
    params = {"dbname": dbname, "application_name": "odoo-%d" % os.getpid(),
              "sslmode": opts["db_sslmode"], "connect_timeout": 10}
    for key in ("host", "port", "user", "password"):
        value = opts["db_" + key]
        if value not in (None, False, ""):
            params[key] = value
    return psycopg2.connect(**params)


SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS ir_module_module (
    id serial PRIMARY KEY,
    name varchar NOT NULL UNIQUE,
    state varchar(16),
    latest_version varchar,
    demo boolean DEFAULT false,
    create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
    write_date timestamp without time zone DEFAULT (now() at time zone 'UTC')
);
CREATE TABLE IF NOT EXISTS ir_config_parameter (
    id serial PRIMARY KEY,
    key varchar NOT NULL UNIQUE,
    value text NOT NULL,
    create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
    write_date timestamp without time zone DEFAULT (now() at time zone 'UTC')
);
CREATE TABLE IF NOT EXISTS res_partner (
    id serial PRIMARY KEY,
    name varchar,
    email varchar,
    active boolean DEFAULT true,
    create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
    write_date timestamp without time zone DEFAULT (now() at time zone 'UTC')
);
CREATE TABLE IF NOT EXISTS res_users (
    id serial PRIMARY KEY,
    login varchar NOT NULL UNIQUE,
    password varchar,
    active boolean DEFAULT true,
    partner_id integer NOT NULL REFERENCES res_partner (id),
    company_id integer NOT NULL DEFAULT 1,
    share boolean DEFAULT false,
    create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
    write_date timestamp without time zone DEFAULT (now() at time zone 'UTC')
);
"""

# Odoo 17's base data (base/data/res_partner_data.xml, res_users_data.xml): the company's partner,
# OdooBot for __system__ and the Administrator for admin; the users' rows are noupdate.
BASE_PARTNERS = ((1, "My Company", "info@yourcompany.com"),
                 (2, "OdooBot", "odoobot@example.com"),
                 (3, "Administrator", "admin@yourcompany.example.com"))
BASE_USERS = ((1, "__system__", False, 2), (2, "admin", True, 3))
PBKDF2_ROUNDS = 600000  # Odoo 17's CryptContext: pbkdf2_sha512__rounds=600_000


def _ab64(raw):
    """passlib's "adapted base64": '.' for '+', no padding."""
    return base64.b64encode(raw).decode("ascii").rstrip("=").replace("+", ".")


def pbkdf2_sha512(password, rounds=PBKDF2_ROUNDS):
    """The hash Odoo 17 stores in res_users.password (passlib's pbkdf2_sha512 format)."""
    salt = os.urandom(16)
    checksum = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, rounds, 64)
    return "$pbkdf2-sha512$%d$%s$%s" % (rounds, _ab64(salt), _ab64(checksum))


def _ab64_decode(text):
    return base64.b64decode(text.replace(".", "+") + "=" * (-len(text) % 4))


def pbkdf2_sha512_verify(password, stored):
    """passlib's pbkdf2_sha512.verify, which Odoo's res.users checks a login's password with."""
    try:
        _, scheme, rounds, salt, checksum = stored.split("$")
    except (AttributeError, ValueError):
        return False
    if scheme != "pbkdf2-sha512":
        return False
    derived = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), _ab64_decode(salt), int(rounds), 64)
    return hmac.compare_digest(derived, _ab64_decode(checksum))


def authenticate(opts, dbname, login, password):
    """Odoo's res.users._login: the active user of that login whose stored hash verifies, or None."""
    conn = connect(opts, dbname)
    try:
        with conn, conn.cursor() as cr:
            cr.execute("SELECT id, password FROM res_users WHERE login = %s AND active", (login,))
            row = cr.fetchone()
    finally:
        conn.close()
    return row[0] if row and pbkdf2_sha512_verify(password, row[1]) else None


def is_initialized(opts, dbname):
    """What Odoo checks before loading a registry: base installed in ir_module_module."""
    conn = connect(opts, dbname)
    try:
        with conn, conn.cursor() as cr:
            cr.execute("SELECT to_regclass('ir_module_module') IS NOT NULL")
            if not cr.fetchone()[0]:
                return False
            cr.execute("SELECT state FROM ir_module_module WHERE name = 'base'")
            row = cr.fetchone()
            return bool(row) and row[0] == "installed"
    finally:
        conn.close()


def init_database(opts, dbname):
    """Installs (or, when installed, reloads) the modules given with -i; returns the database uuid.

    Like Odoo, commits the module list ('to install') first and marks base installed only once
    everything is loaded, which takes $STANDIN_INIT_SECONDS.
    """
    modules = ["base"] + [m.strip() for m in str(opts["init"] or "").split(",")
                          if m.strip() and m.strip() not in ("base", "all")]
    demo = not opts["without_demo"]
    init_seconds = float(os.environ.get("STANDIN_INIT_SECONDS") or 0)
    loading = logging.getLogger("odoo.modules.loading")
    conn = connect(opts, dbname)
    try:
        with conn.cursor() as cr:
            # Two Odoos starting at once must not race on CREATE TABLE; held for the whole load.
            cr.execute("SELECT pg_advisory_lock(hashtext('odoo-standin-init'))")
            cr.execute(SCHEMA_SQL)
            cr.execute("SELECT state FROM ir_module_module WHERE name = 'base'")
            row = cr.fetchone()
            existed = bool(row) and row[0] == "installed"
            for name in modules:
                cr.execute(
                    "INSERT INTO ir_module_module (name, state, latest_version, demo) "
                    "VALUES (%s, 'to install', %s, %s) ON CONFLICT (name) DO NOTHING",
                    (name, SERIES + ".1.0", demo))
            conn.commit()
            loading.info("loading %d modules...", len(modules), extra={"dbname": dbname})
            if init_seconds > 0:
                time.sleep(init_seconds)
            for pid, name, email in BASE_PARTNERS:
                cr.execute("INSERT INTO res_partner (id, name, email) VALUES (%s, %s, %s) "
                           "ON CONFLICT (id) DO NOTHING", (pid, name, email))
            for uid, login, active, partner in BASE_USERS:
                cr.execute("SELECT 1 FROM res_users WHERE id = %s", (uid,))
                if cr.fetchone():
                    continue  # noupdate data: never reset on a reload
                cr.execute("INSERT INTO res_users (id, login, password, active, partner_id) "
                           "VALUES (%s, %s, %s, %s, %s)",
                           (uid, login, pbkdf2_sha512("admin") if login == "admin" else None,
                            active, partner))
            cr.execute("SELECT setval(pg_get_serial_sequence('res_partner', 'id'), "
                       "(SELECT max(id) FROM res_partner))")
            cr.execute("SELECT setval(pg_get_serial_sequence('res_users', 'id'), "
                       "(SELECT max(id) FROM res_users))")
            cr.execute("UPDATE ir_module_module SET state = 'installed', "
                       "write_date = now() at time zone 'UTC' WHERE name = ANY(%s)", (modules,))
            now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S")
            for key, value in (("database.uuid", str(uuid.uuid1())),
                               ("database.create_date", now),
                               ("database.secret", uuid.uuid4().hex)):
                cr.execute("INSERT INTO ir_config_parameter (key, value) VALUES (%s, %s) "
                           "ON CONFLICT (key) DO NOTHING", (key, value))
            cr.execute("SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'")
            db_uuid = cr.fetchone()[0]
            conn.commit()
    finally:
        conn.close()
    if existed:
        loading.info("modules reloaded: %s", ", ".join(modules), extra={"dbname": dbname})
    else:
        loading.info("init db: installed modules %s", ", ".join(modules), extra={"dbname": dbname})
    return db_uuid


def database_uuid(opts, dbname):
    conn = connect(opts, dbname)
    try:
        with conn, conn.cursor() as cr:
            cr.execute("SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'")
            return cr.fetchone()[0]
    finally:
        conn.close()


def init_filestore(opts, dbname, db_uuid):
    data_dir = opts["data_dir"]
    filestore = os.path.join(data_dir, "filestore", dbname)
    os.makedirs(filestore, exist_ok=True)
    os.makedirs(os.path.join(data_dir, "sessions"), exist_ok=True)
    marker = os.path.join(filestore, "standin.json")
    if not os.path.exists(marker):
        with open(marker + ".tmp", "w") as f:
            json.dump({"database": dbname, "database.uuid": db_uuid,
                       "created": datetime.datetime.utcnow().isoformat() + "Z"}, f)
            f.write("\n")
        os.replace(marker + ".tmp", marker)
    return filestore


# --------------------------------------------------------------------------- HTTP

LOGIN_PAGE = (b"<!DOCTYPE html><html><head><title>Odoo</title></head><body>"
              b"<form method=\"post\" action=\"/web/login\"><input name=\"login\"/>"
              b"<input name=\"password\" type=\"password\"/></form></body></html>\n")
NOT_READY = (b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
             b"<h1>Internal Server Error</h1>\n<p>The database is not ready.</p>\n")
NO_UPGRADE = b"Empty or missing header(s): upgrade\n"
NOT_FOUND = (b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n"
             b"<h1>Not Found</h1>\n<p>The requested URL was not found on the server.</p>\n")


class OdooHandler(BaseHTTPRequestHandler):
    server_version = "Werkzeug/2.0.2"
    sys_version = "Python/%d.%d.%d" % sys.version_info[:3]
    protocol_version = "HTTP/1.1"
    opts = {}
    # Set once every database is loaded: until then only /web/health answers as usual.
    ready = threading.Event()

    def _send(self, status, body=b"", content_type="text/html; charset=utf-8", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _health(self, query):
        info, status = {"status": "pass"}, 200
        flag = (query.get("db_server_status") or [""])[0]
        if flag and flag.lower() not in ("0", "false"):
            try:
                connect(self.opts, "postgres").close()
                info["db_server_status"] = True
            except psycopg2.Error:
                info["db_server_status"] = False
                info["status"] = "fail"
                status = 500
        self._send(status, json.dumps(info).encode(), "application/json",
                   [("Cache-Control", "no-store")])

    def do_GET(self):
        url = urlsplit(self.path)
        path = url.path
        if path == "/web/health":
            return self._health(parse_qs(url.query))
        if path in ("/", "/web", "/odoo"):
            return self._send(303, b"", headers=[("Location", "/web/login")])
        if path == "/web/login":
            if os.environ.get("STANDIN_BROKEN_LOGIN"):
                return self._send(500, NOT_READY)
            return self._send(200, LOGIN_PAGE) if self.ready.is_set() else self._send(500, NOT_READY)
        if path == "/websocket":
            return self._send(400, NO_UPGRADE, "text/plain; charset=utf-8")
        return self._send(404, NOT_FOUND)

    do_HEAD = do_GET

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if urlsplit(self.path).path == "/web/session/authenticate":
            return self._authenticate(body)
        self._send(404, NOT_FOUND)

    def _authenticate(self, body):
        """JSON-RPC /web/session/authenticate: {db, login, password} -> {uid, ...}, or Odoo's AccessDenied error."""
        if not self.ready.is_set():
            return self._send(500, NOT_READY)
        try:
            request = json.loads(body or b"{}")
            params = request.get("params") or {}
        except ValueError:
            return self._send(400, b"Invalid JSON data\n", "text/plain; charset=utf-8")
        databases = [d.strip() for d in str(self.opts.get("db_name") or "").split(",") if d.strip()]
        uid = None
        if params.get("db") in databases:
            try:
                uid = authenticate(self.opts, params["db"], str(params.get("login") or ""), str(params.get("password") or ""))
            except psycopg2.Error:
                uid = None
        if uid is None:
            answer = {"jsonrpc": "2.0", "id": request.get("id"), "error": {
                "code": 200, "message": "Odoo Server Error",
                "data": {"name": "odoo.exceptions.AccessDenied", "message": "Access Denied"}}}
            return self._send(200, json.dumps(answer).encode(), "application/json")
        answer = {"jsonrpc": "2.0", "id": request.get("id"), "result": {"uid": uid, "db": params["db"]}}
        self._send(200, json.dumps(answer).encode(), "application/json",
                   [("Set-Cookie", "session_id=%s; HttpOnly; Path=/" % uuid.uuid4().hex)])

    def log_message(self, fmt, *args):
        pass

    def log_request(self, code="-", size="-"):
        if self.path.startswith("/web/health"):
            return  # health checks every few seconds would drown the log
        _http_logger.info('%s - - [%s] "%s" %s - 0 0.000 0.000', self.client_address[0],
                          self.log_date_time_string(), self.requestline, code)


class OdooHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


# --------------------------------------------------------------------------- main

def _stop(signum, frame):
    _server_logger.info("Initiating shutdown")
    _server_logger.info("Hit CTRL-C again or send a second signal to force the shutdown.")
    raise SystemExit(0)


class _Unanswered:
    """A listening socket nobody accepts on: the prefork master's, while no worker lives to take a request."""

    def __init__(self, interface, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((interface, port))
        self.sock.listen(128)

    def shutdown(self):
        pass

    def server_close(self):
        self.sock.close()


def worker_birth_size():
    return int(float(os.environ.get("STANDIN_WORKER_VIRTUAL_MB") or 265) * 1024 * 1024)


def starved_workers(opts):
    """Odoo's check_limits against a fresh worker: the limit it breaks at birth, if any (prefork only)."""
    if opts["workers"] <= 0:
        return None
    born = worker_birth_size()
    for key in ("limit_memory_soft", "limit_memory_hard"):
        if opts[key] and born > opts[key]:
            return key
    return None


def starve(opts, limit):
    """What the prefork master logs while each worker it forks quits at once; returns only on a signal."""
    pid = os.getpid() + 1
    born = worker_birth_size()
    while True:
        for _ in range(opts["workers"]):
            if limit == "limit_memory_soft":
                _server_logger.info("Worker (%d) virtual memory limit (%d) reached.", pid, born)
            else:
                _server_logger.error("Worker (%d) Exception occurred, exiting...\nMemoryError", pid)
            pid += 1
        time.sleep(1)


def serve(opts, port, answered=True):
    interface = opts["http_interface"] or "0.0.0.0"
    if not answered:
        return _Unanswered(interface, port)
    server = OdooHTTPServer((interface, port), OdooHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True)
    thread.start()
    return server


def load_database(opts, dbname):
    """Initialises the database when -i/-u asks for it, else checks it is; returns an exit code or None."""
    _db_filter.dbname = dbname
    try:
        if opts["init"] or opts["update"]:
            db_uuid = init_database(opts, dbname)
        elif is_initialized(opts, dbname):
            db_uuid = database_uuid(opts, dbname)
        else:
            logging.getLogger("odoo.modules.loading").error(
                "Database %s not initialized, you can force it with `-i base`", dbname)
            return None
    except psycopg2.Error as e:
        _sql_logger.error("Connection to the database failed")
        print("psycopg2.%s: %s" % (type(e).__name__, str(e).strip()), file=sys.stderr)
        return 1
    try:
        filestore = init_filestore(opts, dbname, db_uuid)
    except OSError as e:
        logging.getLogger("odoo.tools.config").error(
            "cannot write the filestore under %s: %s", opts["data_dir"], e)
        return 1
    _logger.info("filestore: %s", filestore)
    _db_filter.dbname = "?"
    return None


def main(argv):
    if argv and argv[0] == "server":
        argv = argv[1:]
    elif argv and not argv[0].startswith("-"):
        print("odoo (stand-in): unsupported command %r; only the server is available" % argv[0],
              file=sys.stderr)
        return 1

    opts = load_options(argv)
    if opts["version"]:
        print("Odoo Server %s" % VERSION)
        return 0
    setup_logging(opts)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    _logger.info("Odoo version %s (stand-in)", VERSION)
    if opts["config"]:
        _logger.info("Using configuration file at %s", opts["config"])
    _logger.info("addons paths: %s", [p for p in str(opts["addons_path"]).split(",") if p])
    _logger.info("database: %s@%s:%s", opts["db_user"] or "default",
                 opts["db_host"] or "default", opts["db_port"] or "default")

    databases = [d.strip() for d in str(opts["db_name"] or "").split(",") if d.strip()]
    if not databases:
        _logger.warning("no database given with -d/--database: serving without one")

    servers = []
    starved = None if opts["stop_after_init"] else starved_workers(opts)
    try:
        # Like Odoo's server, HTTP is up (and /web/health answers) before the registry is loaded.
        if not opts["stop_after_init"]:
            OdooHandler.opts = opts
            servers.append(serve(opts, opts["http_port"], answered=starved is None))
            _server_logger.info("HTTP service (werkzeug) running on %s:%s",
                                opts["http_interface"] or "0.0.0.0", opts["http_port"])
            if opts["workers"] > 0:
                servers.append(serve(opts, opts["gevent_port"], answered=starved is None))
                _server_logger.info("Evented Service (longpolling) running on %s:%s",
                                    opts["http_interface"] or "0.0.0.0", opts["gevent_port"])
        for dbname in databases:
            failed = load_database(opts, dbname)
            if failed is not None:
                return failed
        OdooHandler.ready.set()

        if opts["stop_after_init"]:
            _logger.info("Stopping gracefully (--stop-after-init)")
            return 0
        if starved:
            starve(opts, starved)
        while True:
            time.sleep(3600)
    except SystemExit as e:
        return e.code or 0
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
