"""The README's curl walkthrough, executed as written against a real `upvault dev`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from local.ports import free_port, is_listening
from tests.support import stop_group

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["minio", "moto"]


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "README walkthrough block not found"
    return match.group(1)


@pytest.mark.integration
@pytest.mark.parametrize("backend", BACKENDS)
def test_readme_walkthrough_works_as_written(tmp_path: Path, backend: str) -> None:
    # Given `upvault dev` running on free ports with its own state dir
    port = free_port()
    env = {
        **os.environ,
        "UPVAULT_API_PORT": str(port),
        "UPVAULT_STATE_DIR": str(tmp_path / "state"),
        "UPVAULT_MINIO_PORT": str(free_port()),
        "UPVAULT_BACKEND": backend,
    }
    log = (tmp_path / "dev.log").open("w")
    stack = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "upvault"), "dev"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(ROOT / ".venv")
    try:
        deadline = time.monotonic() + 120
        while not is_listening(port):
            assert stack.poll() is None, (tmp_path / "dev.log").read_text()
            assert time.monotonic() < deadline, "local stack did not start"
            time.sleep(0.2)
        # When the README block runs, as a user would paste it
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walkthrough()],
            cwd=work,
            timeout=120,
            env={**env, "API": f"http://127.0.0.1:{port}"},
            capture_output=True,
            text=True,
        )
        # Then every step succeeds: bytes round-trip, delete is 204, restore brings the file back
        assert result.returncode == 0, result.stdout + result.stderr + (tmp_path / "dev.log").read_text()[-3000:]
        assert "bytes equal" in result.stdout
        assert "delete: 204" in result.stdout
        assert result.stdout.strip().splitlines()[-1].count('"status":"ready"') == 1
        assert '"name":"Kontoauszug Oktober.pdf"' in result.stdout
    finally:
        stop_group(stack, signal.SIGINT, timeout=20)
        log.close()
