# Every target sets up what it needs: the virtual environment, the dependencies, the broker.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help setup lab test test-fast kafka-up kafka-down kafka-status cluster-up cluster-down \
        exercises fake-website demo-site bench bench-variants reliability grade clean

help:
	@echo "make lab        start Kafka and JupyterLab on the notebooks"
	@echo "make test       run the whole suite (starts its own broker unless KAFKA_BOOTSTRAP_SERVERS is set)"
	@echo "make kafka-up | kafka-down | kafka-status | cluster-up | cluster-down"
	@echo "make exercises | fake-website ARGS=... | demo-site | bench | bench-variants | reliability | grade SUBMISSIONS=path"
	@echo "make setup      only the set-up: the virtual environment and its dependencies"

$(READY): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(READY)

lab: $(READY)
	$(BIN)/python -m clickkit.lab

test: $(READY)
	@bash tests/browser/install.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

kafka-up: $(READY)
	$(BIN)/python -m clickkit.broker up

kafka-down: $(READY)
	$(BIN)/python -m clickkit.broker down

kafka-status: $(READY)
	$(BIN)/python -m clickkit.broker status

cluster-up: $(READY)
	$(BIN)/python -m clickkit.broker up --cluster

cluster-down: $(READY)
	$(BIN)/python -m clickkit.broker down --cluster

exercises: $(READY)
	$(BIN)/python -m clickkit.exercises

fake-website: $(READY)
	$(BIN)/python -m clickkit.traffic $(ARGS)

demo-site: $(READY)
	$(BIN)/python -m clickkit.demo_site $(ARGS)

bench: $(READY)
	$(BIN)/python -m clickkit.bench $(ARGS)

bench-variants: $(READY)
	$(BIN)/python -m clickkit.bench_variants $(ARGS)

reliability: $(READY)
	$(BIN)/python -m clickkit.reliability $(ARGS)

grade: $(READY)
	@test -n "$(SUBMISSIONS)" || { echo "Usage: make grade SUBMISSIONS=path/to/notebook-or-folder"; exit 2; }
	$(BIN)/python -m clickkit.grading "$(SUBMISSIONS)" $(ARGS)

clean: kafka-down cluster-down
	rm -rf .kit
