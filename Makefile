# Upvault: the two commands a user needs are `make dev` and `make test` (see README.md).
# Every target creates .venv and installs pinned dependencies when they changed; all are idempotent.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
DEPS_STAMP := $(VENV)/.deps-stamp

.PHONY: dev test test-web bench-browser test-unit test-infra test-integration test-e2e test-sam sam-arm64 lint bench bench-sdk bench-migrate synth fuzz tools tools-no-sam venv openapi clean

$(DEPS_STAMP): requirements.txt requirements-dev.txt clients/python/requirements.txt pyproject.toml scripts/bootstrap-venv.sh
	@scripts/bootstrap-venv.sh

venv: $(DEPS_STAMP)

## Tools the tests need (MinIO, RIE, CDK CLI, ...), built or installed into a cache once.
tools: venv
	@scripts/install-tools.sh

## The same without the SAM tier's Docker and SAM CLI (installing Docker needs root): for the
## targets that do not run containers.
tools-no-sam: venv
	@SKIP_SAM=1 scripts/install-tools.sh

## Run the local stack in the foreground (Ctrl-C stops everything).
dev: venv
	@scripts/install-tools.sh minio || echo "!! MinIO could not be installed: the local stack falls back to moto" >&2
	@scripts/install-tools.sh web || echo "!! the browser package could not be built: the demo page is not served" >&2
	@$(BIN)/upvault dev

## The whole suite: lint, unit, infra, integration, e2e, sam. CI runs exactly this.
## `make test SKIP_SAM=1` leaves out the SAM tier (it needs Docker, and root to install it).
test: venv tools
	@scripts/test.sh

## The browser package (web/): type check and node --test unit tests.
test-web:
	@scripts/test-web.sh

test-unit: venv
	@$(BIN)/pytest tests/unit

test-infra: venv tools-no-sam
	@$(BIN)/pytest tests/infra

test-integration: venv tools-no-sam
	@$(BIN)/pytest tests/integration

test-e2e: venv tools-no-sam
	@if ls tests/e2e/test_*.py >/dev/null 2>&1; then $(BIN)/pytest tests/e2e; else echo "tests/e2e: no browser tests yet"; fi

## Our functions run by SAM CLI in Docker containers (x86_64 variant of the template and layer).
test-sam: venv
	@scripts/install-tools.sh minio node docker sam
	@$(BIN)/pytest tests/sam

## The same on the arm64 template and layer we ship, under qemu (slow; not in make test or CI).
sam-arm64: venv
	@scripts/sam-arm64.sh

lint: venv
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

## Regenerate docs/openapi.json from the app (a unit test fails when it is stale).
openapi: venv
	@$(BIN)/upvault openapi > docs/openapi.json

## Hashing in headless Chromium vs the upload itself (numbers for docs/benchmarks.md).
bench-browser: venv tools
	@$(BIN)/pytest tests/e2e/bench_browser_hashing.py -s -p no:cacheprovider

bench: venv
	@PYTHONPATH=. $(BIN)/python -m bench.run

## `upvault upload` of 1 GiB to the local MinIO vs boto3's TransferManager and a single PUT (~2 min).
bench-sdk: venv tools-no-sam
	@PYTHONPATH=. $(BIN)/python -m bench.sdk

## upvault migrate vs rclone on two local MinIO servers (long: ~10 min; installs rclone with apt-get).
bench-migrate: venv tools-no-sam
	@PYTHONPATH=.:src $(BIN)/python -m bench.migrate

## CDK synth of one environment: make synth ENV=prod (default dev).
ENV ?= dev
synth: venv tools-no-sam
	@scripts/synth.sh $(ENV)

fuzz: venv tools-no-sam
	@UPVAULT_FUZZ_EXAMPLES=$${UPVAULT_FUZZ_EXAMPLES:-500} $(BIN)/pytest tests/integration -k fuzz

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache
