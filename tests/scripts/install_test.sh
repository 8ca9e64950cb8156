#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: install_test.sh MESON BUILD_DIR BINARY UNIT CONFIG SOURCE_CONFIG
# `meson install` into a scratch DESTDIR puts the binary, the systemd unit and the config
# (a copy of SOURCE_CONFIG) at the given absolute paths, and the unit can start ringlb with
# that config, reload it and open enough files.
set -u

if [ "$#" -ne 6 ]; then
    echo "usage: $0 MESON BUILD_DIR BINARY UNIT CONFIG SOURCE_CONFIG" >&2
    exit 2
fi
meson=$1
build_dir=$2
binary=$3
unit=$4
config=$5
source_config=$6

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

if [ "$failures" -ne 0 ]; then
    echo "installed files:" >&2
    find "$destdir" -type f >&2
    exit 1
fi
echo "ok: $binary, $unit and $config installed"
