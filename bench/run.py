"""Upvault benchmarks (``make bench``), each side by side with a named peer in the same run.

(a) Warm latency of ``POST /v1/uploads`` through the real Lambda handler (Mangum + FastAPI +
    Powertools) with an API Gateway v2 event, against a bare boto3 ``generate_presigned_url``
    call, which is all a minimal presign Lambda does. Reports p50/p99 and the ratio.
(b) Cold start of the API handler (import, then settings, app and clients, built on the first
    invocation) in a fresh interpreter, against a bare ``import boto3``.

No network is used: presigning is local computation. Results go to docs/benchmarks.md between
markers, with the machine noted.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:api:start -->", "<!-- bench:api:end -->"
ENV = {
    "UPVAULT_BUCKET": "upvault-bench",
    "UPVAULT_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Upvault",
}
WARMUP, SAMPLES, COLD_RUNS = 500, 5000, 9


def percentiles(fn: Callable[[], Any], samples: int = SAMPLES) -> tuple[float, float]:
    """p50 and p99 in microseconds of ``samples`` calls after a warm-up."""
    for _ in range(WARMUP):
        fn()
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    timings.sort()
    return timings[len(timings) // 2] * 1e6, timings[int(len(timings) * 0.99)] * 1e6


def warm_latency() -> dict[str, float]:
    """(a): the API path against bare presigning."""
    os.environ.update(ENV)
    from functions.api.app import create_app
    from functions.api.handler import make_handler
    from local.lambda_context import LocalLambdaContext
    from tests.support import apigw_event
    from upvault.settings import load_settings
    from upvault.storage import make_clients

    settings = load_settings()
    clients = make_clients(settings)
    handler = make_handler(create_app(settings, clients))
    event = apigw_event(
        "POST",
        "/v1/uploads",
        claims={"sub": "alice"},
        body={
            "filename": "statement.pdf",
            "content_type": "application/pdf",
            "size": 48213,
            "category": "documents",
            "checksums": {"sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "md5": "1B2M2Y8AsgTpgAmY7PhCfg=="},
        },
    )
    context = LocalLambdaContext(function_name="upvault-api")
    assert handler(event, context)["statusCode"] == 201
    devnull = open(os.devnull, "w")  # noqa: SIM115 - Powertools prints one EMF line per call
    real_stdout = sys.stdout
    sys.stdout = devnull
    try:
        api_p50, api_p99 = percentiles(lambda: handler(event, context))
    finally:
        sys.stdout = real_stdout
        devnull.close()
    params = {
        "Bucket": "upvault-bench",
        "Key": "staging/alice/documents/01M88A9NNXFE5G0HW0G2XWHCYD/statement.pdf",
        "ContentType": "application/pdf",
        "ContentLength": 48213,
        "ContentMD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
    }
    bare = clients.presign
    bare_p50, bare_p99 = percentiles(lambda: bare.generate_presigned_url("put_object", Params=params, ExpiresIn=900))
    return {
        "api_p50": api_p50,
        "api_p99": api_p99,
        "bare_p50": bare_p50,
        "bare_p99": bare_p99,
        "ratio_p50": api_p50 / bare_p50,
        "ratio_p99": api_p99 / bare_p99,
    }


def cold_import(statement: str) -> float:
    """Median milliseconds to run ``statement`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    runs = []
    for _ in range(COLD_RUNS):
        out = subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, **ENV, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"},
        )
        runs.append(float(out.stdout.strip().splitlines()[-1]) * 1000)
    return statistics.median(runs)


def machine() -> str:
    """One line describing where the numbers were taken."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def measured(command: str) -> str:
    """``Measured <when> on <machine> by `<command>```, the first words of every section."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"Measured {stamp} on {machine()} by `{command}`"


def write_section(section: str, start: str, end: str, path: Path = RESULTS) -> None:
    """Put ``section`` between its markers in ``path`` (docs/benchmarks.md; appended the first time)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def render(warm: dict[str, float], api_ms: float, boto_ms: float) -> str:
    """The markdown section."""
    return "\n".join(
        [
            START,
            "## API: warm latency and cold import",
            "",
            f"{measured('make bench')} (bench/run.py).",
            "",
            "### (a) Warm `POST /v1/uploads` vs a bare presign",
            "",
            f"{SAMPLES} calls after {WARMUP} warm-up calls, one process. The API path is the real Lambda handler:",
            "API Gateway v2 event → Powertools (logger, metrics, tracer) → Mangum → FastAPI → core → presign.",
            "The peer is boto3's `generate_presigned_url` with the same signed headers: a minimal presign Lambda.",
            "",
            "| path | p50 (µs) | p99 (µs) |",
            "|---|---:|---:|",
            f"| Upvault `POST /v1/uploads` (full handler) | {warm['api_p50']:.0f} | {warm['api_p99']:.0f} |",
            f"| bare `generate_presigned_url` (peer) | {warm['bare_p50']:.0f} | {warm['bare_p99']:.0f} |",
            f"| **ratio** | **{warm['ratio_p50']:.2f}×** | {warm['ratio_p99']:.2f}× |",
            "",
            "### (b) Cold import",
            "",
            f"Median of {COLD_RUNS} fresh interpreters.",
            "",
            "| import | ms |",
            "|---|---:|",
            f"| `functions.api.handler` (settings, app, clients; no network) | {api_ms:.0f} |",
            f"| bare `import boto3` (peer) | {boto_ms:.0f} |",
            f"| **ratio** | **{api_ms / boto_ms:.2f}×** |",
            END,
        ]
    )


def main() -> None:
    """Run every benchmark and update docs/benchmarks.md."""
    warm = warm_latency()
    api_ms = cold_import("import functions.api.handler as entry; entry.cold_start()")
    boto_ms = cold_import("import boto3")
    section = render(warm, api_ms, boto_ms)
    print(section)
    write_section(section, START, END)
    print(json.dumps({"ratio_p50": round(warm["ratio_p50"], 2)}))


if __name__ == "__main__":
    main()
