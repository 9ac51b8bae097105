#!/usr/bin/env bash
# Install classbridge with its test extras into .venv, at the versions of
# requirements-test.lock (hashes checked), and run the whole suite: ruff, the import
# contracts (lint-imports), then pytest (every database test on SQLite and on PostgreSQL)
# in parallel, two pytest-xdist workers per CPU (at most 8), with mypy beside it.
# Arguments go to pytest (`-n 0` runs it serially, `-n 2` with two workers).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
  -r requirements-test.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache
# mypy (one process, ~30 s) runs beside pytest, whose workers leave CPU idle while they
# wait on the processes they start; its report follows pytest's.
mypy_log="$(mktemp)"
.venv/bin/mypy >"$mypy_log" 2>&1 &
mypy_pid=$!
trap 'kill "$mypy_pid" 2>/dev/null || true; rm -f "$mypy_log"' EXIT
# Two workers per CPU: about 40% of a test's time is spent waiting on the processes it
# starts (servers, arq workers, push windows), time another worker's test can use; at
# most 8, so that their PostgreSQL connections stay well below max_connections (100).
workers=$(( $(nproc) * 2 ))
workers=$(( workers > 8 ? 8 : workers ))
status=0
.venv/bin/python -m pytest -n "$workers" --dist worksteal "$@" || status=$?
if wait "$mypy_pid"; then
  cat "$mypy_log"
else
  cat "$mypy_log"
  echo "mypy failed" >&2
  status=1
fi
exit "$status"
