#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it: lint, then every tier with core coverage.
# Tools (MinIO, RIE, CDK CLI, ...) are installed beforehand by `make tools`; a missing one
# fails its tests, it never skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
started=$(date +%s)

echo "== lint: ruff check, ruff format --check, mypy"
ruff check .
ruff format --check .
mypy

echo "== web: the browser package (tsc on its sources and declarations, node --test)"
scripts/test-web.sh

echo "== tests: unit, infra, integration, e2e (coverage of the core: src/upvault)"
pytest tests --cov --cov-report=term --cov-report=xml:coverage.xml --timeout=900 -p no:cacheprovider "$@"

echo "== make test took $(( $(date +%s) - started ))s"
