# shellcheck shell=bash
# Shared by the scripts in scripts/: package installation and the meson build.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Debian 12 packages needed to configure and build ringlb and its tests: libssl-dev for the
# admin endpoint's TLS, libc-ares-dev for DNS SRV discovery, Catch2 and libseccomp-dev (the
# helper that runs ringlb under the unit's system call filter) for the tests.
BUILD_PACKAGES=(g++ meson ninja-build pkg-config liburing-dev libfmt-dev libcli11-dev
                libtomlplusplus-dev libssl-dev libc-ares-dev catch2 libseccomp-dev)
# And the tools the tests run: network namespaces, nft rules, prlimit/unshare, scripts;
# openssl and curl for the admin TLS tests; systemd for systemd-analyze (the unit's verify
# and security checks, the syscall-filter groups); strace to inject kernel errors into a
# shard (shard_failure); dnsmasq-base, the DNS server that answers SRV queries in the
# discovery test; bird2, the BGP daemon (with BFD) of the router and hosts in the ecmp test;
# chromium, chromium-driver and python3-selenium, the headless browser that the stats_page test
# drives through the admin stats page.
TEST_PACKAGES=(iproute2 nftables util-linux python3 openssl curl systemd strace dnsmasq-base
               bird2 chromium chromium-driver python3-selenium)

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

# configure DIR [MESON-OPTION...]: configures DIR once (or reconfigures it).
configure() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$ROOT" "$@" >&2
    fi
}

# build DIR [MESON-OPTION...]: configures DIR and builds everything in it.
build() {
    configure "$@"
    ninja -C "$1" >&2
}

# build_targets DIR TARGET... : builds only these targets of a configured DIR.
build_targets() {
    local dir=$1
    shift
    ninja -C "$dir" "$@" >&2
}
