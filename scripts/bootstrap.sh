#!/usr/bin/env bash
# Sets up everything `make run` and `make test` need, on a fresh machine or an ordinary one.
# Idempotent: once everything is in place it only checks, in well under 5 seconds.
#
# Writes `.toolchain.env` (sourced by the Makefile) naming the cargo that can build both the server and
# the wasm32 front end. Two ways to get a wasm32 standard library:
#   1. rustup with internet: `rustup target add wasm32-unknown-unknown`;
#   2. offline machines (crates.io, npm and Debian apt only): Debian's rustc-web ships rustc 1.96 with
#      std sources; we build the wasm32 std once and install it into that toolchain's sysroot.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Pinned tool versions. wasm-bindgen-cli must equal the wasm-bindgen crate pinned in frontend/Cargo.toml.
wasm_bindgen_version=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' frontend/Cargo.toml)
[ -n "$wasm_bindgen_version" ] || { echo "bootstrap: cannot read the wasm-bindgen pin from frontend/Cargo.toml" >&2; exit 1; }
tools_dir="${CANOPY_TOOLS_DIR:-$HOME/.local/share/canopy-tools}"

log() { echo "bootstrap: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; exit 1; fi
}

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { log "please install: ${missing[*]}"; exit 1; }
  log "installing Debian packages: ${missing[*]}"
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

has_wasm_std() { # $1 = rustc
  local sysroot
  sysroot=$("$1" --print sysroot 2>/dev/null) || return 1
  ls "$sysroot"/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib >/dev/null 2>&1
}

choose_toolchain() {
  # Already decided and still valid?
  if [ -f .toolchain.env ]; then
    # shellcheck disable=SC1091
    . ./.toolchain.env
    if [ -x "${CANOPY_CARGO:-}" ] && has_wasm_std "$CANOPY_RUSTC"; then return 0; fi
  fi
  local cargo rustc
  # CANOPY_TOOLCHAIN=debian skips rustup (to test the offline path on a machine that has internet).
  # 1. The ordinary way: rustup, with the target added (needs internet once).
  if [ "${CANOPY_TOOLCHAIN:-}" != debian ] && command -v rustup >/dev/null && command -v cargo >/dev/null; then
    rustc=$(rustup which rustc 2>/dev/null || true)
    if [ -n "$rustc" ] && ! has_wasm_std "$rustc"; then
      log "trying: rustup target add wasm32-unknown-unknown"
      timeout 120 rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
    fi
    if [ -n "$rustc" ] && has_wasm_std "$rustc"; then
      cargo=$(rustup which cargo)
      write_env "$cargo" "$rustc" "$(dirname "$cargo")"
      return 0
    fi
    log "rustup cannot add the wasm32 target here; using Debian's rustc-web"
  fi
  # 2. Offline: Debian's rustc-web toolchain plus a wasm32 std built from its sources.
  apt_install rustc-web cargo-web rust-web-src lld-19
  cargo=/usr/bin/cargo rustc=/usr/bin/rustc
  local sysroot
  sysroot=$("$rustc" --print sysroot)
  local lld_link="$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
  if [ ! -e "$lld_link" ]; then
    as_root mkdir -p "$(dirname "$lld_link")"
    as_root ln -sf /usr/lib/llvm-19/bin/lld "$lld_link"
  fi
  if ! has_wasm_std "$rustc"; then
    log "building the wasm32 standard library once (about a minute)"
    local work
    work=$(mktemp -d)
    mkdir -p "$work/src"
    printf '[package]\nname = "wasm-std-seed"\nversion = "0.0.0"\nedition = "2021"\n[lib]\npath = "src/lib.rs"\n[profile.release]\npanic = "abort"\n' > "$work/Cargo.toml"
    : > "$work/src/lib.rs"
    (cd "$work" && PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$work/target" \
      "$cargo" build -q --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort)
    local dest="$sysroot/lib/rustlib/wasm32-unknown-unknown/lib"
    as_root mkdir -p "$dest"
    for rlib in "$work"/target/wasm32-unknown-unknown/release/deps/lib*.rlib; do
      case "$(basename "$rlib")" in libwasm_std_seed-*) continue ;; esac
      as_root cp "$rlib" "$dest/"
    done
    rm -rf "$work"
    has_wasm_std "$rustc" || { log "the wasm32 std did not install"; exit 1; }
  fi
  write_env "$cargo" "$rustc" /usr/bin
}

write_env() {
  cat > .toolchain.env <<ENV
# Written by scripts/bootstrap.sh; the toolchain that builds server and wasm front end alike.
CANOPY_CARGO=$1
CANOPY_RUSTC=$2
CANOPY_TOOLCHAIN_BIN=$3
CANOPY_TOOLS_BIN=$tools_dir/bin
ENV
  # shellcheck disable=SC1091
  . ./.toolchain.env
}

install_wasm_bindgen() {
  local bin="$tools_dir/bin/wasm-bindgen"
  if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "wasm-bindgen $wasm_bindgen_version" ]; then return 0; fi
  log "installing wasm-bindgen-cli $wasm_bindgen_version (about 3 minutes, once)"
  # Not --locked: one of its locked dependency versions is not on the registry mirror here.
  PATH="$CANOPY_TOOLCHAIN_BIN:$PATH" "$CANOPY_CARGO" install -q wasm-bindgen-cli \
    --version "$wasm_bindgen_version" --root "$tools_dir"
}

install_browser_tests() {
  if ! command -v chromium >/dev/null && [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi
  if [ ! -f end2end/node_modules/.package-lock.json ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    log "installing the end-to-end test packages (npm ci)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# The editors' npm packages (CKEditor 5, CodeMirror 6, esbuild), pinned by editors/package-lock.json.
install_editors() {
  command -v npm >/dev/null || { log "please install node and npm (the editors are bundled with esbuild)"; exit 1; }
  if [ ! -f editors/node_modules/.package-lock.json ] || [ editors/package-lock.json -nt editors/node_modules/.package-lock.json ]; then
    log "installing the editors' packages (npm ci)"
    (cd editors && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

choose_toolchain
install_wasm_bindgen
install_editors
case "${1:-}" in
  --with-browser) install_browser_tests ;;
esac
