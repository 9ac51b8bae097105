#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml with pip-tools (exact versions and hashes):
#   requirements.lock       what `classbridge` needs to run (and to build its editable install)
#   requirements-test.lock  the same versions, plus the test extras
# Without arguments, pins that still satisfy pyproject.toml stay as they are; pass
# --upgrade (or --upgrade-package NAME) to move to newer releases.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "pip-tools>=7.4,<8"
export CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh"
common=(--quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url
  --no-emit-find-links --build-deps-for editable)
.venv/bin/pip-compile "${common[@]}" "$@" -o requirements.lock pyproject.toml
.venv/bin/pip-compile "${common[@]}" "$@" --extra test -c requirements.lock \
  -o requirements-test.lock pyproject.toml
