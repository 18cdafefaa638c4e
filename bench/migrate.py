"""``upvault migrate`` against rclone on the same pair of MinIO servers (``make bench-migrate``).

Two MinIO servers on loopback, each with its own root credentials, play the old storage and the
new one. The source holds two datasets: 10,000 small objects (1 to 64 KiB) and 8 x 256 MiB
objects. Each tool copies each dataset into its own empty destination bucket, one tool at a time
(the order alternates per dataset), with the same concurrency, multipart threshold and part size;
each destination is then listed to check count and bytes. rclone is Debian's package, installed
here with apt-get, and configured through ``RCLONE_CONFIG_*`` variables only (no config file, no
network beyond loopback).

Reported: objects/s, MB/s and upvault/rclone ratios, with the machine and its load average
before each run (the machine is shared: load changes the numbers). Results go to
docs/benchmarks.md between markers. Long (minutes): not part of ``make test``.

    python -m bench.migrate [--small N] [--large N] [--large-mib N] [--no-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.run import machine, write_section
from local.minio import MinioServer
from migration.cli import default_parallel

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:migrate:start -->", "<!-- bench:migrate:end -->"
RECIPE = ROOT / "docs" / "migration.md"
CUTOVER_START, CUTOVER_END = "<!-- cutover:start -->", "<!-- cutover:end -->"
KIB, MIB = 1024, 1024 * 1024
THRESHOLD, PART = "64MiB", "16MiB"
REGION = "us-east-1"


@dataclass
class Run:
    """One tool copying one dataset."""

    tool: str
    dataset: str
    objects: int
    size: int
    seconds: float
    load: float
    #: CPU seconds the tool's process used (the servers' CPU is not counted).
    cpu: float = 0.0

    @property
    def objects_per_s(self) -> float:
        """Objects copied per second."""
        return self.objects / self.seconds

    @property
    def mb_per_s(self) -> float:
        """Megabytes (10^6) copied per second."""
        return self.size / self.seconds / 1e6


def ensure_rclone() -> str:
    """rclone from Debian's package (installed when missing)."""
    found = shutil.which("rclone")
    if found:
        return found
    print("== installing rclone (Debian package)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-q", "rclone"], env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "rclone"], env=env, check=True)
    found = shutil.which("rclone")
    if not found:
        raise SystemExit("rclone could not be installed")
    return found


def client(server: MinioServer) -> Any:
    """A boto3 client of ``server`` (for setup and checks only), as the integration tests make it."""
    from tests.live_minio import make_s3_client

    return make_s3_client(server)


def rclone_env(source: MinioServer, destination: MinioServer) -> dict[str, str]:
    """Two remotes, ``src`` and ``dst``, from the environment alone."""
    # AWS_CA_BUNDLE (set on some machines) makes rclone's SDK refuse its own HTTP transport;
    # both servers are plain HTTP on loopback, so there is nothing to verify.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env["RCLONE_CONFIG"] = os.devnull
    for name, server in (("SRC", source), ("DST", destination)):
        env.update(
            {
                f"RCLONE_CONFIG_{name}_TYPE": "s3",
                f"RCLONE_CONFIG_{name}_PROVIDER": "Minio",
                f"RCLONE_CONFIG_{name}_ENDPOINT": server.endpoint_url,
                f"RCLONE_CONFIG_{name}_ACCESS_KEY_ID": server.root_user,
                f"RCLONE_CONFIG_{name}_SECRET_ACCESS_KEY": server.root_password,
                f"RCLONE_CONFIG_{name}_REGION": REGION,
            }
        )
    return env


def upvault_env(source: MinioServer, destination: MinioServer, state: Path) -> dict[str, str]:
    """The migrate command's per-side keys and a fresh journal folder."""
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}",
        "XDG_STATE_HOME": str(state),
        "UPVAULT_MIGRATE_FROM_ACCESS_KEY_ID": source.root_user,
        "UPVAULT_MIGRATE_FROM_SECRET_ACCESS_KEY": source.root_password,
        "UPVAULT_MIGRATE_TO_ACCESS_KEY_ID": destination.root_user,
        "UPVAULT_MIGRATE_TO_SECRET_ACCESS_KEY": destination.root_password,
    }


def fill(server: MinioServer, bucket: str, objects: dict[str, int], parallel: int) -> None:
    """Upload random objects of the given sizes."""
    s3 = client(server)
    s3.create_bucket(Bucket=bucket)

    def put(item: tuple[str, int]) -> None:
        key, size = item
        s3.put_object(Bucket=bucket, Key=key, Body=os.urandom(size))

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(put, objects.items()))


def listed(server: MinioServer, bucket: str) -> tuple[int, int]:
    """Object count and bytes of a bucket."""
    count = size = 0
    for page in client(server).get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            count += 1
            size += item["Size"]
    return count, size


def children_cpu() -> float:
    """CPU seconds (user + system) used so far by finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds a command takes; it must succeed."""
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"{command[0]} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return seconds


def run_tool(tool: str, dataset: str, servers: tuple[MinioServer, MinioServer], parallel: int, work: Path) -> Run:
    """Copy ``dataset`` from the source bucket into a new bucket for ``tool``; check and time it."""
    source, destination = servers
    target = f"{tool}-{dataset}"
    client(destination).create_bucket(Bucket=target)
    load = os.getloadavg()[0]
    cpu_before = children_cpu()
    if tool == "rclone":
        command = [
            "rclone", "copy", f"src:{dataset}", f"dst:{target}", "--transfers", str(parallel),
            "--checkers", str(parallel), "--s3-upload-cutoff", "64M", "--s3-chunk-size", "16M",
            "--s3-upload-concurrency", "4", "--stats", "0",
        ]  # fmt: skip
        seconds = timed(command, rclone_env(source, destination))
    else:
        command = [
            sys.executable, "-m", "migration", "--from", f"s3://{dataset}", "--from-endpoint", source.endpoint_url,
            "--to", f"s3://{target}", "--to-endpoint", destination.endpoint_url, "--parallel", str(parallel),
            "--multipart-threshold", THRESHOLD, "--part-size", PART, "--temp-dir", str(work), "--json",
        ]  # fmt: skip
        seconds = timed(command, upvault_env(source, destination, Path(tempfile.mkdtemp(dir=work))))
    cpu = children_cpu() - cpu_before
    count, size = listed(destination, target)
    expected = listed(source, dataset)
    if (count, size) != expected:
        raise SystemExit(f"{tool} copied {count} objects / {size} bytes of {dataset}, expected {expected}")
    return Run(tool, dataset, count, size, seconds, load, cpu)


def cut_over(servers: tuple[MinioServer, MinioServer], parallel: int, work: Path) -> dict[str, float]:
    """The steps of docs/migration.md's recipe on the small dataset, already copied once.

    Times a rerun with nothing changed (listings and the journal decide, no object is read), a
    rerun after 1 % of the objects changed at the source, and a ``--verify-only`` pass without a
    journal.
    """
    source, destination = servers
    state = Path(tempfile.mkdtemp(dir=work))
    base = [
        sys.executable, "-m", "migration", "--from", "s3://small", "--from-endpoint", source.endpoint_url,
        "--to", "s3://upvault-small", "--to-endpoint", destination.endpoint_url, "--parallel", str(parallel), "--json",
    ]  # fmt: skip
    env = upvault_env(source, destination, state)
    timed(base, env)  # the journal of this state dir now knows every object
    unchanged = timed(base, env)
    s3 = client(source)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="small", MaxKeys=1000)["Contents"]][::10]
    for key in keys:
        s3.put_object(Bucket="small", Key=key, Body=os.urandom(4096))
    changed = timed(base, env)
    verify = timed([*base, "--verify-only"], upvault_env(source, destination, Path(tempfile.mkdtemp(dir=work))))
    return {"unchanged": unchanged, "changed": changed, "changed_count": len(keys), "verify": verify}


def cut_over_section(steps: dict[str, float], first: Run) -> str:
    """The timings table of docs/migration.md's cut-over recipe."""
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    changed = f"{steps['changed_count']:.0f}"
    return "\n".join(
        [
            CUTOVER_START,
            f"Measured {stamp} by `make bench-migrate` (load average {first.load:.1f} before the first sync).",
            "",
            "| step | what it does | seconds |",
            "|---|---|---:|",
            f"| 1. sync, first run | copies all {first.objects:,} objects | {first.seconds:.1f} |",
            f"| 1. sync again, nothing changed | lists both sides; journal, ETags decide | {steps['unchanged']:.1f} |",
            f"| 3. final sync, {changed} objects changed at the source | copies those only | {steps['changed']:.1f} |",
            f"| 4. verify (`--verify-only`, no journal) | compares every object | {steps['verify']:.1f} |",
            CUTOVER_END,
        ]
    )


def render(runs: list[Run], parallel: int, small: int, large: int, large_mib: int) -> str:
    """The markdown section."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    by = {(r.tool, r.dataset): r for r in runs}
    lines = [
        START,
        "## Storage migration: `upvault migrate` vs rclone",
        "",
        f"Measured {stamp} on {machine()} by `make bench-migrate` (bench/migrate.py), rclone "
        f"{rclone_version()} (Debian package). Two MinIO servers on loopback with different credentials; "
        f"each tool copies each dataset into its own empty bucket on the second server with {parallel} "
        f"concurrent transfers, multipart above {THRESHOLD} in {PART} parts. The destination is listed "
        "afterwards (count and bytes must match). The machine is shared: the load average (1 min) before "
        "each run is given.",
        "",
        "| dataset | tool | objects | seconds | objects/s | MB/s | tool CPU s | load before |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run.dataset} | {run.tool} | {run.objects:,} | {run.seconds:.1f} | {run.objects_per_s:,.1f} "
            f"| {run.mb_per_s:,.1f} | {run.cpu:.1f} | {run.load:.1f} |"
        )
    lines += ["", "| dataset | upvault / rclone (objects/s) | upvault / rclone (MB/s) |", "|---|---:|---:|"]
    for dataset in ("small", "large"):
        ours, theirs = by[("upvault", dataset)], by[("rclone", dataset)]
        lines.append(
            f"| {dataset} | **{ours.objects_per_s / theirs.objects_per_s:.2f}×** "
            f"| **{ours.mb_per_s / theirs.mb_per_s:.2f}×** |"
        )
    lines += [
        "",
        f"small: {small:,} objects of 1-64 KiB; large: {large} × {large_mib} MiB.",
        "",
        "Timings of the cut-over steps (reruns, verify) are in [migration.md](migration.md#zero-downtime-cut-over).",
        END,
    ]
    return "\n".join(lines)


def rclone_version() -> str:
    """rclone's version line."""
    out = subprocess.run(["rclone", "version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].removeprefix("rclone ").strip() if out else "?"


def main() -> None:
    """Set up the two servers and datasets, run both tools, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=8)
    parser.add_argument("--large-mib", type=int, default=256)
    parser.add_argument("--parallel", type=int, default=default_parallel())
    parser.add_argument("--no-docs", action="store_true", help="print the results, leave docs/ alone")
    args = parser.parse_args()
    ensure_rclone()
    rng = random.Random(13)
    small = {f"small/u{i % 50:02d}/{i:05d}.bin": rng.randint(1 * KIB, 64 * KIB) for i in range(args.small)}
    large = {f"large/{i}.bin": args.large_mib * MIB for i in range(args.large)}
    with tempfile.TemporaryDirectory(prefix="upvault-bench-migrate-") as folder:
        work = Path(folder)
        source = MinioServer(work / "old", root_user="old-storage", root_password="old-storage-secret")
        destination = MinioServer(work / "new", root_user="new-storage", root_password="new-storage-secret")
        with source, destination:
            print(f"== filling the source: {len(small):,} small and {len(large)} large objects", flush=True)
            fill(source, "small", small, args.parallel)
            fill(source, "large", large, 4)
            runs = []
            for dataset, order in (("small", ("rclone", "upvault")), ("large", ("upvault", "rclone"))):
                for tool in order:
                    print(f"== {tool}: {dataset}", flush=True)
                    run = run_tool(tool, dataset, (source, destination), args.parallel, work)
                    print(
                        f"   {run.seconds:.1f} s, {run.objects_per_s:.1f} objects/s, {run.mb_per_s:.1f} MB/s, "
                        f"{run.cpu:.1f} CPU s",
                        flush=True,
                    )
                    runs.append(run)
            print("== upvault: cut-over steps on the small dataset", flush=True)
            steps = cut_over((source, destination), args.parallel, work)
            print(f"   {steps}", flush=True)
    section = render(runs, args.parallel, len(small), len(large), args.large_mib)
    print(section)
    if not args.no_docs:
        write_section(section, START, END)
        first = next(run for run in runs if (run.tool, run.dataset) == ("upvault", "small"))
        write_section(cut_over_section(steps, first), CUTOVER_START, CUTOVER_END, RECIPE)
    print(json.dumps({f"{r.tool}_{r.dataset}_s": round(r.seconds, 2) for r in runs}))


if __name__ == "__main__":
    main()
