# quoteflow: the two Quickstart commands, plus helpers.
#   make run    builds and runs the whole local system (own Postgres, a real Kafka broker, services)
#   make test   installs what is missing, builds, and runs every test
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?=
# What `make run` needs: the launcher and the binaries it starts (not the test binaries).
RUN_TARGETS = quoteflow-local quote-api outbox-relay policy-worker customer-worker \
	quote-worker saga-orchestrator quotectl
MAKEFLAGS += --no-print-directory

.PHONY: deps configure build run test test-unit clean chaos bench

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target $(RUN_TARGETS)
	@bash tools/local/run-local.sh $(BUILD_DIR)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j 2 $(CTEST_ARGS)

test-unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L unit

# The full chaos suite (tests/chaos): every scenario at the issue's sizes; the report lands in
# $(BUILD_DIR)/chaos-report.txt, one `CHAOS <scenario> PASS|FAIL <counts>` line per scenario is
# printed, and any violation makes this target fail.
chaos: build
	@rm -f $(BUILD_DIR)/chaos-report.txt
	@cd $(BUILD_DIR) && QUOTEFLOW_CHAOS_FULL=1 QUOTEFLOW_CHAOS_REPORT=$(abspath $(BUILD_DIR))/chaos-report.txt \
		./tests/chaos/chaos_test $(CHAOS_ARGS) > chaos-run.log 2>&1; rc=$$?; \
		grep '^CHAOS ' chaos-report.txt || echo "CHAOS no scenario ran (see $(BUILD_DIR)/chaos-run.log)"; \
		echo "report: $(BUILD_DIR)/chaos-report.txt, log: $(BUILD_DIR)/chaos-run.log"; \
		if [ $$rc -ne 0 ] || grep -q '^CHAOS .* FAIL' chaos-report.txt || ! grep -q '^CHAOS ' chaos-report.txt; then exit 1; fi

# Every benchmark against its same-run baseline (docs/performance.md); BENCH_SIZE=tiny for a smoke run.
bench: build
	@bash tests/bench/run_benchmarks.sh $(BUILD_DIR) $(or $(BENCH_SIZE),full)

clean:
	rm -rf $(BUILD_DIR)
