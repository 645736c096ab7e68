#!/usr/bin/env bash
# Starts one instance (the optimized build) with the data directory ~/trilium-data (or $TRILIUM_DATA_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/canopy" --site-root "$target_dir/release/site" "$@"
