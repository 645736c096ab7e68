#!/usr/bin/env bash
# The large seeded torture run of sync (server/tests/it/torture.rs, debug build: the run is bound by
# HTTP and SQLite, not by the optimizer, and the tests' debug build is the one `make test` keeps
# current). `scripts/torture.sh SEED OPS`. On failure, bisects the number of operations (the same
# seed replays the same operations) and shows the shortest failing prefix with its operations.
# CANOPY_TORTURE_MIXED=1 runs the mixed cluster instead (server/tests/it/mixed.rs).
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. ./.toolchain.env
export PATH="$CANOPY_TOOLCHAIN_BIN:$PATH"
seed="${1:-14}"
ops="${2:-3000}"
test_name=torture::torture_concurrent_deletes_clones_and_edits_converge
summary='^torture: '
if [ "${CANOPY_TORTURE_MIXED:-0}" != 0 ]; then
  test_name=mixed::mixed_cluster_with_a_trilium_client_converges
  summary='^mixed torture: '
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

"$CANOPY_CARGO" test -p canopy-server --test it --no-run || exit 1

# run OPS [extra test args…]: the test with that many operations; its output in $log.
run() {
  local n="$1"
  shift
  CANOPY_TORTURE_SEED="$seed" CANOPY_TORTURE_OPS="$n" RUST_BACKTRACE=0 \
    "$CANOPY_CARGO" test -q -p canopy-server --test it -- --exact "$test_name" --nocapture "$@" >"$log" 2>&1
}

if run "$ops"; then
  grep "$summary" "$log"
  exit 0
fi
cat "$log"
echo "make torture: SEED=$seed OPS=$ops failed; looking for the shortest failing prefix" >&2
passing=0
failing="$ops"
while [ $((failing - passing)) -gt 1 ]; do
  middle=$(((passing + failing) / 2))
  if run "$middle"; then
    passing="$middle"
    echo "  OPS=$middle passes" >&2
  else
    failing="$middle"
    echo "  OPS=$middle fails: $(grep "$summary" "$log" || echo 'no summary (see below)')" >&2
  fi
done
run "$failing"
cat "$log"
echo "make torture: the shortest failing prefix is SEED=$seed OPS=$failing (OPS=$passing passes); its operations are above" >&2
exit 1
