#!/usr/bin/env bash
# Release build of the server, the front end and the benchmark, then the benchmark (server/examples/bench/).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. ./.toolchain.env
export PATH="$CANOPY_TOOLCHAIN_BIN:$PATH"
scripts/build.sh release
"$CANOPY_CARGO" build --release -p canopy-server --example bench
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac
CANOPY_SITE_ROOT="$target_dir/release/site" exec "$target_dir/release/examples/bench" "${1:-100000}"
