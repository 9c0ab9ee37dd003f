# cic-engine: `make run` and `make test` are the two commands a new machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the test suite needs; installed only when missing.
APT_PACKAGES ?= dovecot-imapd chromium fonts-noto-cjk libnet-smpp-perl ghostscript sox sip-tester
# Two cores on CI: one pytest worker per core.
PYTEST_WORKERS ?= 2
# A real FreeSWITCH for tests/realswitch: a build of yours (CIC_FREESWITCH=its prefix), else the
# build in ../shared/freeswitch installed into /opt/freeswitch.
FREESWITCH_BUILD ?= ../shared/freeswitch

.PHONY: install install-test run test lint apt freeswitch bench bench-smoke schemas check-config clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/cic-engine run --config cic.toml

check-config: install
	$(BIN)/cic-engine check-config --config cic.toml

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

freeswitch:
	@if [ -n "$$CIC_FREESWITCH" ] && [ -x "$$CIC_FREESWITCH/bin/freeswitch" ]; then \
		echo "FreeSWITCH: $$CIC_FREESWITCH"; \
	elif [ -x "$(FREESWITCH_BUILD)/install.sh" ]; then \
		bash "$(FREESWITCH_BUILD)/install.sh"; \
	elif [ -x /opt/freeswitch/bin/freeswitch ]; then \
		echo "FreeSWITCH: /opt/freeswitch"; \
	else \
		echo "no FreeSWITCH (no CIC_FREESWITCH, no $(FREESWITCH_BUILD)/install.sh, no /opt/freeswitch): make test needs a real switch"; \
		exit 1; \
	fi

lint: install-test
	$(BIN)/ruff check cic_engine tests bench
	$(BIN)/lint-imports --no-cache
	@set -e; for f in $$(find freeswitch -name '*.xml' | sort); do \
		$(BIN)/frslint lint "$$f" >/dev/null || { $(BIN)/frslint lint "$$f"; exit 1; }; \
		$(BIN)/frslint analyze "$$f" >/dev/null || { $(BIN)/frslint analyze "$$f"; exit 1; }; \
	done; echo "frslint: freeswitch/ clean"

# Everything the tests run against is installed above: a part missing all the same fails its tests
# (tests/real_parts.py) instead of skipping them.
test: install-test apt freeswitch lint
	CIC_REAL_PARTS=required $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile tests

# Every benchmark at a tiny size (make test runs these too, in parallel with the other tests).
bench-smoke: install-test
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) tests/core/test_bench_smoke.py tests/realswitch/test_bench_smoke.py

bench: install-test
	@set -e; for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b; done

schemas: install
	$(BIN)/cic-engine schemas --out schemas/json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
