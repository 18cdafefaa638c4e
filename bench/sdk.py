"""Upload throughput of the ``upvault`` CLI (``make bench-sdk``), side by side in one run with:

* boto3's TransferManager (s3transfer) uploading the same file straight to the same MinIO,
  with the same part size and concurrency (the peer a Python developer would otherwise use);
* a plain single PUT of the same bytes to a presigned URL (one stream: the loopback limit);
* for reference, TransferManager over plain HTTP as boto3 defaults to (every part's SHA-256
  signed) and TransferManager with the CLI's per-part checksum (CRC64NVME instead of its
  default CRC32), so storage verifies the same checksum for both.

Each candidate is its own process, timed from start to exit (interpreter, imports and all),
its peak memory read from the kernel (``wait4``). The CLI goes through the whole service: the
local stack on MinIO (same handlers as on Lambda), declaration with the whole-file CRC64NVME,
part URLs signed by the API, completion. Validation (``--no-wait``) is not timed; the bench
waits for it between runs so it never competes with a measurement.

Also counted, for one multipart upload of N parts: the API calls the CLI made (from the
API's access log) and the storage calls the API made to serve them (botocore, per operation).

Results go to docs/benchmarks.md between markers, with the machine and its load noted.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.run import measured, write_section

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:sdk:start -->", "<!-- bench:sdk:end -->"
MIB = 1024 * 1024
#: The handlers read their settings at import, as on Lambda.
ENV = {
    "UPVAULT_BUCKET": "upvault-bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "upvault",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}

TRANSFER_MANAGER = """
import sys, boto3
from botocore.config import Config
from s3transfer.manager import TransferConfig, TransferManager
endpoint, user, password, bucket, key, path, part, parallel, sign, checksum = sys.argv[1:11]
# Over plain HTTP botocore hashes every part into its signature; over HTTPS (AWS) it does not.
s3 = {"addressing_style": "path", "payload_signing_enabled": sign == "sign"}
client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=user,
                      aws_secret_access_key=password, config=Config(s3=s3, max_pool_connections=int(parallel)))
config = TransferConfig(multipart_threshold=int(part), multipart_chunksize=int(part),
                        max_request_concurrency=int(parallel))
extra = {"ChecksumAlgorithm": checksum} if checksum != "default" else None
with TransferManager(client, config) as manager:
    manager.upload(path, bucket, key, extra_args=extra).result()
"""

SINGLE_PUT = """
import sys, httpx
url, path = sys.argv[1:3]
def chunks():
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk
import os
response = httpx.put(url, content=chunks(), headers={"Content-Length": str(os.path.getsize(path))}, timeout=600)
assert response.status_code == 200, response.text
"""


#: Prefix of every measured script: at exit, write the process's peak RSS (VmHWM) to a file.
#: Not ru_maxrss: a child spawned from this (large) process inherits its high-water mark at exec.
PEAK = (
    "import atexit, os\n"
    "def _peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    open(os.environ['BENCH_PEAK_FILE'], 'w').write(status.split('VmHWM:')[1].split()[0])\n"
    "atexit.register(_peak)\n"
)
#: The ``upvault`` console script, as its entry point runs it.
CLI = "import sys\nfrom local.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def measure(script: str, args: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Run ``python -c script args`` to its end: (seconds, peak RSS in MiB, CPU seconds, stdout).

    CPU is the process's user + system time (from the kernel, as the parent reaps it): unlike
    wall time it hardly depends on what else the shared machine is doing.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", PEAK + script, *args],
            env={**env, "BENCH_PEAK_FILE": peak.name},
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise RuntimeError(f"{args[:2]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return elapsed, int(peak.read()) / 1024, cpu, result.stdout


def load_average() -> str:
    """The 1-minute load average, to judge how busy the shared machine was."""
    return f"{os.getloadavg()[0]:.1f}"


class AccessCounter(logging.Handler):
    """Counts the API's requests by method and route from uvicorn's access log."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3:
            path = str(args[2]).split("?", 1)[0]
            parts = ["{id}" if len(part) == 26 and part.isalnum() else part for part in path.split("/")]
            self.calls[f"{args[1]} {'/'.join(parts)}"] += 1


def _caller(frame: Any) -> str | None:
    """The API route (or core use case) a storage call serves; ``None`` for the processor's."""
    route = outermost = None
    while frame is not None:
        path = frame.f_code.co_filename.replace(os.sep, "/")
        if path.endswith("upvault/processing.py"):
            return None
        if path.endswith("functions/api/routes.py"):
            route = frame.f_code.co_name
        elif "/src/upvault/" in path:
            outermost = frame.f_code.co_name  # routes that hand their work to a thread (start_upload)
        frame = frame.f_back
    return route or outermost


@contextmanager
def storage_calls() -> Iterator[Counter[tuple[str, str]]]:
    """Counts the S3 operations the API made, by route (the processor's are not counted)."""
    from botocore.client import BaseClient

    counted: Counter[tuple[str, str]] = Counter()
    original = BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        caller = _caller(sys._getframe(1))
        if caller is not None:
            counted[(caller, operation)] += 1
        return original(self, operation, params)

    BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def wait_ready(stack: Any, token: str, file_id: str, timeout: float = 300) -> None:
    """Wait until the processor is done with the file (it copies it: keep it out of the next run)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(
            f"{stack.api_url}/v1/files/{file_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).json()["status"]
        if status != "pending":
            assert status == "ready", status
            return
        time.sleep(0.5)
    raise TimeoutError(file_id)


def run(size_mib: int, part_mib: int, parallel: int, runs: int) -> dict[str, Any]:
    """Start a stack, run every candidate ``runs`` times (interleaved), and collect the numbers."""
    os.environ.update(ENV)
    import json

    from local.devstack import LocalStack
    from local.ports import free_port
    from local.settings import DevSettings
    from upvault.storage import make_clients

    size = size_mib * MIB
    work = Path(tempfile.mkdtemp(prefix="upvault-bench-"))
    data = work / "bench.pdf"
    with data.open("wb") as handle:
        handle.write(b"%PDF-1.7\n")  # validation sniffs the head
        for _ in range(size_mib):
            handle.write(os.urandom(MIB))
        handle.truncate(size)
    service = {
        "part_size": part_mib * MIB,
        "documents_max_size": max(size, 50 * MIB),
        # The processor's server-side copy of a 1 GiB file outlasts the API's 5 s read timeout
        # on a busy machine; on AWS the processor gets 60 s (infra/processing.py).
        "storage_read_timeout": 120,
    }
    dev = DevSettings(state_dir=work / "state", api_port=free_port(), minio_port=free_port(), backend="minio")
    stack = LocalStack(dev, service=service, access_log=True).start()
    # After start: uvicorn configures its loggers when the server starts.
    access = AccessCounter()
    logging.getLogger("uvicorn.access").handlers = [access]
    logging.getLogger("uvicorn.access").propagate = False
    try:
        assert stack.storage is not None and stack.settings is not None
        storage = stack.storage
        clients = make_clients(stack.settings)
        presigner = clients.presign
        bucket = stack.settings.bucket
        token = stack.token("bench", ttl=24 * 3600)
        cli_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("UPVAULT_")},
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src"), str(ROOT / "clients" / "python")]),
            "UPVAULT_API_URL": stack.api_url,
            "UPVAULT_TOKEN": token,
            "XDG_STATE_HOME": str(work / "xdg-state"),
            "XDG_CONFIG_HOME": str(work / "xdg-config"),
        }
        compile_sources()
        plain_env = {k: v for k, v in os.environ.items() if not k.startswith("UPVAULT_")}

        def cli() -> tuple[float, float, float]:
            access.calls.clear()
            with storage_calls() as counted:
                seconds, rss, cpu, out = measure(
                    CLI, ["upload", str(data), "--no-wait", "--json", "--parallel", str(parallel)], cli_env
                )
            record = json.loads(out)[0]
            results["api_calls"] = dict(access.calls)
            results["storage_calls"] = dict(counted)
            wait_ready(stack, token, record["file_id"])
            return seconds, rss, cpu

        def transfer_manager(sign: str, checksum: str = "default") -> Callable[[], tuple[float, float, float]]:
            def upload() -> tuple[float, float, float]:
                credentials = [storage.endpoint_url, storage.access_key_id, storage.secret_access_key]
                sizes = [str(part_mib * MIB), str(parallel)]
                args = [*credentials, bucket, "bench/tm.pdf", str(data), *sizes, sign, checksum]
                seconds, rss, cpu, _ = measure(TRANSFER_MANAGER, args, plain_env)
                return seconds, rss, cpu

            return upload

        def single_put() -> tuple[float, float, float]:
            params = {"Bucket": bucket, "Key": "bench/single.pdf", "ContentLength": size}
            url = presigner.generate_presigned_url("put_object", Params=params, ExpiresIn=3600)
            seconds, rss, cpu, _ = measure(SINGLE_PUT, [url, str(data)], plain_env)
            return seconds, rss, cpu

        candidates: dict[str, Callable[[], tuple[float, float, float]]] = {
            "cli": cli,
            "transfer_manager": transfer_manager("unsigned"),
            "transfer_manager_signed": transfer_manager("sign"),
            "transfer_manager_crc64nvme": transfer_manager("unsigned", "CRC64NVME"),
            "single_put": single_put,
        }
        results: dict[str, Any] = {"loads": [load_average()]}
        timings: dict[str, list[tuple[float, float, float]]] = {name: [] for name in candidates}
        for index in range(runs):
            order = list(candidates)
            order = order[index % len(order) :] + order[: index % len(order)]  # no candidate always first
            for name in order:
                settle(data)
                timings[name].append(candidates[name]())
                purge(clients.api, bucket)
                print(f"run {index + 1} {name}: {timings[name][-1][0]:.2f} s", file=sys.stderr, flush=True)
            results["loads"].append(load_average())
        results["timings"] = timings
        results.update(size=size, part=part_mib * MIB, parallel=parallel, runs=runs)
        return results
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


def compile_sources() -> None:
    """Compile the CLI's sources to bytecode beside them (``__pycache__``, git-ignored), as
    ``pip install`` does for an installed package and did for boto3: neither candidate then
    compiles its code on each start, even where ``PYTHONDONTWRITEBYTECODE`` is set."""
    sources = [ROOT / "local", ROOT / "migration", ROOT / "src" / "upvault", ROOT / "clients" / "python"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", *map(str, sources)], env=env, check=True)


def settle(path: Path) -> None:
    """The same start for every candidate: earlier runs' writes flushed, the file in the page cache.

    Without it the disk's writeback of the previous candidate's gigabyte, and a file the VM
    dropped from its cache, land on whoever runs next (single runs swung 2-3x).
    """
    os.sync()
    with path.open("rb") as handle:
        while handle.read(16 * MIB):
            pass


def purge(s3: Any, bucket: str) -> None:
    """Delete every object version (the bucket is versioned): 1 GiB runs would fill the disk."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions = page.get("Versions", []) + page.get("DeleteMarkers", [])
        if versions:
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


def render(results: dict[str, Any]) -> str:
    """The markdown section."""

    size, part, parallel = results["size"], results["part"], results["parallel"]
    parts = -(-size // part)
    mb = size / 1e6

    def median(name: str, index: int) -> float:
        return statistics.median(t[index] for t in results["timings"][name])

    rows = []
    for name, label in (
        ("cli", "`upvault upload` (CLI → API → presigned parts → MinIO)"),
        ("transfer_manager", "boto3 TransferManager straight to MinIO, payload unsigned as over HTTPS (peer)"),
        ("transfer_manager_signed", "boto3 TransferManager, default over plain HTTP (SHA-256 of each part signed)"),
        (
            "transfer_manager_crc64nvme",
            "boto3 TransferManager with CRC64NVME per part (the CLI's checksum: storage verifies the same)",
        ),
        ("single_put", "one presigned PUT, one stream (loopback limit)"),
    ):
        seconds, rss, cpu = median(name, 0), median(name, 1), median(name, 2)
        ratio = median("transfer_manager", 0) / seconds
        best = min(t[0] for t in results["timings"][name])
        rows.append(
            f"| {label} | {seconds:.2f} | {mb / seconds:.0f} | {mb / best:.0f} | {ratio:.2f}× | {cpu:.2f} | {rss:.0f} |"
        )
    api = results["api_calls"]
    storage = results["storage_calls"]
    budget = parallel * part / MIB + 64
    return "\n".join(
        [
            START,
            "## Python client: `upvault upload` vs boto3's TransferManager",
            "",
            f"{measured('make bench-sdk')} (bench/sdk.py); 1-minute load average before and after each",
            f"round, the benchmark's own processes included: {', '.join(results['loads'])}.",
            "",
            f"One {size / MIB:.0f} MiB file, {part / MIB:.0f} MiB parts ({parts} parts), {parallel} at once, "
            "local MinIO",
            f"(one drive, SSE-KMS bucket), {results['runs']} interleaved runs; median wall time of the whole process",
            "(interpreter start, imports, checksums, API calls, transfer). Ratio: TransferManager's time / this one's",
            f"(≥ 1.0 means as fast or faster). Memory budget: parts in flight × part size + 64 MiB = {budget:.0f} MiB.",
            "Client CPU: the candidate process's user + system seconds (median; storage's own work not included).",
            "",
            "| candidate | s (median) | MB/s (median) | MB/s (best) | vs TransferManager | client CPU s "
            "| peak RSS (MiB) |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"API calls the CLI made for the {parts}-part upload (from the API's access log):",
            "",
            "| call | count |",
            "|---|---:|",
            *[f"| `{call}` | {count} |" for call, count in sorted(api.items())],
            f"| **total** | **{sum(api.values())}** |",
            "",
            "Storage calls the API made to serve them, by route (the parts themselves go straight to storage: "
            f"{parts} presigned PUTs):",
            "",
            "| route | S3 operations |",
            "|---|---|",
            *[
                f"| `{route}` | {', '.join(f'{op} × {n}' for (r, op), n in sorted(storage.items()) if r == route)} |"
                for route in sorted({route for route, _ in storage})
            ],
            f"| **total** | **{sum(storage.values())}** |",
            END,
        ]
    )


def main() -> None:
    """Run the benchmark and update docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args()
    section = render(run(args.size_mib, args.part_mib, args.parallel, args.runs))
    print(section)
    if not args.no_write:
        write_section(section, START, END)


if __name__ == "__main__":
    main()
