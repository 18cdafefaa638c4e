"""MinioServer, the process manager the local stack and these tests rely on, and tool lookup."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from local.minio import LIVE_PATH, MinioError, MinioServer, generate_kms_secret_key
from local.ports import free_port, is_listening
from local.tools import TOOLS, ToolNotInstalledError, tool_path, tools_dir
from tests.live_minio import make_s3_client, minio_binary

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "tools"


def alive(pid: int) -> bool:
    """Whether a process exists (and is not a zombie awaiting its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def test_restart_keeps_port_and_objects(minio: MinioServer, minio_s3: Any, bucket: str) -> None:
    # Given an object in the running session server
    minio_s3.put_object(Bucket=bucket, Key="kept.txt", Body=b"still here")
    endpoint, pid = minio.endpoint_url, minio.pid
    assert pid is not None
    # When the server is stopped
    minio.stop()
    # Then its process is gone, nothing answers, and S3 calls fail to connect
    assert not alive(pid)
    assert minio.health(LIVE_PATH) is None
    with pytest.raises(EndpointConnectionError):
        make_s3_client(minio).list_buckets()
    # When it is started again
    minio.restart()
    # Then it serves the same endpoint and data
    assert minio.endpoint_url == endpoint
    assert minio_s3.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"still here"


def test_start_binds_loopback_only_and_stop_leaves_no_process(tmp_path: Path) -> None:
    # Given a server on a chosen port
    port = free_port()
    server = MinioServer(tmp_path / "data", root_user="proc", root_password="proc-secret", port=port)
    # When it is used as a context manager
    with server:
        pid = server.pid
        assert pid is not None
        # Then it listens on 127.0.0.1 in its own process group, console off
        assert is_listening(port)
        assert os.getpgid(pid) == pid
        assert server.environment()["MINIO_BROWSER"] == "off"
        assert f"127.0.0.1:{port}" in server.command()
    # Then leaving it stops the whole group, keeps the data dir and logged the run
    assert not alive(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not is_listening(port)
    assert (tmp_path / "data").is_dir()
    assert "starting" in server.log_file.read_text()


def test_start_refuses_a_busy_port(tmp_path: Path) -> None:
    # Given a server already listening on a port
    with MinioServer(tmp_path / "a", root_user="busy", root_password="busy-secret") as first:
        second = MinioServer(tmp_path / "b", root_user="busy", root_password="busy-secret", port=first.port)
        # When a second server is started on it (MinIO itself would share it: SO_REUSEPORT)
        with pytest.raises(MinioError, match="already in use"):
            second.start()
        # Then no second process runs and the first still serves
        assert not second.running
        assert first.health() == 200


def test_start_failure_reports_the_log(tmp_path: Path) -> None:
    # Given a "minio" that dies at once with a message, as MinIO does on a bad setting
    fake = tmp_path / "minio"
    fake.write_text("#!/bin/sh\necho 'FATAL Unable to start: bad setting' >&2\nexit 3\n")
    fake.chmod(0o755)
    server = MinioServer(tmp_path / "data", root_user="bad", root_password="bad-secret", binary=fake)
    # When it starts
    with pytest.raises(MinioError) as exc:
        server.start()
    # Then the error carries the exit code and the server's own log, and nothing is left running
    assert "code 3" in str(exc.value)
    assert "FATAL Unable to start: bad setting" in str(exc.value)
    assert not server.running


def test_environment_is_hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given MINIO_* settings in the calling shell
    monkeypatch.setenv("MINIO_API_CORS_ALLOW_ORIGIN", "https://from-shell.example")
    monkeypatch.setenv("MINIO_ROOT_USER", "shell-user")
    key = generate_kms_secret_key("dev-key")
    server = MinioServer(
        tmp_path / "d",
        root_user="given",
        root_password="given-secret",
        kms_secret_key=key,
        env={"MINIO_API_STALE_UPLOADS_EXPIRY": "1h"},
        binary=minio_binary(),
    )
    # When the server's environment is built
    env = server.environment()
    # Then only what the caller passed reaches MinIO
    assert "MINIO_API_CORS_ALLOW_ORIGIN" not in env
    assert env["MINIO_ROOT_USER"] == "given"
    assert env["MINIO_KMS_SECRET_KEY"] == key
    assert env["MINIO_API_STALE_UPLOADS_EXPIRY"] == "1h"
    assert server.kms_key_name == "dev-key"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"root_user": "ab"}, "root user"),
        ({"root_password": "short"}, "root password"),
        ({"kms_secret_key": "no-colon"}, "<name>:<base64"),
        ({"kms_secret_key": "k:not*base64"}, "<name>:<base64"),
        ({"kms_secret_key": "k:" + "QUJD"}, "32 bytes"),
    ],
)
def test_bad_configuration_fails_before_starting(tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    # Given a setting MinIO would refuse (or misread) at startup
    args = {"root_user": "valid", "root_password": "valid-secret", **kwargs}
    # When the server is configured, then it fails at once with a message saying what is wrong
    with pytest.raises(MinioError, match=re.escape(message)):
        MinioServer(tmp_path / "d", binary=minio_binary(), **args)


def test_tools_dir_follows_the_shell_rule() -> None:
    # Given the three ways scripts/tools/common.sh picks its cache
    # Then tools_dir picks the same folder in the same order
    assert tools_dir({"UPVAULT_TOOLS_DIR": "/t", "XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/t")
    assert tools_dir({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/upvault/tools")
    assert tools_dir({"HOME": "/h"}) == Path("/h/.cache/upvault/tools")


def test_missing_tool_names_the_make_target(tmp_path: Path) -> None:
    # Given an empty tools cache
    # When MinIO is looked up
    with pytest.raises(ToolNotInstalledError) as exc:
        tool_path("minio", {"UPVAULT_TOOLS_DIR": str(tmp_path)})
    # Then the error says how to install it
    assert "make tools" in str(exc.value)


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_tool_pins_match_the_install_scripts(name: str) -> None:
    # Given a tool's install script
    tool = TOOLS[name]
    script = (SCRIPTS / f"{tool.script}.sh").read_text()
    # Then it installs the commit, into the folder and binary name, that tools.py looks for
    assert re.search(rf"^commit={re.escape(tool.commit)}$", script, re.MULTILINE)
    assert re.search(rf"^go_tool {tool.name} ", script, re.MULTILINE)
    # And go_tool's folder for the script's version is the one tools.py looks in
    pins = "\n".join(line for line in script.splitlines() if line.startswith(("commit=", "version=")))
    folder = subprocess.run(
        ["bash", "-c", f'{pins}\nsource "{SCRIPTS}/common.sh"\necho "$(pin_folder "$version")"'],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "UPVAULT_TOOLS_DIR": "/tmp"},
    )
    assert f"{tool.name}-{folder.stdout.strip()}" == tool.folder
    assert tool_path(name).name == tool.binary


def test_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    # Given a Python process that started MinIO and was then killed without stopping it
    script = (
        "import sys, time\n"
        "from local.minio import MinioServer\n"
        "s = MinioServer(sys.argv[1], root_user='orphan', root_password='orphan-secret',"
        " binary=sys.argv[2]).start()\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "data"), str(minio_binary())],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src)},
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert alive(pid)
    finally:
        parent.kill()
        parent.wait()
    # Then the kernel kills MinIO too: no orphan server keeps the port and data dir
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
