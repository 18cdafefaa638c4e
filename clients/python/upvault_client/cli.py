"""The client's commands of the ``upvault`` CLI: upload, ls, get, info, rm, restore, login.

``local/cli.py`` adds them to the ``upvault`` console script beside the local-stack commands;
``python -m upvault_client`` runs them alone. Results go to stdout (``--json`` for scripts),
messages and progress bars to stderr (bars only on a terminal).

Exit codes: 0 everything worked, 1 something failed (a rejected file, an API or storage
error), 2 usage or configuration error, 130 interrupted (Ctrl-C; uploads resume on the next run).
"""

from __future__ import annotations

import gc
import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Queue
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from upvault_client import models
from upvault_client.client import Client
from upvault_client.config import ClientSettings, save_config
from upvault_client.errors import (
    ApiError,
    ApiUnreachable,
    AuthenticationFailed,
    Cancelled,
    FileRejected,
    UpvaultError,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
CATEGORIES = ("documents", "audio", "images")
STATUSES = ("pending", "ready", "rejected")

F = TypeVar("F", bound=Callable[..., Any])
#: Progress bars and tables only; messages go through :func:`say` (plain text, never re-wrapped).
err = Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """A message on stderr (above the progress bars while they show)."""
    click.echo(message, err=True)


def connection_options(command: F) -> F:
    """``--api-url`` and ``--token`` (else ``UPVAULT_API_URL``/``UPVAULT_TOKEN``, else ``upvault login``'s file)."""
    command = click.option(
        "--token", metavar="TOKEN", help="Bearer token (default: $UPVAULT_TOKEN, then `upvault login`)."
    )(command)
    return click.option(
        "--api-url", metavar="URL", help="API base URL (default: $UPVAULT_API_URL, then `upvault login`)."
    )(command)


def make_client(api_url: str | None, token: str | None, **options: Any) -> Client:
    """A client from flags, environment or config file; a usage error (exit 2) when unset."""
    given: dict[str, Any] = {name: value for name, value in (("api_url", api_url), ("token", token)) if value}
    try:
        settings = ClientSettings(**given)
    except ValueError as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from None
    if settings.api_url is None:
        raise click.UsageError("no API URL: pass --api-url, set UPVAULT_API_URL or run `upvault login`")
    if settings.token is None:
        raise click.UsageError("no token: pass --token, set UPVAULT_TOKEN or run `upvault login`")
    return Client(settings.api_url, token=settings.token.get_secret_value(), **options)


def explain(exc: BaseException) -> str:
    """One line for a failure, with what to do about it where that is clear."""
    if isinstance(exc, AuthenticationFailed):
        return f"the API refused the token ({exc}): check --token, UPVAULT_TOKEN or `upvault login`"
    if isinstance(exc, ApiUnreachable):
        return f"{exc}: is the API running, and is UPVAULT_API_URL (or --api-url) right?"
    if isinstance(exc, UpvaultError | OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def failures() -> Iterator[None]:
    """Turn client errors into one line on stderr and exit code 1 (no traceback)."""
    try:
        yield
    except UpvaultError as exc:
        say(f"error: {explain(exc)}")
        raise SystemExit(EXIT_FAILED) from None


def emit_json(value: Any) -> None:
    """Machine-readable output on stdout."""
    click.echo(json.dumps(value, indent=2, default=str))


def human(size: float) -> str:
    """``12.3 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# -- upload --------------------------------------------------------------------------------------
class UploadDisplay:
    """One progress line per file and a total, on a terminal; nothing otherwise."""

    def __init__(self, paths: list[Path], sizes: list[int]) -> None:
        self.enabled = err.is_terminal
        self.bars = Progress(
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not self.enabled,
        )
        self.total = self.bars.add_task("total", total=sum(sizes))
        self.tasks = [self.bars.add_task(path.name, total=size) for path, size in zip(paths, sizes, strict=True)]
        self._sent = [0] * len(paths)
        self._announced: set[int] = set()
        self._lock = threading.Lock()

    def callback(self, index: int, name: str) -> Callable[[models.Progress], None]:
        """The ``on_progress`` of file ``index``."""

        def report(progress: models.Progress) -> None:
            with self._lock:
                if progress.phase == "upload":
                    self.bars.update(self.total, advance=progress.done - self._sent[index])
                    self._sent[index] = progress.done
                    if progress.resumed and index not in self._announced:
                        self._announced.add(index)
                        say(f"resuming {name}: {human(progress.resumed)} of {human(progress.total)} already stored")
                label = {"checksum": "checksum", "upload": "", "processing": "validating"}[progress.phase]
                self.bars.update(self.tasks[index], completed=progress.done, description=f"{name} {label}".rstrip())

        return report


def _result(path: Path, info: models.FileInfo | None = None, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"path": str(path)}
    if info is not None:
        record.update(info.model_dump(mode="json", exclude={"metadata"}))
    record.update(extra)
    return record


def _upload_one(
    client: Client, path: Path, options: dict[str, Any], report: Callable[[models.Progress], None]
) -> dict[str, Any]:
    try:
        info = client.upload(path, on_progress=report, **options)
    except FileRejected as exc:
        return _result(path, exc.file, ok=False)
    except Cancelled:
        return _result(path, status="interrupted", ok=False)
    except (UpvaultError, OSError) as exc:
        problem = exc.problem.model_dump(mode="json") if isinstance(exc, ApiError) else None
        return _result(path, status="failed", error=explain(exc), problem=problem, ok=False)
    ok = info.status == models.READY or (not options["wait"] and info.status == models.PENDING)
    return _result(path, info, ok=ok)


def _report(record: dict[str, Any]) -> None:
    """A line per file: results on stdout, failures (with the reason) on stderr."""
    status = record.get("status", "failed")
    name = record.get("name") or Path(record["path"]).name
    if record["ok"]:
        click.echo(f"{status:<9} {record['file_id']}  {name}")
    elif status == models.REJECTED:
        say(f"rejected  {record['file_id']}  {name}: {record.get('reason') or 'no reason given'}")
    elif status != "interrupted":
        say(f"failed    {name}: {record.get('error')}")


def _start_uploads(
    client: Client,
    files: list[Path],
    options: dict[str, Any],
    display: UploadDisplay,
    results: Queue[tuple[int, dict[str, Any]]],
    workers: int,
) -> None:
    """Upload ``files`` on ``workers`` daemon threads, putting ``(index, record)`` on ``results``.

    Daemon threads: after Ctrl-C the process must be able to exit while they wind down.
    """
    todo: Queue[int] = Queue()
    for index in range(len(files)):
        todo.put(index)

    def work() -> None:
        while not todo.empty():
            index = todo.get()
            path = files[index]
            try:
                record = _upload_one(client, path, options, display.callback(index, path.name))
            except Exception as exc:
                record = _result(path, status="failed", error=explain(exc), ok=False)
            results.put((index, record))

    for _ in range(workers):
        threading.Thread(target=work, name="upvault-file", daemon=True).start()


@click.command("upload")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--category", type=click.Choice(CATEGORIES), help="Default: from the content type.")
@click.option("--content-type", metavar="TYPE", help="Default: sniffed from the bytes, then the name.")
@click.option("--metadata", "-m", multiple=True, metavar="KEY=VALUE", help="Stored with the file (repeatable).")
@click.option("--parallel", type=click.IntRange(1, 64), default=4, show_default=True, help="Transfers at once.")
@click.option("--no-wait", is_flag=True, help="Return once the bytes are stored, before validation.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@connection_options
def upload_command(
    paths: tuple[Path, ...],
    category: str | None,
    content_type: str | None,
    metadata: tuple[str, ...],
    parallel: int,
    no_wait: bool,
    as_json: bool,
    api_url: str | None,
    token: str | None,
) -> int:
    """Upload files; large ones go in parallel parts and resume after an interruption."""
    pairs = [item.partition("=") for item in metadata]
    if any(not sep for _, sep, _ in pairs):
        raise click.BadParameter("use KEY=VALUE", param_hint="--metadata")
    options = {
        "category": category,
        "content_type": content_type,
        "metadata": {key: value for key, _, value in pairs},
        "wait": not no_wait,
    }
    files = list(paths)
    client = make_client(api_url, token, parallel=parallel)
    display = UploadDisplay(files, [path.stat().st_size for path in files])
    results: Queue[tuple[int, dict[str, Any]]] = Queue()
    done: dict[int, dict[str, Any]] = {}
    try:
        with display.bars:
            _start_uploads(client, files, options, display, results, min(len(files), parallel))
            while len(done) < len(files):
                index, record = results.get()
                done[index] = record
                if not as_json:
                    _report(record)
    except KeyboardInterrupt:
        client.cancel()
        unfinished = " ".join(str(path) for index, path in enumerate(files) if index not in done)
        say(
            "\ninterrupted. Parts already stored are kept; run the same command again to resume:\n"
            f"  upvault upload {unfinished}"
        )
        return EXIT_INTERRUPTED
    finally:
        client.close()
    records = [done[index] for index in range(len(files))]
    if as_json:
        emit_json(records)
    return EXIT_OK if all(record["ok"] for record in records) else EXIT_FAILED


# -- the other commands ---------------------------------------------------------------------------
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.command("ls")
@click.option("--category", type=click.Choice(CATEGORIES), help="Only this category.")
@click.option("--status", type=click.Choice(STATUSES), help="Only files in this status.")
@json_option
@connection_options
def ls_command(category: str | None, status: str | None, as_json: bool, api_url: str | None, token: str | None) -> int:
    """List your files (all pages)."""
    with failures(), make_client(api_url, token, resume=False) as client:
        items = list(client.list(category=category, status=status))
    if as_json:
        emit_json([item.model_dump(mode="json") for item in items])
        return EXIT_OK
    out = Console(highlight=False)
    if out.is_terminal:
        table = Table("id", "status", "category", "size", "created", "name", box=None)
        for item in items:
            table.add_row(
                item.file_id,
                item.status,
                item.category,
                human(item.size),
                f"{item.created_at:%Y-%m-%d %H:%M}",
                item.name,
            )
        out.print(table)
    else:
        for item in items:
            created = item.created_at.isoformat()
            click.echo("\t".join([item.file_id, item.status, item.category, str(item.size), created, item.name]))
    return EXIT_OK


def _target(info: models.FileInfo, output: Path | None) -> Path:
    """Where ``get`` saves: ``-o`` (a directory keeps the name), else the file's name here."""
    name = Path(info.name).name
    if name in ("", ".", ".."):
        name = info.file_id
    if output is None:
        return Path(name)
    return output / name if output.is_dir() else output


@click.command("get")
@click.argument("file_id")
@click.option("-o", "--output", metavar="PATH", help="File or directory to save to, - for stdout (default: its name).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@json_option
@connection_options
def get_command(
    file_id: str, output: str | None, force: bool, as_json: bool, api_url: str | None, token: str | None
) -> int:
    """Download a file, checked against the checksum storage verified at upload."""
    with failures(), make_client(api_url, token, resume=False) as client:
        if output == "-":
            client.download(file_id, sys.stdout.buffer)
            return EXIT_OK
        info = client.get(file_id)
        target = _target(info, Path(output) if output else None)
        if target.exists() and not force:
            raise click.ClickException(f"{target} exists: pass --force to overwrite it, or -o PATH")
        bars = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not err.is_terminal,
        )
        with bars:
            task = bars.add_task(target.name, total=info.size)
            client.download(file_id, target, on_progress=lambda done, _: bars.update(task, completed=done))
    checked = "sha256" if info.sha256 else "crc64nvme" if info.crc64nvme else None
    if as_json:
        emit_json({"file_id": file_id, "path": str(target), "size": info.size, "verified": checked})
    else:
        say(f"saved {target} ({human(info.size)}, {f'{checked} verified' if checked else 'size checked'})")
    return EXIT_OK


def _show(info: models.FileInfo, as_json: bool) -> None:
    if as_json:
        emit_json(info.model_dump(mode="json"))
        return
    for name, value in info.model_dump(mode="json").items():
        if value not in (None, {}):
            click.echo(f"{name + ':':<14}{value}")


@click.command("info")
@click.argument("file_id")
@json_option
@connection_options
def info_command(file_id: str, as_json: bool, api_url: str | None, token: str | None) -> int:
    """Show a file's details and status (with the reason when rejected)."""
    with failures(), make_client(api_url, token, resume=False) as client:
        _show(client.get(file_id), as_json)
    return EXIT_OK


@click.command("rm")
@click.argument("file_id")
@json_option
@connection_options
def rm_command(file_id: str, as_json: bool, api_url: str | None, token: str | None) -> int:
    """Delete a file (`upvault restore` brings it back)."""
    with failures(), make_client(api_url, token, resume=False) as client:
        client.delete(file_id)
    if as_json:
        emit_json({"file_id": file_id, "deleted": True})
    else:
        click.echo(f"deleted   {file_id}")
    return EXIT_OK


@click.command("restore")
@click.argument("file_id")
@json_option
@connection_options
def restore_command(file_id: str, as_json: bool, api_url: str | None, token: str | None) -> int:
    """Bring back a deleted file."""
    with failures(), make_client(api_url, token, resume=False) as client:
        info = client.restore(file_id)
    if as_json:
        emit_json(info.model_dump(mode="json"))
    else:
        click.echo(f"{info.status:<9} {info.file_id}  {info.name}")
    return EXIT_OK


@click.command("login")
@click.option("--api-url", prompt="API URL", metavar="URL", help="The API's base URL.")
@click.option("--token", prompt="Token", hide_input=True, metavar="TOKEN", help="A bearer token.")
@click.option("--no-verify", is_flag=True, help="Save without checking the token against the API.")
def login_command(api_url: str, token: str, no_verify: bool) -> int:
    """Save the API URL and token in your config directory (used when flags and env are unset)."""
    if not no_verify:
        with failures(), Client(api_url, token=token, resume=False) as client:
            client.list_page(limit=1)  # 401 for a refused token, unreachable for a wrong URL
    path = save_config(api_url, token)
    say(f"saved to {path} (readable by you only)")
    return EXIT_OK


#: The commands ``local/cli.py`` adds to ``upvault``.
COMMANDS: tuple[click.Command, ...] = (
    upload_command,
    ls_command,
    get_command,
    info_command,
    rm_command,
    restore_command,
    login_command,
)


@click.group(name="upvault", help="Upload, list, download, delete and restore files in Upvault.")
def cli() -> None:
    """The client's commands alone (``python -m upvault_client``)."""


for _command in COMMANDS:
    cli.add_command(_command)


def run(group: click.Group, argv: list[str] | None = None) -> int:
    """Run ``group`` and return its exit code (0 ok, 1 failed, 2 usage, 130 interrupted)."""
    # Everything imported so far lives as long as the process: the cyclic collector need not
    # walk it again each time a transfer's allocations trigger a collection.
    gc.freeze()
    try:
        result = group.main(args=argv, prog_name="upvault", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        say("aborted")
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m upvault_client``."""
    return run(cli, argv)
