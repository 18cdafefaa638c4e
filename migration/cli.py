"""The ``migrate`` command (``upvault migrate``, or ``python -m migration``).

Exit codes: 0 everything copied/skipped and verified; 1 some object failed, was rejected, or the
run stopped early (destination gone, disk full, Ctrl-C: rerun to continue); 2 the command could
not start (bad URL or option, missing credentials, missing bucket).
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from migration.errors import MigrationError
from upvault.models import Category

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
    # Imported here: boto3 and awscrt load only when a migration runs, not for `upvault --help`.
    from migration.command import execute, summary

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
    # One line of JSON: with an indent Python's encoder falls back to pure Python, which took
    # several percent of a 10,000-object run's CPU. `jq .` indents it for people.
    text = json.dumps(report.as_dict())
    if report_path is not None:
        report_path.write_text(text + "\n")
    if params["json"]:
        click.echo(text)
    else:
        click.echo(summary(report))
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
