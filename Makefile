# Sensedesk: `make run` starts it on SQLite with the example configuration;
# `make test` installs what the tests need and runs the whole suite.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/sensedesk.example.toml
# Debian packages the tests use: a throwaway PostgreSQL cluster, Dovecot, swaks,
# Chromium with a font for the portal's browser tests, and openssl for DKIM test keys.
DEBS := postgresql-15 dovecot-imapd swaks chromium fonts-liberation openssl
# axe-core for accessibility checks in browser tests, from npm into a git-ignored
# directory; tests/browser.py reads it from there and pins the same version.
AXE_VERSION := 4.14.1
NPM_DIR := tests/.npm
AXE_PACKAGE := $(NPM_DIR)/node_modules/axe-core/package.json

# Logins for the demo that `make run` starts (make demo-users), all with this password.
DEMO_PASSWORD ?= sensedesk-demo
SENSEDESK := SENSEDESK_CONFIG=$(CONFIG) $(BIN)/sensedesk

.PHONY: run demo-users reset test deps venv bench clean

$(BIN)/sensedesk: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/sensedesk

# Debian packages, installed only when running as root and something is missing
# (npm too, when the machine has no npm command); then the pinned axe-core,
# unless that version is already in $(NPM_DIR).
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing Debian packages (install as root):$$missing"; fi; \
	fi
	@if ! grep -qs '"version": "$(AXE_VERSION)"' $(AXE_PACKAGE); then \
	  if command -v npm >/dev/null 2>&1; then \
	    echo "installing axe-core@$(AXE_VERSION) into $(NPM_DIR)"; \
	    mkdir -p $(NPM_DIR) && npm install --prefix $(NPM_DIR) --no-save --no-package-lock \
	      --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION); \
	  else echo "npm is missing: cannot install axe-core@$(AXE_VERSION) into $(NPM_DIR)"; fi; \
	fi

run: venv
	$(SENSEDESK) init
	$(SENSEDESK) run

# An agent of each example department and an admin, with DEMO_PASSWORD, in the
# store `make run` uses (run it beside `make run`, or before it).
demo-users: venv
	@$(SENSEDESK) init >/dev/null 2>&1 || $(SENSEDESK) init
	@SENSEDESK_PASSWORD=$(DEMO_PASSWORD) $(SENSEDESK) user add agent@example.test --name "Agnes Agent" \
	  --role agent --dept helpdesk --password
	@SENSEDESK_PASSWORD=$(DEMO_PASSWORD) $(SENSEDESK) user add hr-agent@example.test --name "Hanne HR" \
	  --role agent --dept hr --password
	@SENSEDESK_PASSWORD=$(DEMO_PASSWORD) $(SENSEDESK) user add admin@example.test --name "Ada Admin" \
	  --role admin --password
	@echo "log in at http://127.0.0.1:8080/login with one of these and the password $(DEMO_PASSWORD)"

# Forget the demo: its store, its spool and the mail it wrote (var/). Stop `make run` first.
reset:
	rm -rf var

test: deps venv
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/imap.py

clean:
	rm -rf $(VENV) var build *.egg-info
