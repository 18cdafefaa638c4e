"""Running one migration from the command's options: stores, mapper, filters, journal, report.

Kept apart from :mod:`migration.cli` so that loading the ``upvault`` command (and its
``--help``) does not import boto3 and awscrt; they load when ``migrate`` actually runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migration.engine import Migration, Options, Report, run_migration
from migration.errors import MigrationError
from migration.journal import Journal, default_path
from migration.locations import Location, SideOptions, parse_location, side_credentials
from migration.mapping import Filters, LegacyMapper, Mapper, PlainMapper
from migration.stores import LocalStore, S3Store, Store
from upvault.models import Category
from upvault.settings import MAX_SINGLE_PUT, SettingsError, load_settings

if TYPE_CHECKING:
    from rich.progress import Progress


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


def summary(report: Report) -> str:
    """The human-readable end of a run: counts, rates, failures, rejections, how to continue."""
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
        try:
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
                str(source_location),
                str(destination_location),
                params["layout"],
                params["dry_run"],
                params["verify_only"],
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
            return report
        finally:
            journal.close()
    finally:
        source.close()
        destination.close()
