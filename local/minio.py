"""Run a real MinIO server as a child process, for ``make dev`` and the integration tests.

MinIO here is a development stand-in for S3 (its repository is archived; see docs/minio.md).
The server is single node, single drive, bound to 127.0.0.1, console off, and always owned by
this process: it runs in its own process group, which :meth:`MinioServer.stop` kills, and on
Linux the kernel kills it too if its parent dies without stopping it.

Typical use::

    with MinioServer(tmp / "data", root_user="dev", root_password="dev-secret",
                     kms_secret_key=generate_kms_secret_key("upvault-dev")) as minio:
        s3 = boto3.client("s3", endpoint_url=minio.endpoint_url, ...)

A stopped server can be started again (:meth:`MinioServer.restart`) on the same port and data
dir, so tests can take storage away and bring it back without losing objects.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ctypes
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from local.ports import LOOPBACK, free_port, is_listening
from local.tools import tool_path

#: Polled for readiness: 200 only once the drive accepts writes. ``/minio/health/live`` is 200
#: as soon as the process listens and ``/ready`` even before storage works, so neither will do.
HEALTH_PATH = "/minio/health/cluster"
LIVE_PATH = "/minio/health/live"

_KMS_KEY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*):(?P<key>[A-Za-z0-9+/=]+)$")
_PR_SET_PDEATHSIG = 1


class MinioError(RuntimeError):
    """MinIO could not be configured, started or stopped; the message says why."""


def generate_kms_secret_key(name: str) -> str:
    """Return a new ``MINIO_KMS_SECRET_KEY`` value, ``<name>:<base64 of 32 random bytes>``.

    ``name`` is the key id that ``aws:kms`` default encryption must name on MinIO.
    """
    value = f"{name}:{base64.b64encode(secrets.token_bytes(32)).decode()}"
    validate_kms_secret_key(value)
    return value


def validate_kms_secret_key(value: str) -> str:
    """Check a ``MINIO_KMS_SECRET_KEY`` value and return its key name; raise :class:`MinioError`."""
    match = _KMS_KEY.match(value)
    if match is None:
        raise MinioError("MINIO_KMS_SECRET_KEY must look like <name>:<base64 of 32 bytes>")
    try:
        raw = base64.b64decode(match["key"], validate=True)
    except binascii.Error as exc:
        raise MinioError("MINIO_KMS_SECRET_KEY: the key after ':' is not valid base64") from exc
    if len(raw) != 32:
        raise MinioError(f"MINIO_KMS_SECRET_KEY: the key must be 32 bytes, got {len(raw)}")
    return match["name"]


def _kill_me_with_parent() -> Callable[[], None] | None:
    """Return a pre-exec hook making Linux SIGKILL the child when its parent dies, or ``None``.

    libc is loaded here, in the parent: the hook itself runs between fork and exec, where it
    must do no more than one system call.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:  # pragma: no cover - runs in the child
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


class MinioServer:
    """One MinIO server process on 127.0.0.1 (by default), with a data dir that outlives restarts.

    Args:
        data_dir: The single drive; created when missing, kept by :meth:`stop`.
        root_user: Root access key (at least 3 characters). Never a default: it comes from the
            caller's settings or test fixture.
        root_password: Root secret key (at least 8 characters).
        port: S3 API port on ``host``; a free one when omitted. Kept across restarts.
        host: The address the S3 API listens on: 127.0.0.1, or the Docker bridge's address
            where containers must reach it (the SAM tier). The console stays on 127.0.0.1.
        kms_secret_key: Optional ``MINIO_KMS_SECRET_KEY`` (``<name>:<base64 32 bytes>``), which
            turns on MinIO's built-in KMS with that one key (needed for SSE-KMS and SSE-S3).
        env: Extra ``MINIO_*`` settings, e.g. ``MINIO_NOTIFY_WEBHOOK_ENABLE_<ID>``,
            ``MINIO_API_CORS_ALLOW_ORIGIN``, ``MINIO_API_STALE_UPLOADS_EXPIRY``. They win over
            the defaults set here. ``MINIO_*`` variables of the calling environment are *not*
            passed on, so a shell's settings cannot change what tests observe.
        log_file: Where the server's stdout and stderr go (appended across restarts); by
            default ``<data_dir>.log`` beside the data dir.
        binary: The ``minio`` executable; by default the one ``make tools`` built.
        startup_timeout: Seconds to wait for :data:`HEALTH_PATH` to answer 200.
        die_with_parent: On Linux, have the kernel kill MinIO when the *thread* that started
            it ends (``PR_SET_PDEATHSIG``), so a crashed test run leaves no orphan. Start the
            server from a long-lived thread (the main one), or pass ``False``.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        root_user: str,
        root_password: str,
        port: int | None = None,
        host: str = LOOPBACK,
        kms_secret_key: str | None = None,
        env: Mapping[str, str] | None = None,
        log_file: Path | str | None = None,
        binary: Path | str | None = None,
        startup_timeout: float = 60.0,
        die_with_parent: bool = True,
    ) -> None:
        if len(root_user) < 3:
            raise MinioError("MinIO's root user must be at least 3 characters")
        if len(root_password) < 8:
            raise MinioError("MinIO's root password must be at least 8 characters")
        self.kms_key_name = validate_kms_secret_key(kms_secret_key) if kms_secret_key else None
        self.data_dir = Path(data_dir)
        self.root_user = root_user
        self.root_password = root_password
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.log_file = Path(log_file) if log_file else self.data_dir.with_name(self.data_dir.name + ".log")
        self.binary = Path(binary) if binary else tool_path("minio")
        self.startup_timeout = startup_timeout
        self.die_with_parent = die_with_parent
        self._kms_secret_key = kms_secret_key
        self._extra_env = dict(env or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"MinioServer({self.endpoint_url}, data_dir={str(self.data_dir)!r}, {state})"

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint, ``http://<host>:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive (not whether it is ready)."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self.running and self._process else None

    def environment(self) -> dict[str, str]:
        """The environment the server process gets (credentials included)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("MINIO_")}
        env.update(
            MINIO_ROOT_USER=self.root_user,
            MINIO_ROOT_PASSWORD=self.root_password,
            MINIO_BROWSER="off",
            MINIO_UPDATE="off",
        )
        if self._kms_secret_key:
            env["MINIO_KMS_SECRET_KEY"] = self._kms_secret_key
        env.update(self._extra_env)
        return env

    def command(self) -> list[str]:
        """The command line that starts the server."""
        # The console is off (MINIO_BROWSER=off), but pin its address to loopback anyway so it
        # can never listen on all interfaces if someone turns it on through ``env``.
        return [
            str(self.binary),
            "server",
            str(self.data_dir),
            "--address",
            f"{self.host}:{self.port}",
            "--console-address",
            f"{LOOPBACK}:{free_port()}",
            "--quiet",
        ]

    def start(self) -> Self:
        """Start the server and wait until it accepts writes; a no-op when it already runs.

        Raises:
            MinioError: the port is taken, or the process exited or did not become ready in
                time; the message carries the tail of the log.
        """
        if self.running:
            return self
        # MinIO listens with SO_REUSEPORT: a second server on a busy port starts "fine" and the
        # kernel splits connections between the two, so readiness would be read off the other.
        if is_listening(self.port, self.host):
            raise MinioError(f"port {self.port} on {self.host} is already in use: pick another port")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        self._log.write(f"\n== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {self.command()}\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(  # noqa: S603 - our own pinned binary, no shell
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            start_new_session=True,
            preexec_fn=_kill_me_with_parent() if self.die_with_parent else None,
        )
        try:
            self.wait_ready(self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Poll :data:`HEALTH_PATH` until it answers 200, or raise :class:`MinioError`."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                code = self._process.returncode if self._process else None
                raise MinioError(f"MinIO exited with code {code} while starting:\n{self.log_tail()}")
            if self.health(HEALTH_PATH) == 200:
                return
            if time.monotonic() > deadline:
                raise MinioError(f"MinIO was not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def health(self, path: str = HEALTH_PATH, timeout: float = 2.0) -> int | None:
        """Return the status of a health endpoint, or ``None`` when nothing answers."""
        try:
            with urllib.request.urlopen(self.endpoint_url + path, timeout=timeout) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and everything in its process group; the data dir stays.

        SIGTERM first (MinIO shuts down cleanly), SIGKILL after ``timeout`` seconds.
        """
        process, self._process = self._process, None
        if process is not None:
            self._signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                process.wait()
            # Whatever MinIO spawned in its group goes too.
            self._signal_group(process, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> Self:
        """Stop and start again on the same port and data dir (objects survive)."""
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server log, for error messages."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
