#!/bin/sh
# The official odoo image gets its user odoo (uid 101, gid 101, home /var/lib/odoo) from the odoo .deb's postinst; this
# makes it with the same ids, in the stand-in and in the real Odoo image built offline. A group of the base image that
# took gid 101 (Debian's ssl-cert, pulled in by PostgreSQL) is moved out of the way first.
set -eu
if getent passwd 101 >/dev/null; then echo "uid 101 is taken in the base image" >&2; exit 1; fi
if group="$(getent group 101 | cut -d: -f1)" && [ -n "$group" ]; then
    groupmod --gid 998 "$group"
    find / -xdev -gid 101 -exec chgrp -h "$group" {} +
fi
groupadd --system --gid 101 odoo
useradd --system --uid 101 --gid 101 --home-dir /var/lib/odoo --no-create-home --shell /usr/sbin/nologin --comment "Odoo" odoo
mkdir -p /var/lib/odoo /etc/odoo /mnt/extra-addons
chown -R odoo:odoo /var/lib/odoo /mnt/extra-addons
