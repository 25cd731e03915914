# portsift: `make demo` shows it working end to end, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo
DEMO_ROWS ?= 100000

.PHONY: install demo test lint format clean

install: $(VENV)/.installed

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
	$(BIN)/portsift report --model-dir $(DEMO)/model --declarations $(DEMO)/data/declarations.csv \
	  --lab-results $(DEMO)/data/lab_results.csv --lang zh \
	  --id "$$(awk -F, 'NR > 1 && $$4 == 1 {print $$1; exit}' $(DEMO)/scores.csv)" \
	  --out $(DEMO)/report.html
	@echo "demo outputs in $(DEMO)/: model/, evaluation.json, scores.csv, report.html; MLflow store $(DEMO)/mlflow.db"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(DEMO) .pytest_cache .ruff_cache
