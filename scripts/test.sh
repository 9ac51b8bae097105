#!/usr/bin/env bash
# Install classbridge with its test extras into .venv and run the whole suite:
# ruff, mypy, the import contracts (lint-imports), then pytest (every database test on
# SQLite and on PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest "$@"
