# portsift: `make demo` shows it working end to end, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo
DEMO_ROWS ?= 100000

# Debian packages the reports and their browser tests need: headless Chromium renders the
# PDF and the test screenshots, Noto CJK is the Chinese font the report's CSS names (no tofu
# boxes), pdftoppm (poppler-utils) turns PDF pages into PNG for the tests.
SYSTEM_PACKAGES ?= chromium fonts-noto-cjk poppler-utils

.PHONY: install system-packages demo bento test lint format clean

install: system-packages $(VENV)/.installed

# Installs only what is missing, so a repeated `make install` costs one dpkg-query. Needs
# root (as on CI) or password-less sudo; otherwise it says what to install and goes on.
system-packages:
	@missing=""; \
	for package in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "make install: no apt-get here; install these Debian packages (or their equivalents) yourself:$$missing" >&2; \
	  exit 0; \
	fi; \
	sudo=""; \
	if [ "$$(id -u)" != 0 ]; then \
	  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else \
	    echo "make install: system packages missing:$$missing" >&2; \
	    echo "make install: not root, so not installing them; as root run: apt-get install -y --no-install-recommends$$missing" >&2; \
	    echo "make install: without them PDF reports fail and the browser tests skip (they fail when CI is set)" >&2; \
	    exit 0; \
	  fi; \
	fi; \
	echo "make install: installing system packages:$$missing"; \
	$$sudo apt-get update -q && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

demo: install
	$(BIN)/portsift generate --out $(DEMO)/data --rows $(DEMO_ROWS) --seed 7
	MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-sqlite:///$(DEMO)/mlflow.db} \
	  $(BIN)/portsift train --declarations $(DEMO)/data/declarations.csv \
	  --enterprises $(DEMO)/data/enterprises.csv --lab-results $(DEMO)/data/lab_results.csv \
	  --commodities $(DEMO)/data/commodities.csv --model-dir $(DEMO)/model
	$(BIN)/portsift evaluate --model-dir $(DEMO)/model --declarations $(DEMO)/data/declarations.csv \
	  --lab-results $(DEMO)/data/lab_results.csv --json $(DEMO)/evaluation.json
	$(BIN)/portsift score --model-dir $(DEMO)/model --declarations $(DEMO)/data/declarations.csv \
	  --lab-results $(DEMO)/data/lab_results.csv --rate 0.05 --out $(DEMO)/scores.csv
	@id="$$(awk -F, 'NR > 1 && $$4 == 1 {print $$1; exit}' $(DEMO)/scores.csv)"; \
	for out in report.html report.pdf; do \
	  echo "portsift report --id $$id --lang zh --out $(DEMO)/$$out"; \
	  $(BIN)/portsift report --model-dir $(DEMO)/model --declarations $(DEMO)/data/declarations.csv \
	    --lab-results $(DEMO)/data/lab_results.csv --lang zh --id "$$id" --out $(DEMO)/$$out || exit 1; \
	done
	@echo "demo outputs in $(DEMO)/: model/, evaluation.json, scores.csv, report.html, report.pdf; MLflow store $(DEMO)/mlflow.db"
# The officer console: the batch's decisions in an audit store (its queue), one demo
# supervisor whose password is printed once (a fresh one at every make demo).
	$(BIN)/portsift audit import --scores $(DEMO)/scores.csv --declarations $(DEMO)/data/declarations.csv \
	  --model-dir $(DEMO)/model --audit-url sqlite:///$(DEMO)/audit.db
	rm -f $(DEMO)/officers.toml
	$(BIN)/portsift console add-officer --officers $(DEMO)/officers.toml --id demo --name 演示科长 --role supervisor
	@echo "officer console: PORTSIFT_OFFICERS=$(DEMO)/officers.toml PORTSIFT_AUDIT_URL=sqlite:///$(DEMO)/audit.db $(BIN)/portsift serve --model-dir $(DEMO)/model --insecure-dev"
	@echo "  then open http://127.0.0.1:3000/console and sign in as officer demo with the password printed above (docs/console.md)"

# The scoring API as a bento (serving/packaging.py stages the request path).
bento: install
	$(BIN)/python -m portsift.serving.packaging

# ruff, and the import layers of pyproject.toml's [tool.importlinter] (import-linter, run
# on the installed layout by tests/test_import_layers.py).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q tests/test_import_layers.py

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(DEMO) .pytest_cache .ruff_cache
