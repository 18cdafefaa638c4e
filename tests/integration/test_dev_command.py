"""``upvault dev`` (what ``make dev`` runs) as a real foreground process.

It must come up on the ports it is given, print the API URL and a ready token, serve a full
upload with URLs signed for the public endpoint, and leave no process behind on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from local.ports import free_port, is_listening
from local.tools import tool_path
from tests.support import SAMPLES, sha256_b64

#: The console script `make dev` runs (.venv/bin/upvault), from this interpreter's venv.
UPVAULT = [str(Path(sys.executable).parent / "upvault")]
READY = "Ctrl-C stops everything."


def descendants(pid: int) -> set[int]:
    """All processes below ``pid`` (children, grandchildren, ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False


class DevProcess:
    """``upvault dev`` in the background, its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*UPVAULT, "dev"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        assert self.process.stdout is not None
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Block until a line containing ``text`` was printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in self.lines.get(timeout=0.5):
                    return
            except queue.Empty:
                if self.process.poll() is not None:
                    break
        raise AssertionError(f"{text!r} never printed:\n{''.join(self.output)}")

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl-C, and the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """Last resort for a failed test: kill the whole tree."""
        for pid in descendants(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.kill()
        self.process.wait()


@pytest.fixture
def dev_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a ``make dev`` on free ports in a temp state dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPVAULT_", "MINIO_"))}
    env.update(
        UPVAULT_STATE_DIR=str(tmp_path / "state"),
        UPVAULT_API_PORT=str(free_port()),
        UPVAULT_MINIO_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    if "UPVAULT_TOOLS_DIR" in os.environ:
        env["UPVAULT_TOOLS_DIR"] = os.environ["UPVAULT_TOOLS_DIR"]
    return env


@pytest.fixture
def dev(dev_env: dict[str, str]) -> Iterator[DevProcess]:
    """``upvault dev`` on MinIO (never a fallback), URLs signed for ``localhost``."""
    tool_path("minio")
    dev_env.update(
        UPVAULT_BACKEND="minio", UPVAULT_PUBLIC_ENDPOINT_URL=f"http://localhost:{dev_env['UPVAULT_MINIO_PORT']}"
    )
    process = DevProcess(dev_env)
    yield process
    if process.process.poll() is None:
        process.kill()


def test_make_dev_serves_a_full_upload_and_ctrl_c_leaves_no_process(dev: DevProcess, dev_env: dict[str, str]) -> None:
    # Given `upvault dev` is up
    dev.wait_for(READY)
    text = "".join(dev.output)
    api = f"http://127.0.0.1:{dev_env['UPVAULT_API_PORT']}"
    # Then it printed the API URL and a ready token
    assert f"{api}/v1" in text
    token = text.split("export TOKEN=", 1)[1].split()[0]
    children = descendants(dev.process.pid)
    assert children, "MinIO runs as a child process"
    # When a browser app uploads a file with that token
    http = httpx.Client(base_url=f"{api}/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    data = SAMPLES["image/png"]
    created = http.post(
        "/uploads",
        json={
            "filename": "cat.png",
            "content_type": "image/png",
            "size": len(data),
            "category": "images",
            "checksums": {"sha256": sha256_b64(data)},
        },
    )
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    # Then the URL is signed for the public endpoint (the host the browser reaches)
    assert upload["url"].startswith(f"http://localhost:{dev_env['UPVAULT_MINIO_PORT']}/")
    assert httpx.put(upload["url"], content=data, headers=upload["headers"]).status_code == 200
    file_id = created.json()["file_id"]
    deadline = time.monotonic() + 30
    while http.get(f"/files/{file_id}").json()["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert http.get(f"/files/{file_id}").json()["status"] == "ready"
    # When the developer presses Ctrl-C
    code = dev.interrupt()
    # Then it exits cleanly and no process it started survives
    assert code == 0, "".join(dev.output)
    time.sleep(0.5)
    assert [pid for pid in children if alive(pid)] == []
    assert "stopped." in "".join(dev.output)


def test_files_persist_across_make_dev_runs(dev_env: dict[str, str]) -> None:
    # Given a first `upvault dev` run that stored a file, then stopped
    tool_path("minio")
    dev_env["UPVAULT_BACKEND"] = "minio"
    first = DevProcess(dev_env)
    try:
        first.wait_for(READY)
        token = "".join(first.output).split("export TOKEN=", 1)[1].split()[0]
        api = f"http://127.0.0.1:{dev_env['UPVAULT_API_PORT']}/v1"
        http = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        data = SAMPLES["text/plain"]
        created = http.post(
            "/uploads",
            json={
                "filename": "notes.txt",
                "content_type": "text/plain",
                "size": len(data),
                "category": "documents",
                "checksums": {"sha256": sha256_b64(data)},
            },
        ).json()
        assert (
            httpx.put(created["upload"]["url"], content=data, headers=created["upload"]["headers"]).status_code == 200
        )
        assert first.interrupt() == 0
    finally:
        if first.process.poll() is None:
            first.kill()
    # When it starts again on the same state dir
    second = DevProcess(dev_env)
    try:
        second.wait_for(READY)
        # Then the file is still there (and its event was processed, now or on the first run)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            record = http.get(f"/files/{created['file_id']}")
            if record.status_code == 200 and record.json()["status"] == "ready":
                break
            time.sleep(0.3)
        assert record.json()["status"] == "ready", record.text
        # And SIGTERM (docker stop, process managers) stops it as cleanly as Ctrl-C
        children = descendants(second.process.pid)
        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(30) == 0
        time.sleep(0.5)
        assert [pid for pid in children if alive(pid)] == []
    finally:
        if second.process.poll() is None:
            second.kill()


def test_missing_minio_falls_back_to_moto_loudly_only_when_auto(dev_env: dict[str, str], tmp_path: Path) -> None:
    # Given a machine where MinIO was never built
    dev_env["UPVAULT_TOOLS_DIR"] = str(tmp_path / "no-tools")
    # When `upvault dev` runs with UPVAULT_BACKEND=minio
    strict = subprocess.run(
        [*UPVAULT, "dev"],
        env={**dev_env, "UPVAULT_BACKEND": "minio"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it refuses, naming the fix
    assert strict.returncode != 0
    assert "make tools" in strict.stderr
    # When it runs with the default (auto)
    dev = DevProcess({**dev_env, "UPVAULT_BACKEND": "auto"})
    try:
        dev.wait_for(READY)
        # Then it warns loudly and serves on moto
        text = "".join(dev.output)
        assert "WARNING: MinIO is not installed" in text
        assert "storage    moto" in text
        health = httpx.get(f"http://127.0.0.1:{dev_env['UPVAULT_API_PORT']}/v1/health")
        assert health.status_code == 200
        assert dev.interrupt() == 0
    finally:
        if dev.process.poll() is None:
            dev.kill()


def test_busy_minio_port_is_a_clear_error(dev_env: dict[str, str]) -> None:
    # Given something already listening on the MinIO port
    tool_path("minio")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = {**dev_env, "UPVAULT_BACKEND": "minio", "UPVAULT_MINIO_PORT": str(busy.getsockname()[1])}
        # When `upvault dev` starts
        result = subprocess.run([*UPVAULT, "dev"], env=env, capture_output=True, text=True, timeout=60, check=False)
    # Then it fails with a message naming the port, not a traceback, and leaves nothing running
    assert result.returncode != 0
    assert "already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not is_listening(int(dev_env["UPVAULT_API_PORT"]))
