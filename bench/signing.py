"""The cost of per-user signing credentials (``UPVAULT_SIGNING_ROLE_ARN``) against a real MinIO.

Run: ``PYTHONPATH=. .venv/bin/python -m bench.signing`` (after ``make tools``). Through the real
Lambda handler (API Gateway v2 event → Powertools → Mangum → FastAPI → core), it times
``POST /v1/uploads`` (a single PUT: no storage call, only signing):

* warm, signed with the service's own credentials (no signing role: the weaker model);
* warm, with a signing role and the user's session cached (no STS call);
* cold per user: each call for a user this process has not signed for yet (one STS
  ``AssumeRole`` on MinIO, then the signature);

and a bare ``AssumeRole`` with the session policy. Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from bench.run import RESULTS, measured, write_section
from local.devstack import MINIO_SIGNING_ROLE
from local.lambda_context import LocalLambdaContext
from tests.live_minio import make_s3_client, minio_settings, new_minio
from tests.support import apigw_event
from upvault.signing import session_name, session_policy
from upvault.storage import make_clients

START, END = "<!-- bench:signing:start -->", "<!-- bench:signing:end -->"
WARMUP, SAMPLES, USERS = 300, 3000, 300
BODY = {
    "filename": "statement.pdf",
    "content_type": "application/pdf",
    "size": 48213,
    "category": "documents",
    "checksums": {"sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
}


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in microseconds."""
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1e6, ordered[int(len(ordered) * 0.99)] * 1e6


def timed(fn: Callable[[], Any], samples: int) -> list[float]:
    """Seconds per call of ``samples`` calls."""
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    """Measure, print and write the section."""
    # Powertools reads these when the handler module is imported.
    os.environ.update({"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Upvault"})
    from functions.api.app import create_app
    from functions.api.handler import make_handler

    with new_minio(Path(tempfile.mkdtemp()), user="bench") as server:
        plain = minio_settings(server, "upvault-bench")
        make_s3_client(server).create_bucket(Bucket=plain.bucket)
        scoped = plain.model_copy(update={"signing_role_arn": MINIO_SIGNING_ROLE})
        context = LocalLambdaContext(function_name="upvault-api")
        rows: dict[str, tuple[float, float]] = {}
        with redirect_stdout(io.StringIO()):  # Powertools prints one EMF line per call
            for name, settings in (("own", plain), ("scoped", scoped)):
                handler = make_handler(create_app(settings, make_clients(settings)))
                event = apigw_event("POST", "/v1/uploads", claims={"sub": "alice"}, body=BODY)
                assert handler(event, context)["statusCode"] == 201
                timed(lambda: handler(event, context), WARMUP)  # noqa: B023 - used right here
                rows[name] = percentiles(timed(lambda: handler(event, context), SAMPLES))  # noqa: B023
            users = iter(range(USERS))

            def new_user() -> None:
                event = apigw_event("POST", "/v1/uploads", claims={"sub": f"user-{next(users)}"}, body=BODY)
                assert handler(event, context)["statusCode"] == 201

            rows["cold"] = percentiles(timed(new_user, USERS))
            sts = make_clients(scoped).sts
            rows["sts"] = percentiles(
                timed(
                    lambda: sts.assume_role(
                        RoleArn=MINIO_SIGNING_ROLE,
                        RoleSessionName=session_name("alice"),
                        DurationSeconds=3600,
                        Policy=session_policy(plain.bucket, "alice", kms=False),
                    ),
                    USERS,
                )
            )
    section = render(rows)
    print(section)
    write_section(section, START, END, RESULTS)


def render(rows: dict[str, tuple[float, float]]) -> str:
    """The markdown section."""
    own, scoped = rows["own"], rows["scoped"]
    return "\n".join(
        [
            START,
            "## API: per-user signing credentials",
            "",
            f"{measured('PYTHONPATH=. .venv/bin/python -m bench.signing')} (bench/signing.py), MinIO on loopback, "
            f"load average {os.getloadavg()[0]:.1f} (other work shared the machine: p99s are noisy).",
            "",
            f"`POST /v1/uploads` (single PUT) through the real Lambda handler; warm rows: {SAMPLES} calls after "
            f"{WARMUP} warm-up calls for one user; cold row: {USERS} users, one call each.",
            "",
            "| path | p50 (µs) | p99 (µs) |",
            "|---|---:|---:|",
            f"| warm, service's own credentials (no signing role) | {own[0]:.0f} | {own[1]:.0f} |",
            f"| warm, signing role, user's session cached | {scoped[0]:.0f} | {scoped[1]:.0f} |",
            f"| cold user: STS `AssumeRole` on MinIO + signature | {rows['cold'][0]:.0f} | {rows['cold'][1]:.0f} |",
            f"| bare `AssumeRole` with the session policy (MinIO) | {rows['sts'][0]:.0f} | {rows['sts'][1]:.0f} |",
            f"| **warm ratio (cached / own)** | **{scoped[0] / own[0]:.2f}×** | {scoped[1] / own[1]:.2f}× |",
            END,
        ]
    )


if __name__ == "__main__":
    main()
