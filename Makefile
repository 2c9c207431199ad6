# `make demo` and `make test` each build .venv from the project's own files first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check release bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/acr-kg recommend examples/seed-patient.ttl

test: $(STAMP)
	$(BIN)/python -m pytest

check: $(STAMP)
	$(BIN)/acr-kg check

release: $(STAMP)
	$(BIN)/acr-kg release --out release

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) release build dist
