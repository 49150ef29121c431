# make test: create .venv if missing, install bert-tf with its test extras, run the default test suite.
# make quickstart: the same set-up, then the main job.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-slow quickstart install clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.py
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

quickstart: $(STAMP)
	$(BIN)/bert-tf quickstart

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_encoder.py

clean:
	rm -rf $(VENV) runs .pytest_cache
