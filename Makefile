# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_REDIS_PORT ?= 6390

.PHONY: run test lint install bench generate clean stack stack-down build-stack

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the service on :8000 with the embedded defaults (offline LLM, memory cache; Redis and an
## OTLP Collector are used when present/configured).
run: $(STAMP)
	HOST=$${HOST:-0.0.0.0} $(PY) -m app

## Install what the tests need, start a real Redis on a test port, run every test, stop Redis.
test: $(STAMP) build-stack
	REDIS_PORT=$(TEST_REDIS_PORT) scripts/redis.sh start
	set -o pipefail; status=0; \
	TEST_REDIS_URL=redis://127.0.0.1:$(TEST_REDIS_PORT)/0 $(PY) -m pytest -q $(PYTEST_ARGS) || status=$$?; \
	REDIS_PORT=$(TEST_REDIS_PORT) scripts/redis.sh stop >/dev/null; exit $$status  # pytest's summary stays the last line

## ruff, mypy (strict) and the layers (lint-imports: the [tool.importlinter] contracts in pyproject.toml).
lint: $(STAMP)
	$(PY) -m ruff check app instrumentation tests bench
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

## Regenerate the Prometheus rules, Grafana dashboards and the gateway's tail-sampling policies from the
## KPI catalog (checked in).
generate: $(STAMP)
	$(PY) -m app.monitoring.rules > collector/prometheus/rules/kpi-alerts.yml
	$(PY) -m app.monitoring.sampling > collector/otelcol/gateway-policies.yaml
	$(PY) -m app.monitoring.dashboards collector/grafana/dashboards

bench: $(STAMP)
	$(PY) bench/overhead.py

## Build the stack's Go programs (the Collector, Jaeger, VictoriaLogs) into ~/.cache/llm-obs-stack: about
## 15 minutes cold on 2 cores, instant when cached (rebuilt only when a pin changes). Without Go this
## says so and does nothing: the tests that need these programs skip.
build-stack:
	@if ! command -v go >/dev/null; then echo "build-stack: no Go on PATH, nothing built"; exit 0; fi; \
	scripts/build-collector.sh >/dev/null && \
	scripts/build-go-tool.sh jaeger >/dev/null && \
	scripts/build-go-tool.sh victoria-logs >/dev/null

## The whole stack as local processes (Redis, Collector, Jaeger, VictoriaLogs, Prometheus, Alertmanager,
## Pushgateway, the service); `make stack STACK_ARGS=--demo` adds demo traffic. Grafana: docker compose.
stack:
	scripts/stack.sh up $(STACK_ARGS)

stack-down:
	scripts/stack.sh down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
