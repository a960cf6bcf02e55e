# The two commands: `make run` (install and start Hone embedded) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

# Tests use the real PostgreSQL and Redis on this machine (see README, Testing).
TEST_DATABASE_URL ?= postgres://root@127.0.0.1:5432/hone
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build; other requirements then find it satisfied.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

run: install
	$(BIN)/python manage.py serve

test: install
	scripts/install-browser
	scripts/check-kustomize
	DATABASE_URL=$(TEST_DATABASE_URL) HONE_VAR=$(CURDIR)/var/test \
		CELERY_BROKER_URL=$(TEST_REDIS_URL) HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/pytest $(PYTEST_ARGS)

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

clean:
	rm -rf var/test var/bench
