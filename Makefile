# The two commands of the README: `make run` and `make test`. Both set up whatever is missing first.
.DEFAULT_GOAL := run
.PHONY: run test build build-release bench torture setup setup-test clean

# Users run this daily as their notes server: the optimized build.
run: build-release
	scripts/run.sh

# Tests run on the debug build, which compiles much faster.
test: setup-test build
	scripts/test.sh

build: setup
	scripts/build.sh

build-release: setup
	scripts/build.sh release

# Speed and memory at scale (release build): NOTES=100000 by default.
bench: setup-test
	scripts/bench.sh $(NOTES)

# The large seeded torture run of sync (a hub, two clients, concurrent deletes, clones and edits);
# on failure, the shortest failing prefix of its operations. `make torture SEED=7 OPS=5000`;
# `MIXED=1`: the mixed cluster, one of the clients speaking as Trilium 0.63 does.
SEED ?= 14
OPS ?= 3000
MIXED ?= 0
torture: setup
	CANOPY_TORTURE_MIXED=$(MIXED) scripts/torture.sh $(SEED) $(OPS)

setup:
	@scripts/bootstrap.sh

setup-test:
	@scripts/bootstrap.sh --with-browser

clean:
	rm -rf target end2end/node_modules end2end/test-results editors/node_modules .toolchain.env
