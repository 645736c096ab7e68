#!/usr/bin/env bash
# Release build of the server and the sync benchmark, then the benchmark (server/examples/sync_bench.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. ./.toolchain.env
export PATH="$CANOPY_TOOLCHAIN_BIN:$PATH"
"$CANOPY_CARGO" build --release -p canopy-server --bin canopy --example sync_bench
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/examples/sync_bench" "${1:-100000}"
