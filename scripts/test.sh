#!/usr/bin/env bash
# Install classbridge with its test extras into .venv, at the versions of
# requirements-test.lock (hashes checked), and run the whole suite: ruff, mypy, the import
# contracts (lint-imports), then pytest (every database test on SQLite and on PostgreSQL)
# in parallel: one pytest-xdist worker per CPU. Arguments go to pytest (`-n 0` runs it
# serially).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
  -r requirements-test.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest -n auto --dist worksteal "$@"
