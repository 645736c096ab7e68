#!/usr/bin/env bash
# Every Rust test, then the Playwright suite in headless Chromium. Runs both even if the first fails,
# so one run shows everything; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. ./.toolchain.env
export PATH="$CANOPY_TOOLCHAIN_BIN:$PATH"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac

# The frontend crate is left out: it is a wasm-only cdylib, built by scripts/build.sh.
"$CANOPY_CARGO" test -p app -p canopy-server
rust=$?

(cd end2end && CANOPY_BIN="$target_dir/debug/canopy" CANOPY_SITE_ROOT="$target_dir/site" npx playwright test)
browser=$?

if [ $rust -ne 0 ] || [ $browser -ne 0 ]; then
  echo "make test: FAILED (rust tests exit $rust, browser tests exit $browser)" >&2
  exit 1
fi
