# pchat: `make run` serves the chat with its demo; `make test` runs every test.
# Both set up everything they need on a fresh machine (a virtualenv in .venv, npm packages).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM := npm --no-audit --no-fund --loglevel=error

.PHONY: run test lint typecheck py-test js-test web-build web-test check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

sdk/js/node_modules/.installed: sdk/js/package-lock.json
	cd sdk/js && $(NPM) ci
	touch $@

sdk/js/dist/index.js: sdk/js/node_modules/.installed $(wildcard sdk/js/src/*.ts)
	cd sdk/js && $(NPM) run build

run: $(STAMP)
	$(BIN)/pchat serve

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

py-test: $(STAMP)
	bash scripts/services.sh
	$(BIN)/pytest -q

js-test: $(STAMP) sdk/js/dist/index.js
	cd sdk/js && $(NPM) run typecheck && $(NPM) test

test: lint typecheck js-test py-test

clean:
	rm -rf $(VENV) build *.egg-info sdk/js/node_modules sdk/js/dist
