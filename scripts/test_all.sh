#!/usr/bin/env bash
# `make test`, and so CI (.ci/run), from a clean clone (make creates every virtualenv it needs):
#   1. lint: ruff and mypy (configured in pyproject.toml), and the docs: `make docs` builds docs/ with
#      MkDocs in strict mode (any warning fails)
#   2. the whole suite on the default Airflow (.venv, newest Airflow, Python 3.11), then the browser test
#      (tests/ui: the connection form in Airflow's web UI, headless Chromium) on the same line, once: the
#      default run leaves tests/ui out
#   3. the compatibility matrix: tests/compat and tests/dags on Airflow 2.11.2, 3.0.6, 3.1.8, 3.2.2 (one
#      virtualenv each, installed with compat/constraints-<version>.txt) and on the newest Airflow with
#      Python 3.12 (found by scripts/find_python.py); two at a time on CI's 2 cores.
# Every step runs even when an earlier one failed, so one run reports everything; the exit code is 0 only
# when all passed. A machine without Python 3.12 skips that one leg, loudly (named again at the end), and
# the rest decides the exit code; under CI (CI=true) the leg is required and its absence fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
# What a step skipped, one line each (the Makefile writes to it): named again in the summary.
MAKE_TEST_SKIPPED=$(mktemp "${TMPDIR:-/tmp}/make-test-skipped.XXXXXX")
export MAKE_TEST_SKIPPED
trap 'rm -f "$MAKE_TEST_SKIPPED"' EXIT
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
while IFS= read -r skipped; do
    echo "=== SKIPPED (not run, not failed): ${skipped}"
done < "$MAKE_TEST_SKIPPED"
if ((${#failed[@]})); then
    echo "=== failed: ${failed[*]}"
    exit 1
fi
