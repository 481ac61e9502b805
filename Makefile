# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# The editable install maps each top-level package when it is installed: a package added
# later (a new folder with __init__.py) needs a reinstall, so the stamps depend on them.
PACKAGES := $(wildcard */__init__.py)

.PHONY: run test lint bench install install-test clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "需要 Python 3.11 或更新版本 / Python >= 3.11 is required: PYTHON=python3.11 make ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml $(PACKAGES) node_modules/.package-lock.json
	$(BIN)/pip install -q -e .
	touch $@

# The web view's front-end libraries (weui, htmx, ...), served from node_modules.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.test-installed

# The whole hall: SQLite in var/, an embedded Redis, the demo school, web + worker.
run: install
	$(BIN)/hall run

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Real PostgreSQL and Redis: HALL_TEST_DATABASE_URL, HALL_TEST_REDIS_URL (tests/conftest.py).
test: install-test
	tests/e2e/ensure_browser.sh
	$(BIN)/pytest
	# The packages that use Redis most, again on `hall run`'s embedded Redis (6.2, older
	# than the server's): what passes above must work under `make run` too.
	HALL_TEST_REDIS_URL=embedded $(BIN)/pytest -q tests/selfreg tests/sso tests/wework tests/callbacks \
		tests/sms tests/web_views/test_offcampus.py

bench: install-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var
