"""The ``migrate`` command (``upvault migrate``, or ``python -m migration``).

Exit codes: 0 everything copied/skipped and verified; 1 some object failed, was rejected, or the
run stopped early (destination gone, disk full, Ctrl-C: rerun to continue); 2 the command could
not start (bad URL or option, missing credentials, missing bucket).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from migration.engine import Migration, Options, Report, run_migration
from migration.errors import MigrationError
from migration.journal import Journal, default_path
from migration.locations import Location, SideOptions, parse_location, side_credentials
from migration.mapping import Filters, LegacyMapper, Mapper, PlainMapper
from migration.stores import LocalStore, S3Store, Store
from upvault.settings import MAX_SINGLE_PUT, Category, SettingsError, load_settings

if TYPE_CHECKING:
    from rich.progress import Progress

EXIT_FAILED = 1
EXIT_USAGE = 2
_SIZE = re.compile(r"^(\d+)\s*([kmgt]?)(i?b?)$", re.IGNORECASE)
_AGE = re.compile(r"^(\d+)([smhdw])$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def default_parallel() -> int:
    """Objects in flight by default: each mostly waits on storage, so many per core, within reason."""
    return max(8, min(64, 16 * (os.cpu_count() or 1)))


def parse_size(text: str) -> int:
    """``16MiB``, ``64M``, ``1g``, ``5242880`` → bytes (binary units)."""
    match = _SIZE.match(text.strip())
    if not match:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 16MiB)")
    return int(match[1]) * int(1024 ** " kmgt".index(match[2].lower() or " "))


def parse_since(text: str) -> datetime:
    """An ISO date or date-time (UTC when no zone), or an age: ``30m``, ``12h``, ``7d``, ``2w``."""
    match = _AGE.match(text.strip())
    if match:
        return datetime.now(UTC) - timedelta(**{_AGE_UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither an ISO date/time nor an age like 7d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Sides:
    """Per-side connection options."""

    source: SideOptions
    destination: SideOptions


def _open_store(location: Location, side: SideOptions, params: dict[str, Any], *, threshold: int) -> Store:
    if location.kind == "file":
        if side.endpoint_url or side.profile:
            raise MigrationError(f"--{side.name}-endpoint/--{side.name}-profile only apply to s3:// locations")
        return LocalStore(location)
    return S3Store(
        location,
        side,
        parallel=params["parallel"],
        multipart_threshold=threshold,
        part_size=params["part_size"],
        temp_dir=params["temp_dir"],
    )


def _user_map(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MigrationError(f"--user-map {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise MigrationError(f"--user-map {path}: must be a JSON object of legacy user → subject strings")
    return data


def _mapper(params: dict[str, Any], source: Location, destination: Location) -> tuple[Mapper, int]:
    """The mapper and the size up to which mapped objects are single PUTs."""
    category = Category(params["category"]) if params["category"] else None
    if params["layout"] == "plain":
        return PlainMapper(), MAX_SINGLE_PUT
    if destination.kind != "s3" or destination.prefix:
        raise MigrationError("--layout legacy writes into an Upvault bucket: --to must be s3://<bucket> (no prefix)")
    try:
        settings = load_settings(bucket=destination.bucket)
    except SettingsError as exc:
        raise MigrationError(str(exc)) from None
    # One bucket per category in the old setup: a bucket named like a category says which.
    if category is None and source.kind == "s3" and not source.prefix:
        category = Category(source.bucket) if source.bucket in set(Category) else None
    mapper = LegacyMapper(settings, str(source), category=category, user_map=_user_map(params["user_map"]))
    return mapper, min(settings.multipart_threshold, MAX_SINGLE_PUT)


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    # Imported only for a terminal: scripts (--json, pipes) do not pay for it.
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description:>8}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        yield progress


def _attach(progress: Progress, migration: Migration) -> None:
    """Two bars: objects decided (copied, skipped or failed) and bytes copied."""
    objects = progress.add_task("objects", total=None, detail="listing…")
    data = progress.add_task("bytes", total=None, detail="")
    done = {"objects": 0, "bytes": 0}

    def start(count: int, size: int) -> None:
        progress.update(objects, total=count, detail=f"0/{count}")
        progress.update(data, total=size, detail=f"0/{size / 1e6:,.1f} MB")

    def advance(count: int, size: int) -> None:
        done["objects"] += count
        done["bytes"] += size
        total_objects = progress.tasks[objects].total or 0
        total_bytes = progress.tasks[data].total or 0
        progress.update(objects, advance=count, detail=f"{done['objects']}/{total_objects:.0f}")
        progress.update(data, advance=size, detail=f"{done['bytes'] / 1e6:,.1f}/{total_bytes / 1e6:,.1f} MB")

    migration.on_start = start
    migration.on_progress = advance


def _summary(report: Report) -> str:
    data = report.as_dict()
    counts = data["counts"]
    lines = []
    if report.dry_run:
        lines.append(
            f"dry run: would copy {counts['planned']} objects ({data['bytes_planned']:,} bytes), "
            f"skip {counts['skipped']}, reject {counts['rejected']}; nothing was changed"
        )
        lines += [f"  copy  {item['key']} → {item['destination']}" for item in report.planned[:20]]
        if counts["planned"] > 20:
            lines.append(f"  … and {counts['planned'] - 20} more (--json lists all)")
    else:
        if report.verify_only:
            lines.append(f"verify: {counts['skipped']} objects equal, {counts['failed']} missing or different")
        lines.append(
            f"copied {counts['copied']} objects, {data['bytes_copied']:,} bytes in {data['duration_s']:.1f} s "
            f"({data['objects_per_s']} objects/s, {data['mb_per_s']} MB/s); skipped {counts['skipped']}, "
            f"failed {counts['failed']}, rejected {counts['rejected']}, "
            f"source objects deleted {counts['deleted_source']}"
        )
    for item in report.failed[:50]:
        lines.append(f"  FAILED   {item['key']}: {item['reason']}")
    for item in report.rejected[:50]:
        lines.append(f"  REJECTED {item['key']}: {item['reason']}")
    if report.aborted:
        lines.append(f"stopped: {report.aborted}")
        lines.append(f"{report.not_attempted} objects not attempted; run the same command again to continue")
    return "\n".join(lines)


def execute(params: dict[str, Any]) -> Report:
    """Build stores, mapper, filters and journal from the options and run the migration."""
    source_location = parse_location(params["source"])
    destination_location = parse_location(params["destination"])
    if str(source_location) == str(destination_location) and params["from_endpoint"] == params["to_endpoint"]:
        raise MigrationError("--from and --to name the same location")
    mapper, single_put_limit = _mapper(params, source_location, destination_location)
    sides = Sides(
        SideOptions(
            "from", params["from_endpoint"], params["from_region"], params["from_profile"], side_credentials("from")
        ),
        SideOptions("to", params["to_endpoint"], params["to_region"], params["to_profile"], side_credentials("to")),
    )
    threshold = params["multipart_threshold"]
    # A mapped object's single PUT carries its SHA-256; the transfer manager must not split it.
    destination_threshold = single_put_limit + 1 if mapper.mapped else threshold
    source = _open_store(source_location, sides.source, params, threshold=threshold)
    destination = _open_store(destination_location, sides.destination, params, threshold=destination_threshold)
    writes = not (params["dry_run"] or params["verify_only"])
    try:
        source.check(writable=False)
        destination.check(writable=writes)
        journal_path = params["journal"] or default_path(
            str(source_location), str(destination_location), params["layout"]
        )
        journal = Journal(journal_path, writable=writes)
        options = Options(
            parallel=params["parallel"],
            dry_run=params["dry_run"],
            verify_only=params["verify_only"],
            delete_source=params["delete_source"],
            memory_limit=min(16 * 1024 * 1024, threshold),
            single_put_limit=single_put_limit if mapper.mapped else 0,
            wait=params["wait_timeout"] if params["wait"] else None,
        )
        report = Report(
            str(source_location), str(destination_location), params["layout"], params["dry_run"], params["verify_only"]
        )
        filters = Filters(
            include=params["include"],
            exclude=params["exclude"],
            category=Category(params["category"]) if params["category"] else None,
            users=frozenset(params["user"]),
            since=params["since"],
        )
        with _progress(not params["json"] and sys.stderr.isatty()) as progress:
            migration = Migration(source, destination, mapper, filters, journal, options, report)
            if progress is not None:
                _attach(progress, migration)
            report = run_migration(migration)
        journal.close()
        return report
    finally:
        source.close()
        destination.close()


@click.command(name="migrate", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--from", "source", required=True, metavar="SRC", help="s3://bucket/prefix, file:///path or a folder.")
@click.option("--to", "destination", required=True, metavar="DST", help="s3://bucket/prefix, file:///path or a folder.")
@click.option("--from-endpoint", metavar="URL", help="S3-compatible endpoint of the source (MinIO); AWS when unset.")
@click.option("--to-endpoint", metavar="URL", help="S3-compatible endpoint of the destination.")
@click.option("--from-profile", metavar="NAME", help="AWS profile of the source (else UPVAULT_MIGRATE_FROM_* keys).")
@click.option("--to-profile", metavar="NAME", help="AWS profile of the destination (else UPVAULT_MIGRATE_TO_* keys).")
@click.option("--from-region", metavar="REGION", help="Region of the source bucket.")
@click.option("--to-region", metavar="REGION", help="Region of the destination bucket.")
@click.option(
    "--layout",
    type=click.Choice(["plain", "legacy"]),
    default="plain",
    show_default=True,
    help="plain: 1:1 copy. legacy: map <category>/<user>/<name> into Upvault's staging/ for validation.",
)
@click.option("--category", type=click.Choice([c.value for c in Category]), help="Only this category (legacy: the "
              "category of a per-category bucket's <user>/<name> keys).")  # fmt: skip
@click.option("--user", multiple=True, metavar="USER", help="Only this user's objects (repeatable).")
@click.option(
    "--user-map", type=click.Path(dir_okay=False, path_type=Path), help="JSON {legacy user: Upvault subject}."
)
@click.option("--include", multiple=True, metavar="GLOB", help="Only keys matching (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip keys matching (repeatable).")
@click.option("--since", metavar="WHEN", callback=lambda _c, _p, v: parse_since(v) if v else None,
              help="Only objects modified since an ISO date/time or an age (7d, 12h).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Print the plan (counts, bytes, what would be copied); change nothing.")
@click.option(
    "--verify-only", is_flag=True, help="Compare source and destination, copy nothing; exit 1 on any difference."
)
@click.option("--delete-source", is_flag=True, help="Delete each source object after its copy is verified.")
@click.option("--wait", is_flag=True, help="legacy: wait for the processor and report accepted/rejected files.")
@click.option("--wait-timeout", type=float, default=300.0, show_default=True, help="Seconds --wait waits at most.")
@click.option("--parallel", type=click.IntRange(1, 256), default=default_parallel, show_default="16 per core, <= 64",
              help="Objects copied at once.")  # fmt: skip
@click.option("--multipart-threshold", default="64MiB", show_default=True, callback=lambda _c, _p, v: parse_size(v),
              help="Larger objects go multipart through the transfer manager.")  # fmt: skip
@click.option("--part-size", default="16MiB", show_default=True, callback=lambda _c, _p, v: parse_size(v),
              help="Multipart part size.")  # fmt: skip
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), help="Journal file (default: per pair, "
              "under $XDG_STATE_HOME/upvault/migrate).")  # fmt: skip
@click.option("--temp-dir", type=click.Path(file_okay=False, path_type=Path), help="Where large objects are staged.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON report.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report on stdout (no progress bars).")
@click.pass_context
def migrate(ctx: click.Context, /, **params: Any) -> None:
    """Copy objects between a folder, MinIO and S3: verified, resumable, never touching the source."""
    params["json"] = params.pop("as_json")
    report_path = params.pop("report_path")
    try:
        report = execute(params)
    except MigrationError as exc:
        click.echo(f"upvault migrate: error: {exc}", err=True)
        ctx.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        click.echo("upvault migrate: interrupted; run the same command again to continue", err=True)
        ctx.exit(130)
    data = report.as_dict()
    if report_path is not None:
        report_path.write_text(json.dumps(data, indent=2) + "\n")
    if params["json"]:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(_summary(report))
    ctx.exit(0 if report.ok else EXIT_FAILED)


def main(argv: list[str] | None = None) -> int:
    """Run the command; return its exit code (``python -m migration``)."""
    try:
        # Without standalone mode click returns the code ``ctx.exit`` was given.
        code = migrate.main(args=argv, prog_name="upvault migrate", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        return 130
    return code if isinstance(code, int) else 0
