#!/usr/bin/env bash
# Builds the server binary and the hydrating front end.
#   scripts/build.sh          debug build (make test): target/debug/canopy, site in target/site
#   scripts/build.sh release  optimized build (make run, make bench): target/release/canopy, site in target/release/site
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. ./.toolchain.env
export PATH="$CANOPY_TOOLCHAIN_BIN:$PATH"
target_dir="${CARGO_TARGET_DIR:-target}"
profile="${1:-debug}"
case "$profile" in
  debug) cargo_profile=(); site="$target_dir/site" ;;
  release) cargo_profile=(--release); site="$target_dir/release/site" ;;
  *) echo "build.sh: unknown profile '$profile' (debug or release)" >&2; exit 2 ;;
esac

# Two invocations on purpose: building both packages in one cargo call would unify the app crate's
# `ssr` and `hydrate` features.
"$CANOPY_CARGO" build "${cargo_profile[@]}" -p frontend --target wasm32-unknown-unknown
"$CANOPY_CARGO" build "${cargo_profile[@]}" -p canopy-server --bin canopy

wasm="$target_dir/wasm32-unknown-unknown/$profile/frontend.wasm"
mkdir -p "$site/pkg"
if [ ! -f "$site/pkg/canopy_bg.wasm" ] || [ "$wasm" -nt "$site/pkg/canopy_bg.wasm" ]; then
  "$CANOPY_TOOLS_BIN/wasm-bindgen" --target web --no-typescript --out-dir "$site/pkg" --out-name canopy "$wasm"
fi
cat style/*.css > "$site/pkg/canopy.css"
cp -R public/. "$site/"

# The editors (CKEditor 5, CodeMirror 6): bundled by esbuild into pkg/editors/ when their sources or
# lockfile are newer than the bundle.
editors_out="$site/pkg/editors"
if [ ! -f "$editors_out/editors.js" ] ||
  [ -n "$(find editors/src editors/build.mjs editors/package-lock.json -newer "$editors_out/editors.js" -print -quit)" ]; then
  node editors/build.mjs "$editors_out"
fi
