"""The ``upvault`` command: local stack, dev tokens, dead letters, OpenAPI export."""

from __future__ import annotations

import argparse
import json
import sys

from local.event_bridge import DeadLetterStore
from local.settings import DevSettings, apply_powertools_environment


def _dev(_: argparse.Namespace) -> int:
    from local.devstack import run

    run(DevSettings())
    return 0


def _dev_token(args: argparse.Namespace) -> int:
    from local.dev_issuer import DevIssuer

    print(DevIssuer(DevSettings().state_dir).mint(args.user, ttl=args.ttl))
    return 0


def _dead_letters() -> tuple[DevSettings, DeadLetterStore]:
    from local.devstack import DEAD_LETTERS_DIR

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``upvault`` console script."""
    apply_powertools_environment()  # Powertools reads it when a function module is imported
    parser = argparse.ArgumentParser(prog="upvault", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="run the local stack in the foreground").set_defaults(func=_dev)
    token = commands.add_parser("dev-token", help="print a token the local stack accepts")
    token.add_argument("--user", required=True, help="the token's subject (user id)")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(func=_dev_token)
    dlq = commands.add_parser("dlq", help="events the processor kept failing on (local dead-letter store)")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_commands.add_parser("list", help="show dead letters")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_dlq_list)
    redrive = dlq_commands.add_parser("redrive", help="deliver dead letters to the processor again")
    redrive.add_argument("--id", action="append", help="only this dead letter (repeatable); default: all")
    redrive.add_argument("--attempts", type=int, default=3, help="tries per event before it stays dead")
    redrive.set_defaults(func=_dlq_redrive)
    commands.add_parser("openapi", help="print the OpenAPI document").set_defaults(func=_openapi)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
