#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: run_bounded.sh FUZZER SEED_DIR ARTIFACT_PREFIX [LIBFUZZER-FLAG...]
# Runs FUZZER over the seeds in SEED_DIR without writing to it (new inputs go to a temporary
# directory that is removed); a crash or hang is saved as ARTIFACT_PREFIX{crash,timeout}-SHA1.
set -euo pipefail
fuzzer=$1 seeds=$2 prefix=$3
shift 3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# UBSan only reports by default; libFuzzer must see every report as a crash.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
# libFuzzer's default exit code for a finding, 77, would read as "skipped" to meson.
"$fuzzer" -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$prefix" "$@" "$scratch" "$seeds"
