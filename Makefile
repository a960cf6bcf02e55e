# The two commands: `make run` (install and start Hone embedded) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per level, named after what decides the install: a changed pyproject.toml or
# install script reinstalls. `run` is the runtime only; `test` adds the test and lint tools.
INSTALL_HASH := $(shell cat pyproject.toml scripts/install | sha256sum | cut -c1-12)
RUN_STAMP := $(VENV)/.installed-run-$(INSTALL_HASH)
TEST_STAMP := $(VENV)/.installed-test-$(INSTALL_HASH)

# Tests use the real PostgreSQL and Redis on this machine (see README, Testing).
TEST_DATABASE_URL ?= postgres://root@127.0.0.1:5432/hone
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install install-run run test test-slow lint bench bench-estimate clean

install: $(TEST_STAMP)
install-run: $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml scripts/install
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/install run
	rm -f $(VENV)/.installed-*
	touch $@

# The test level includes the run level, so its stamp stands for both.
$(TEST_STAMP): pyproject.toml scripts/install
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/install test
	rm -f $(VENV)/.installed-*
	touch $@ $(RUN_STAMP)

run: install-run
	$(BIN)/python manage.py serve

TEST_ENV = DATABASE_URL=$(TEST_DATABASE_URL) HONE_VAR=$(CURDIR)/var/test \
	CELERY_BROKER_URL=$(TEST_REDIS_URL) HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1

# Slow tests (marked `slow`: the real SmolLM2 weights) are left out here; `make test-slow` runs them.
test: install
	scripts/install-browser
	scripts/install-test-data
	scripts/check-kustomize
	$(TEST_ENV) $(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(TEST_ENV) $(BIN)/pytest -m slow $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# Dispatch latency, embedded (SQLite + folder broker), then production-like (PostgreSQL + Redis).
BENCH_DATABASE_URL ?= postgres://root@127.0.0.1:5432/hone_bench
bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/dispatch_latency.py
	psql "$(dir $(BENCH_DATABASE_URL))postgres" -qc "CREATE DATABASE $(notdir $(BENCH_DATABASE_URL))" 2>/dev/null || true
	DATABASE_URL=$(BENCH_DATABASE_URL) CELERY_BROKER_URL=redis://127.0.0.1:6379/14 HF_HUB_OFFLINE=1 \
		$(BIN)/python bench/dispatch_latency.py
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/api_latency.py
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/api_ingest.py
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/ui_render.py
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(BIN)/python bench/quantize_speed.py --runs 5
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(BIN)/python bench/sft_throughput.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/merge_vs_mergekit.py --size medium --runs 3
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(BIN)/python bench/grpo_vs_trl.py --runs 3
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(BIN)/python bench/grpo_heldout.py

clean:
	rm -rf var/test var/bench
