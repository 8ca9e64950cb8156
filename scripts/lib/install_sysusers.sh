#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: install_sysusers.sh SYSUSERS_FILE (run by `meson install`, never into a DESTDIR)
# Creates the ringlb system user and group that configs/ringlb.service runs as, with
# systemd-sysusers, after a real installation as root. Elsewhere it says what to do instead.
set -u
file=$1
if [ "$(id -u)" -ne 0 ]; then
    echo "ringlb: not root: create the ringlb user later with: systemd-sysusers $file" >&2
    exit 0
fi
if ! command -v systemd-sysusers >/dev/null 2>&1; then
    echo "ringlb: systemd-sysusers not found: create a system user and group named ringlb" >&2
    exit 0
fi
exec systemd-sysusers "$file"
