# pchat: `make run` serves the chat with its demo; `make test` runs every test.
# Both set up everything they need on a fresh machine (a virtualenv in .venv, npm packages).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM := npm --no-audit --no-fund --loglevel=error

.PHONY: run test lint typecheck py-test js-test web-test seed-path seed-path-if-changed clean

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

web/node_modules/.installed: web/package-lock.json sdk/js/node_modules/.installed
	cd web && $(NPM) ci
	touch $@

web/dist/index.html: web/node_modules/.installed sdk/js/dist/index.js web/index.html web/console.html \
		$(wildcard web/src/*.ts* web/src/*/*.ts* web/src/*/*/*.ts* web/src/*.css web/src/*/*.css)
	cd web && $(NPM) run build

# The demo is served at / when Node is there to build it; the chat service runs either way.
run: $(STAMP)
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web/dist/index.html; \
	else echo "npm not found: serving without the web demo"; fi
	PCHAT_STATIC_DIR=web/dist PCHAT_DEMO_TOKEN_ENDPOINT=true $(BIN)/pchat serve

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

# The bench tests start the benchmark peers: picows and the Python peers need .venv-bench,
# the Node peers their locked packages (without them those tests would skip).
py-test: $(STAMP)
	bash scripts/services.sh
	bash scripts/debian-tools.sh
	$(MAKE) -s -C bench venv node-peers
	$(BIN)/pytest -q

js-test: $(STAMP) sdk/js/dist/index.js
	cd sdk/js && $(NPM) run typecheck && $(NPM) test

web-test: $(STAMP) web/node_modules/.installed sdk/js/dist/index.js
	bash scripts/chromium.sh
	cd web && $(NPM) run e2e

# The tutorial's own path (web/seed-path): create-react-app, the packed SDK as @sscale/pchatsdk,
# react-scripts build, Chromium. Its npm ci takes about a minute, so `make test` runs it only
# when sdk/js or web/seed-path changed since it last passed (web/seed-path/last-pass.sha256).
seed-path: $(STAMP) web/node_modules/.installed sdk/js/dist/index.js
	bash scripts/chromium.sh
	cd web && node --test --test-concurrency=1 seed-path/test/
	node web/seed-path/scripts/stamp.mjs write

seed-path-if-changed:
	@node web/seed-path/scripts/stamp.mjs check || $(MAKE) --no-print-directory seed-path

test: lint typecheck js-test web-test seed-path-if-changed py-test

clean:
	rm -rf $(VENV) build *.egg-info sdk/js/node_modules sdk/js/dist web/node_modules web/dist \
		web/seed-path/node_modules web/seed-path/build
