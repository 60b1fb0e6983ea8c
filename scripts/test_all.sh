#!/usr/bin/env bash
# `make test`, and so CI (.ci/run), from a clean clone (make creates every virtualenv it needs):
#   1. lint: ruff and mypy (configured in pyproject.toml), and the docs: `make docs` builds docs/ with
#      MkDocs in strict mode (any warning fails)
#   2. the whole suite on the default Airflow (.venv, newest Airflow, Python 3.11), then the browser test
#      (tests/ui: the connection form in Airflow's web UI, headless Chromium) on the same line, once: the
#      default run leaves tests/ui out
#   3. the compatibility matrix: tests/compat and tests/dags on Airflow 2.11.2, 3.0.6, 3.1.8, 3.2.2 (one
#      virtualenv each, installed with compat/constraints-<version>.txt) and on the newest Airflow with
#      Python 3.12; two at a time on CI's 2 cores.
# Every step runs even when an earlier one failed, so one run reports everything; the exit code is 0 only
# when all passed.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
step() {
    local name=$1 started=$SECONDS
    shift
    echo "=== ${name}"
    if "$@"; then
        echo "=== ${name}: ok ($((SECONDS - started)) s)"
    else
        echo "=== ${name}: FAILED ($((SECONDS - started)) s)"
        failed+=("${name}")
    fi
}

step "install .venv" make venv
step "lint" make lint
step "docs" make docs
step "tests, default Airflow" make test-default
step "browser test, default Airflow" make test-ui
step "compat matrix" make -k -j2 --output-sync=target test-compat

echo "=== make test took ${SECONDS} s"
if ((${#failed[@]})); then
    echo "=== failed: ${failed[*]}"
    exit 1
fi
