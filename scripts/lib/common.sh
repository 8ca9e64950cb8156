# shellcheck shell=bash
# Shared by the scripts in scripts/: package installation and the meson build.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Debian 12 packages needed to build ringlb and run its tests.
# libssl-dev: the admin endpoint's TLS; openssl and curl: its tests; systemd: systemd-analyze
# (the unit's verify and security checks, the syscall-filter groups); libseccomp-dev: the
# test helper that runs ringlb under the unit's system call filter.
BUILD_PACKAGES=(g++ meson ninja-build pkg-config liburing-dev libfmt-dev libcli11-dev
                libtomlplusplus-dev catch2 iproute2 nftables util-linux python3
                libssl-dev openssl curl systemd libseccomp-dev)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages PKG...: installs with apt-get whichever of PKG is not installed yet.
ensure_packages() {
    local missing=()
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
}

# build DIR [MESON-OPTION...]: configures DIR once (or reconfigures it) and builds it.
build() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$ROOT" "$@" >&2
    fi
    ninja -C "$dir" >&2
}
