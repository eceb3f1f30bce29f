# Every target sets up what it needs: the virtual environment, the dependencies, the broker.
PYTHON ?= python3
# The devcontainer keeps its environment outside the checkout (CLICKKIT_VENV), so no root-owned .venv appears in it.
VENV := $(or $(CLICKKIT_VENV),.venv)
BIN := $(VENV)/bin
READY := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help setup doctor lab test test-fast kafka-up kafka-down kafka-status cluster-up cluster-down \
        exercises fake-website demo-site demo bench bench-variants reliability grade check release answers clean lint \
        test-devcontainer

help:
	@echo "make lab        start Kafka and JupyterLab on the notebooks"
	@echo "make test       run the whole suite (starts its own broker unless KAFKA_BOOTSTRAP_SERVERS is set)"
	@echo "make test-fast  the tests that need no broker and no Java, in seconds, then make lint"
	@echo "make lint       the formatter and the linter (ruff) over the code and the solutions' code cells"
	@echo "make test-devcontainer  docker-compose.yml and the devcontainer run for real, make test inside (Linux, root)"
	@echo "make kafka-up | kafka-down | kafka-status | cluster-up | cluster-down"
	@echo "make exercises | fake-website ARGS=... | demo-site | bench | bench-variants | reliability | grade SUBMISSIONS=path"
	@echo "make demo       the classroom demo: site, endpoint, live page (ARGS='--host 0.0.0.0' for phones)"
	@echo "make grade SUBMISSIONS=folder ROSTER=class.csv DEADLINE=... LATE=... JOBS=2 (docs/grading.md)"
	@echo "make check NOTEBOOK=path (a student's own checks)"
	@echo "make release DEST=path  the student's kit, no answers | answers DEST=path  what to publish after the deadline"
	@echo "make setup      only the set-up: the virtual environment and its dependencies"
	@echo "make doctor     check the set-up (Python, Java, Maven, Docker, ports, Kafka): one line each, with the fix"

$(READY): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(READY)

# Works before `make setup` too (even when it fails): then with the system's Python and no dependencies.
doctor:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m clickkit.doctor; \
	elif command -v $(PYTHON) >/dev/null; then PYTHONPATH=src $(PYTHON) -m clickkit.doctor; \
	else echo "✗ Python: $(PYTHON) was not found: install Python 3.11 or newer (docs/setup.md)"; exit 1; fi

lab: $(READY)
	$(BIN)/python -m clickkit.course.lab

# As root (CI), the compose topology test builds its network with `ip netns`, from Debian's iproute2.
test: $(READY)
	@bash tests/browser/install.sh
	@command -v ip >/dev/null || [ "$$(id -u)" -ne 0 ] || { echo "Installing iproute2 for the compose topology test..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; }
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# A Docker engine of its own, stand-in images, docker compose and devcontainer up, then make test inside:
# tests/devcontainer/README.md. CI runs it after make test.
test-devcontainer: $(READY)
	KIT_PYTHON=$(BIN)/python bash tests/devcontainer/run.sh

# The inner loop: no broker, no Java, no notebooks; then the formatter and the linter (pyproject.toml's [tool.ruff]).
test-fast: $(READY)
	$(BIN)/python -m pytest tests -m "not kafka and not slow and not java" $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory lint

# The formatter and the linter, configured in pyproject.toml ([tool.ruff]); CI runs it too.
lint: $(READY)
	$(BIN)/python -m ruff format --check --quiet . || { echo "Formatting differs: run $(BIN)/python -m ruff format ."; exit 1; }
	$(BIN)/python -m ruff check --quiet .

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
	$(BIN)/python -m clickkit.course.exercises

fake-website: $(READY)
	$(BIN)/python -m clickkit.traffic $(ARGS)

demo-site: $(READY)
	$(BIN)/python -m clickkit.demo.site $(ARGS)

demo: $(READY)
	$(BIN)/python -m clickkit.demo $(ARGS)

bench: $(READY)
	$(BIN)/python -m clickkit.bench $(ARGS)

bench-variants: $(READY)
	$(BIN)/python -m clickkit.bench.variants $(ARGS)

reliability: $(READY)
	$(BIN)/python -m clickkit.reliability $(ARGS)

# Each variable is passed only when set (docs/grading.md, "Grading a class"); OVERRIDES alone updates OUT.
grade: $(READY)
	@test -n "$(SUBMISSIONS)$(OVERRIDES)" || { echo "Usage: make grade SUBMISSIONS=path/to/notebook-or-folder \
	[ROSTER=class.csv DEADLINE=2027-01-15T23:59+01:00 LATE=10%/day,max=3d OUT=folder STUDENT=login JOBS=2]"; exit 2; }
	$(BIN)/python -m clickkit.grading $(if $(SUBMISSIONS),"$(SUBMISSIONS)") --jobs $(or $(JOBS),1) \
	  $(if $(OUT),--out "$(OUT)") $(if $(ROSTER),--roster "$(ROSTER)") $(if $(ASSIGNMENT),--assignment "$(ASSIGNMENT)") \
	  $(if $(DEADLINE),--deadline "$(DEADLINE)") $(if $(LATE),--late "$(LATE)") \
	  $(if $(COLLECTED_AT),--collected-at "$(COLLECTED_AT)") $(if $(STUDENT),--student "$(STUDENT)") \
	  $(if $(OVERRIDES),--overrides "$(OVERRIDES)") $(if $(LMS_COLUMN),--lms-column "$(LMS_COLUMN)") \
	  $(if $(MISSING),--missing "$(MISSING)") $(if $(LABS),--labs "$(LABS)") $(ARGS)

check: $(READY)
	@test -n "$(NOTEBOOK)" || { echo "Usage: make check NOTEBOOK=notebooks/01-ingest-api.ipynb (or 00-intro, 02-fake-website, 03-debug, 04-stream)"; exit 2; }
	$(BIN)/python -m clickkit.course.selfcheck "$(NOTEBOOK)"

release: $(READY)
	@test -n "$(DEST)" || { echo "Usage: make release DEST=../clickkit-student (a new folder, outside this checkout)"; exit 2; }
	$(BIN)/python -m clickkit.release "$(DEST)"

# After the deadline: the solutions and the reference endpoint, to publish on the course's page.
answers: $(READY)
	@test -n "$(DEST)" || { echo "Usage: make answers DEST=../clickkit-answers (a new folder)"; exit 2; }
	$(BIN)/python -m clickkit.release --answers "$(DEST)"

# Stops the kit's brokers only if there is an environment to do it with: cleaning never installs anything.
clean:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m clickkit.broker down; $(BIN)/python -m clickkit.broker down --cluster; fi
	rm -rf .kit
