# Sensedesk: `make run` starts it on SQLite with the example configuration;
# `make test` installs what the tests need and runs the whole suite.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/sensedesk.example.toml
# Debian packages the tests use: a throwaway PostgreSQL cluster, Dovecot, swaks.
DEBS := postgresql-15 dovecot-imapd swaks

.PHONY: run test deps venv bench clean

$(BIN)/sensedesk: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/sensedesk

# Debian packages, installed only when running as root and something is missing.
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing Debian packages (install as root):$$missing"; fi; \
	fi

run: venv
	SENSEDESK_CONFIG=$(CONFIG) $(BIN)/sensedesk init
	SENSEDESK_CONFIG=$(CONFIG) $(BIN)/sensedesk run

test: deps venv
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/imap.py

clean:
	rm -rf $(VENV) var build *.egg-info
