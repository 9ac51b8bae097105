#!/usr/bin/env bash
# Install classbridge into .venv at the versions of requirements.lock (hashes checked)
# and start it on the embedded default: a SQLite file ./classbridge.db with migrations
# applied. Extra arguments go to `classbridge serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
exec .venv/bin/classbridge serve "$@"
