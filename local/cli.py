"""The ``upvault`` command: local stack, dev tokens, dead letters, OpenAPI export, the client's
commands (upload, ls, get, info, rm, restore, login) from ``upvault_client.cli``, and ``migrate``
from ``migration.cli``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

import click

from local.powertools_env import apply_powertools_environment
from migration.cli import migrate as migrate_command
from upvault_client import cli as client_commands

if TYPE_CHECKING:
    from local.event_bridge import DeadLetterStore
    from local.settings import DevSettings

# The local stack's modules (its settings, the event bridge) are imported by the commands that
# use them: the client commands (upload, ls, ...) start without them.


def _dev(_: argparse.Namespace) -> int:
    from local.devstack import run
    from local.settings import DevSettings

    run(DevSettings())
    return 0


def _dev_token(args: argparse.Namespace) -> int:
    from local.dev_issuer import DevIssuer
    from local.settings import DevSettings

    print(DevIssuer(DevSettings().state_dir).mint(args.user, ttl=args.ttl))
    return 0


def _dead_letters() -> tuple[DevSettings, DeadLetterStore]:
    from local.devstack import DEAD_LETTERS_DIR
    from local.event_bridge import DeadLetterStore
    from local.settings import DevSettings

    dev = DevSettings()
    return dev, DeadLetterStore(dev.state_dir / DEAD_LETTERS_DIR)


def _dlq_list(args: argparse.Namespace) -> int:
    _, store = _dead_letters()
    letters = store.list()
    if args.json:
        json.dump(
            [
                {"id": d.id, "keys": d.keys, "reason": d.reason, "attempts": d.attempts, "failed_at": d.failed_at}
                for d in letters
            ],
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return 0
    if not letters:
        print("no dead letters")
    for letter in letters:
        print(
            f"{letter.id}  {letter.failed_at}  attempts={letter.attempts}  {', '.join(letter.keys) or '-'}\n"
            f"    {letter.reason}"
        )
    return 0


def _dlq_redrive(args: argparse.Namespace) -> int:
    from local.devstack import StackError, stack_processor
    from local.event_bridge import EventDelivery

    dev, store = _dead_letters()
    try:
        handler = stack_processor(dev)
    except StackError as exc:
        print(f"upvault dlq redrive: {exc}", file=sys.stderr)
        return 2
    result = store.redrive(EventDelivery(handler, attempts=args.attempts).deliver, ids=args.id or None)
    for letter_id in result.delivered:
        print(f"redriven  {letter_id}")
    for letter_id in result.failed:
        print(f"failed    {letter_id} (kept)", file=sys.stderr)
    print(f"{len(result.delivered)} redriven, {len(result.failed)} failed")
    return 1 if result.failed else 0


def _openapi(_: argparse.Namespace) -> int:
    from functions.api.app import create_app
    from upvault.settings import Settings

    # The document does not depend on the deployment; no network call happens here.
    app = create_app(Settings(bucket="openapi-example"))
    json.dump(app.openapi(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


# The commands parse with Click (the client's commands use it too) and hand the handlers above
# the same namespace argparse used to build, so those stay as they were.
@click.group(
    name="upvault",
    help="Upvault: the local stack (dev, dev-token, dlq, openapi), the client (upload, ls, get, info, rm, restore,"
    " login) and storage migration (migrate).",
)
def upvault() -> None:
    """The ``upvault`` console script."""


@upvault.command("dev", help="run the local stack in the foreground")
def _dev_command() -> int:
    return _dev(argparse.Namespace())


@upvault.command("dev-token", help="print a token the local stack accepts")
@click.option("--user", required=True, help="the token's subject (user id)")
@click.option("--ttl", type=int, default=12 * 3600, show_default=True, help="lifetime in seconds")
def _dev_token_command(user: str, ttl: int) -> int:
    return _dev_token(argparse.Namespace(user=user, ttl=ttl))


@upvault.group("dlq", help="events the processor kept failing on (local dead-letter store)")
def _dlq_group() -> None:
    pass


@_dlq_group.command("list", help="show dead letters")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def _dlq_list_command(as_json: bool) -> int:
    return _dlq_list(argparse.Namespace(json=as_json))


@_dlq_group.command("redrive", help="deliver dead letters to the processor again")
@click.option("--id", "ids", multiple=True, help="only this dead letter (repeatable); default: all")
@click.option("--attempts", type=int, default=3, show_default=True, help="tries per event before it stays dead")
def _dlq_redrive_command(ids: tuple[str, ...], attempts: int) -> int:
    return _dlq_redrive(argparse.Namespace(id=list(ids), attempts=attempts))


@upvault.command("openapi", help="print the OpenAPI document")
def _openapi_command() -> int:
    return _openapi(argparse.Namespace())


for _command in client_commands.COMMANDS:
    upvault.add_command(_command)
upvault.add_command(migrate_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``upvault`` console script."""
    apply_powertools_environment()  # Powertools reads it when a function module is imported
    return client_commands.run(upvault, argv)


if __name__ == "__main__":
    raise SystemExit(main())
