#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: install_test.sh MESON BUILD_DIR BINARY UNIT CONFIG SOURCE_CONFIG SYSUSERS
# `meson install` into a scratch DESTDIR puts the binary, the systemd unit, its sysusers.d
# entry and the config (a copy of SOURCE_CONFIG) at the given absolute paths; the unit can
# start ringlb with that config, reload it and open enough files; `systemd-analyze verify`
# finds nothing to say about it, and `systemd-analyze security` rates its exposure 2.0 or
# less (the score is printed).
set -u

if [ "$#" -ne 7 ]; then
    echo "usage: $0 MESON BUILD_DIR BINARY UNIT CONFIG SOURCE_CONFIG SYSUSERS" >&2
    exit 2
fi
meson=$1
build_dir=$2
binary=$3
unit=$4
config=$5
source_config=$6
sysusers=$7
max_exposure=2.0

destdir=$(mktemp -d "${TMPDIR:-/tmp}/ringlb-install-test.XXXXXX") || exit 1
trap 'rm -rf "$destdir"' EXIT

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# --no-rebuild: meson test has built the tree already, and a nested ninja would wait on the
# build directory's lock.
if ! "$meson" install -C "$build_dir" --destdir "$destdir" --no-rebuild --quiet; then
    echo "FAIL: meson install into $destdir failed" >&2
    exit 1
fi

[ -f "$destdir$binary" ] || fail "binary missing: $binary"
[ -x "$destdir$binary" ] || fail "binary not executable: $binary"
[ -f "$destdir$config" ] || fail "config missing: $config"
if [ -f "$destdir$unit" ]; then
    for directive in 'ExecReload=' 'LimitNOFILE=' 'Type=notify' 'KillSignal=SIGTERM'; do
        grep -q "^$directive" "$destdir$unit" || fail "unit lacks $directive"
    done
    grep -q "^ExecStart=$binary --config $config\$" "$destdir$unit" ||
        fail "unit's ExecStart is not \"$binary --config $config\""
    grep -q '@[A-Z][A-Z_]*@' "$destdir$unit" && fail "unit has unreplaced @...@ placeholders"
else
    fail "unit missing: $unit"
fi
if [ -f "$destdir$config" ]; then
    cmp -s "$source_config" "$destdir$config" || fail "installed config is not $source_config"
fi
if [ -f "$destdir$sysusers" ]; then
    grep -q '^u ringlb ' "$destdir$sysusers" || fail "$sysusers does not make the user ringlb"
    grep -q '^User=ringlb$' "$destdir$unit" || fail "unit does not run as User=ringlb"
else
    fail "sysusers.d entry missing: $sysusers"
fi

# systemd's own checks, on a copy of the installed unit whose commands point into DESTDIR
# (verify checks that ExecStart's binary exists). CI has no systemd as PID 1; these need none.
if ! command -v systemd-analyze >/dev/null 2>&1; then
    fail "systemd-analyze not found (Debian package systemd; scripts/lib/common.sh installs it)"
elif [ -f "$destdir$unit" ]; then
    mkdir "$destdir/verify"
    sed "s|$binary|$destdir$binary|g" "$destdir$unit" >"$destdir/verify/ringlb.service"
    # verify exits 0 on mere warnings (an unknown key, say): any output is a failure too.
    if ! verify_output=$(systemd-analyze verify --man=no "$destdir/verify/ringlb.service" 2>&1) ||
        [ -n "$verify_output" ]; then
        fail "systemd-analyze verify: ${verify_output:-exit status non-zero}"
    fi
    security=$(systemd-analyze security --offline=yes --no-pager \
        "$destdir/verify/ringlb.service" 2>&1)
    exposure=$(printf '%s\n' "$security" |
        sed -n 's/.*Overall exposure level for ringlb.service: \([0-9.]*\).*/\1/p')
    if [ -z "$exposure" ]; then
        fail "systemd-analyze security printed no exposure level: $security"
    else
        echo "systemd-analyze security: ringlb.service exposure $exposure (at most $max_exposure)"
        if awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e > m) }'; then
            printf '%s\n' "$security" | grep '✗' >&2
            fail "ringlb.service exposure $exposure is above $max_exposure"
        fi
    fi
fi

if [ "$failures" -ne 0 ]; then
    echo "installed files:" >&2
    find "$destdir" -type f >&2
    exit 1
fi
echo "ok: $binary, $unit and $config installed"
