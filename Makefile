# Kubeglass: `make run` serves the app with a demo cluster; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
TLS_PORT ?= $(shell echo $$(( $(PORT) + 443 )))
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL_SCALE ?= redis://127.0.0.1:6379/0

.PHONY: run test test-embedded test-scaleout lint bench venv browser-deps messages clean

$(VENV)/.stamp: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.stamp

run: venv
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py createcluster demo --preset demo --owner demo --if-missing
	$(PY) manage.py serve --port $(PORT) --tls-port $(TLS_PORT) --login-link-for demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# Debian's chromium for the browser tests, and a CJK font so zh-Hans pages render; installed once.
browser-deps:
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "wenquanyi" || \
		{ apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei; }

messages: venv
	$(PY) manage.py glassmessages

test: venv browser-deps
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-embedded
	$(MAKE) --no-print-directory test-scaleout

# Pass 1: the embedded default (SQLite in WAL mode, the in-memory channel layer).
test-embedded: venv
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc; }

# Pass 2: the same suite against the PostgreSQL and Redis that scale-out mode uses.
test-scaleout: venv
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_URL_SCALE) $(PY) -m pytest || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc; }

bench: venv browser-deps
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .kubeglass db.sqlite3* .staticfiles .pytest_cache
