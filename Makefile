# The two commands that matter: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run cluster test upgrade lint install clean-instance sample

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m erp5_kernel.install --sys-prefix
	touch $@

install: $(STAMP)

## Start the server with the embedded database (installs on first use).
run: $(STAMP)
	$(BIN)/wendelin run

## A ZEO server, WENDELIN_WORKERS Zope workers and an haproxy front door on WENDELIN_PORT.
cluster: $(STAMP)
	$(BIN)/wendelin cluster

## Re-apply the business templates to an existing site, keeping documents.
upgrade: $(STAMP)
	$(BIN)/wendelin upgrade

## Generate the tutorial's sample recording and upload it to the running site.
sample: $(STAMP)
	$(BIN)/python bt5/erp5_wendelin_tutorial/sample/upload_sample.py

## Install what the tests need, check style and types (lint, first: it fails fast), run every test.
test: lint
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

## Style (ruff, the rules in pyproject.toml) and types (mypy over product/Wendelin and erp5_kernel).
lint: $(STAMP)
	$(BIN)/ruff check product erp5_kernel tests bench bt5
	$(BIN)/mypy

clean-instance:
	rm -rf instance/var instance/etc
