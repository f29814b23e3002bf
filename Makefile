# Two commands do everything on a fresh machine (see README.md):
#   make demo   harvest the demo city from the bundled fake platform APIs into ./archive, then verify it
#   make test   run the whole test suite (starts its own SeaweedFS S3 server on loopback)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-full install clean browser postgres

$(STAMP): pyproject.toml constraints/py3.11.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c constraints/py3.11.txt -e ".[test,bench]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/civic-archive demo --archive file://./archive

test: $(STAMP) browser postgres
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The records-request view is checked in a real browser (Debian's chromium). Installed here when running as
# root on Debian; elsewhere install it yourself, or that one test is skipped (CI requires it).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "note: chromium not installed; the browser test will be skipped"

# tests/test_real_scheduler.py runs Airflow on a PostgreSQL server it starts itself from Debian's postgresql
# package (/usr/lib/postgresql/*/bin). Installed here when running as root on Debian, like chromium above.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "note: PostgreSQL server not installed; the real-scheduler test will be skipped"

bench: $(STAMP)
	$(BIN)/python -m bench

bench-full: $(STAMP)
	$(BIN)/python -m bench --full

clean:
	rm -rf $(VENV) archive .pytest_cache
