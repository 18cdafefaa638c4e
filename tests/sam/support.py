"""The SAM tier's machinery: a Docker daemon, the stand-in Lambda image, SAM-ready templates, SAM CLI.

No image registry is reachable here, so AWS's Lambda base image is replaced by a stand-in
built from Debian packages and PyPI wheels (``tests/sam/image/``; docs/sam-local.md says how it
differs from AWS's). Everything else is what a user runs: the template ``python app.py``
synthesizes, SAM CLI pinned by ``scripts/tools/sam.sh``, ``sam local invoke`` and
``sam local start-api``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local.minio import MinioServer
from local.ports import LOOPBACK, free_port, is_listening
from local.tools import tools_dir
from tests.support import stop_group

ROOT = Path(__file__).resolve().parents[2]
IMAGE_DIR = Path(__file__).resolve().parent / "image"
#: Repository of the stand-in images; the tag names architecture and recipe hash.
IMAGE_REPOSITORY = "upvault-sam/lambda-python3.13"
#: Label of the stand-in (tests/sam/image/Dockerfile). Images and containers SAM builds on it
#: inherit it, so the tier finds exactly its own leftovers to prune.
IMAGE_LABEL = "org.upvault.sam-standin"
#: Debian's docker.io installs dockerd here, outside a non-root PATH.
SBIN = ("/usr/sbin", "/sbin")
SKIP_HINT = "or skip the SAM tier: make test SKIP_SAM=1 (docs/sam-local.md)"


class SamTierError(RuntimeError):
    """Something the SAM tier needs is missing; the message says what and how to get it."""


def run(command: list[str], *, timeout: float = 60, env: dict[str, str] | None = None) -> str:
    """Run a command; its stdout, or a :class:`SamTierError` carrying its output."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SamTierError(f"{' '.join(command)}: {exc}") from exc
    if done.returncode != 0:
        raise SamTierError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return done.stdout


def recorded_tool(name: str) -> str:
    """What ``scripts/tools/<name>.sh`` recorded in ``<tools>/<name>.path`` (a path or PATH entries)."""
    recorded = tools_dir() / f"{name}.path"
    if not recorded.is_file():
        raise SamTierError(f"{recorded} is missing: run `make tools` (scripts/tools/{name}.sh), {SKIP_HINT}")
    return recorded.read_text().strip()


def root_command() -> list[str] | None:
    """How to run a command as root: directly (root), through ``sudo -n`` (CI runners), or not at all."""
    if os.geteuid() == 0:
        return []
    if (
        shutil.which("sudo")
        and subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False).returncode == 0
    ):
        return ["sudo", "-n", "--preserve-env=PYTHON,DEBOOTSTRAP_CACHE"]
    return None


# -- the Docker daemon --------------------------------------------------------------------------


@dataclass
class DockerDaemon:
    """The Docker daemon of the session: the running one, or one started here and stopped after."""

    log_file: Path
    startup_timeout: float = 90.0
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @staticmethod
    def answers() -> bool:
        """Whether a daemon answers the ``docker`` CLI (any daemon: ours, another tier's, a user's)."""
        if shutil.which("docker") is None:
            return False
        try:
            return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def ensure(self) -> DockerDaemon:
        """Reuse a running daemon, or start ``dockerd`` (root only) and wait until it answers."""
        if self.answers():
            return self
        search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
        dockerd = shutil.which("dockerd", path=search)
        if dockerd is None or shutil.which("docker") is None:
            raise SamTierError(
                "no Docker daemon answers and Docker is not installed: run `make tools` "
                f"(scripts/tools/docker.sh installs Debian's docker.io; it needs root), {SKIP_HINT}"
            )
        if os.geteuid() != 0:
            raise SamTierError(
                f"no Docker daemon answers, and starting {dockerd} needs root: `sudo dockerd &`, {SKIP_HINT}"
            )
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        # Its own session: a Ctrl-C of pytest does not reach it before the fixture stops it.
        # No userland proxy: published ports are plain NAT, so a connection to a container whose
        # emulator does not listen yet is refused and SAM keeps waiting for it. docker-proxy
        # accepts at once and then drops the connection, and SAM gives up after three quick
        # tries ("No response from invoke container"): under qemu the emulator starts slower.
        self.process = subprocess.Popen(
            [dockerd, "--userland-proxy=false"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_file.read_text(errors="replace")[-3000:]
                self.stop()
                raise SamTierError(f"dockerd did not start (log {self.log_file}):\n{tail}")
            time.sleep(0.5)
        return self

    @property
    def started_here(self) -> bool:
        """Whether this session started the daemon (and so stops it)."""
        return self.process is not None

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the daemon if this session started it; a daemon found running is left alone."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # dockerd stops its containers and containerd
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def bridge_address() -> str:
        """The host's address on Docker's default bridge (docker0): where containers reach the host."""
        # The 20.10 daemon reports no gateway for the default bridge: read its interface's address.
        name = run(
            [
                "docker",
                "network",
                "inspect",
                "bridge",
                "--format",
                '{{index .Options "com.docker.network.bridge.name"}}',
            ]
        )
        interfaces = json.loads(run(["ip", "-json", "-4", "address", "show", "dev", name.strip() or "docker0"]))
        addresses = [info["local"] for interface in interfaces for info in interface.get("addr_info", [])]
        if not addresses:
            raise SamTierError(f"Docker's bridge {name.strip()} has no IPv4 address")
        return str(addresses[0])

    @staticmethod
    def prune() -> None:
        """Remove what SAM leaves behind: stopped containers and untagged images built on the
        stand-in (SAM rebuilds its image on every invoke when the template has a layer), and the
        build cache."""
        label = f"label={IMAGE_LABEL}"
        # Stopped ones only: a running container belongs to a SAM still at work (another run).
        finished = ["--filter", "status=exited", "--filter", "status=created"]
        containers = run(["docker", "ps", "--all", "--quiet", "--filter", label, *finished]).split()
        if containers:
            run(["docker", "rm", "--force", *containers])
        run(["docker", "image", "prune", "--force", "--filter", "dangling=true", "--filter", label], timeout=120)
        run(["docker", "builder", "prune", "--force"], timeout=120)


# -- the stand-in Lambda base image ---------------------------------------------------------------


def awslambdaric_version() -> str:
    """The awslambdaric pin of requirements-dev.txt (the RIE tier runs the same version)."""
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip() == "awslambdaric":
            return version.strip()
    raise SamTierError("requirements-dev.txt pins no awslambdaric")


def image_tag(arch: str) -> str:
    """The stand-in's tag: architecture plus a hash of its recipe, so a changed recipe rebuilds."""
    digest = hashlib.sha256(f"{arch}\0awslambdaric=={awslambdaric_version()}\0".encode())
    for path in sorted(IMAGE_DIR.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{IMAGE_REPOSITORY}:{arch}-{digest.hexdigest()[:16]}"


def ensure_image(arch: str, log_file: Path) -> str:
    """The stand-in image for ``arch``, built once per recipe (``tests/sam/image/build.sh``).

    Older builds of the same architecture are removed once a new one exists.
    """
    tag = image_tag(arch)
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False).returncode == 0:
        return tag
    as_root = root_command()
    if as_root is None:
        raise SamTierError(f"building the stand-in Lambda image {tag} needs root (debootstrap), {SKIP_HINT}")
    env = {
        **os.environ,
        "PATH": os.pathsep.join([os.environ.get("PATH", ""), *SBIN]),
        "PYTHON": sys.executable,
        "DEBOOTSTRAP_CACHE": str(tools_dir() / "debootstrap-cache"),
    }
    with log_file.open("ab") as log:
        done = subprocess.run(
            [*as_root, "bash", str(IMAGE_DIR / "build.sh"), arch, tag, awslambdaric_version()],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=1200,
            check=False,
        )
    if done.returncode != 0:
        raise SamTierError(f"building {tag} failed:\n{log_file.read_text(errors='replace')[-3000:]}")
    for old in run(["docker", "images", IMAGE_REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}"]).split():
        if old != tag and old.split(":")[-1].startswith(f"{arch}-"):
            subprocess.run(["docker", "rmi", old], capture_output=True, check=False)
    return tag


# -- templates ------------------------------------------------------------------------------------


def synthesize(outdir: Path, node_path: str) -> Path:
    """``python app.py`` into ``outdir`` (dev stack, cdk-nag on); the dev template's path."""
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "PATH": f"{node_path}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise SamTierError(f"python app.py failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return outdir / "Upvault-dev.template.json"


#: Our functions, by ``functions/<package>/``.
PACKAGES = ("api", "processor")


def function_id(template: dict[str, Any], package: str) -> str:
    """Logical id of the function that runs ``functions/<package>/handler.py`` (what SAM invokes).

    Found by the handler string the template gives Lambda (``infra.functions.handler_path``'s
    form; not imported: that module loads the CDK, seconds the tier does not need).
    """
    (found,) = [
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler") == f"functions.{package}.handler.handler"
    ]
    return found


def sam_template(
    source: Path, name: str, *, arch: str, layer: Path | None = None, timeout: int | None = None
) -> tuple[Path, dict[str, Any]]:
    """A copy of a synthesized template, beside it (so asset paths still resolve), for SAM here.

    ``arch``/``layer`` switch our functions and the dependencies layer to another architecture
    (the x86_64 variant runs natively, arm64 only under qemu); ``timeout`` raises our functions'
    timeouts for emulation. Nothing else changes: SAM reads the template CloudFormation gets.
    """
    template: dict[str, Any] = json.loads(source.read_text())
    ours = {function_id(template, package) for package in PACKAGES}
    for logical_id, resource in template["Resources"].items():
        properties = resource["Properties"]
        if logical_id in ours:
            properties["Architectures"] = [arch]
            if timeout:
                properties["Timeout"] = max(properties["Timeout"], timeout)
        elif resource["Type"] == "AWS::Lambda::LayerVersion" and layer is not None:
            properties["CompatibleArchitectures"] = [arch]
            resource["Metadata"]["aws:asset:path"] = str(layer)
    derived = source.with_name(name)
    derived.write_text(json.dumps(template, indent=1))
    return derived, template


# -- storage as the tests see it ----------------------------------------------------------------


@dataclass
class Notifications:
    """The SQS events the event bridge built from MinIO's real notifications, as Lambda gets them."""

    events: list[dict[str, Any]] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Stands in for the processor in the bridge: keep the event, report no failure."""
        with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()
        return {"batchItemFailures": []}

    def for_key(self, key: str, timeout: float = 30.0) -> dict[str, Any]:
        """The SQS event whose S3 notification names ``key`` (waits for MinIO to deliver it)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for event in self.events:
                    if any(key in record["body"] for record in event["Records"]):
                        return event
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no notification for {key} within {timeout:.0f} s"
                self._arrived.wait(remaining)


@dataclass(frozen=True)
class Storage:
    """The tier's MinIO as the functions in containers and the tests on the host see it."""

    server: MinioServer
    bucket: str
    s3: Any
    notifications: Notifications


# -- SAM CLI --------------------------------------------------------------------------------------


@dataclass
class Sam:
    """SAM CLI on one template, with one env-vars file and the stand-in image for every function."""

    binary: Path
    template: Path
    env_vars: Path
    image: str
    workdir: Path
    #: One ``sam local invoke`` (image build, container start, cold start, the call).
    timeout: float = 180.0
    #: How long SAM waits for a container's emulator to accept connections.
    connect_timeout: float = 60.0

    def environment(self) -> dict[str, str]:
        """SAM's own environment: no telemetry, and no 7 s wait for an STS call that cannot succeed."""
        return {
            **os.environ,
            "SAM_CLI_TELEMETRY": "0",
            "SAM_CLI_CONTAINER_CONNECTION_TIMEOUT": str(self.connect_timeout),
            "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9",
            "AWS_MAX_ATTEMPTS": "1",
        }

    def options(self) -> list[str]:
        """What every command gets: template, variables, the local image, no registry."""
        return [
            "--template",
            str(self.template),
            "--env-vars",
            str(self.env_vars),
            "--invoke-image",
            self.image,
            "--skip-pull-image",
        ]

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """``sam local invoke FUNCTION --event FILE``; the function's result."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%H%M%S") + f"-{time.monotonic_ns() % 10**6}"
        event_file = self.workdir / f"event-{stamp}.json"
        event_file.write_text(json.dumps(event))
        log = self.workdir / f"invoke-{function}-{stamp}.log"
        command = [str(self.binary), "local", "invoke", function, "--event", str(event_file), *self.options()]
        with log.open("w") as err:
            done = subprocess.run(
                command,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=self.environment(),
                timeout=self.timeout,
                check=False,
            )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            output = log.read_text()
            hint = ""
            if "No response from invoke container" in output:
                hint = (
                    "\n(the emulator in the container did not answer in time: with Docker's userland proxy, SAM "
                    "stops waiting at once; run dockerd with --userland-proxy=false, as the tier does when it "
                    "starts the daemon itself)"
                )
            raise AssertionError(f"sam local invoke {function} exited {done.returncode}:\n{output[-4000:]}{hint}")
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    @contextlib.contextmanager
    def start_api(self, startup_timeout: float = 120.0) -> Iterator[str]:
        """``sam local start-api`` on a free loopback port; yields its base URL, stops it after.

        ``LAZY`` warm containers: each function's container starts on its first request and
        serves the next ones (without it, every request builds SAM's image again).
        """
        port = free_port()
        log = self.workdir / "start-api.log"
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.binary),
            "local",
            "start-api",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--warm-containers",
            "LAZY",
            *self.options(),
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=self.environment(), start_new_session=True
            )
            try:
                deadline = time.monotonic() + startup_timeout
                while not is_listening(port):
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(f"sam local start-api did not listen:\n{log.read_text()[-4000:]}")
                    time.sleep(0.2)
                yield f"http://{LOOPBACK}:{port}"
            finally:
                # SIGINT is SAM's Ctrl-C: it stops and removes the warm containers before exiting.
                stop_group(process, signal.SIGINT, timeout=60)
