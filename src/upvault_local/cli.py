"""The ``upvault`` command: local stack, dev tokens, OpenAPI export."""

from __future__ import annotations

import argparse
import json
import sys

from upvault_local.settings import DevSettings


def _dev(_: argparse.Namespace) -> int:
    from upvault_local.devstack import run

    run(DevSettings())
    return 0


def _dev_token(args: argparse.Namespace) -> int:
    from upvault_local.dev_issuer import DevIssuer

    print(DevIssuer(DevSettings().state_dir).mint(args.user, ttl=args.ttl))
    return 0


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
    parser = argparse.ArgumentParser(prog="upvault", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="run the local stack in the foreground").set_defaults(func=_dev)
    token = commands.add_parser("dev-token", help="print a token the local stack accepts")
    token.add_argument("--user", required=True, help="the token's subject (user id)")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(func=_dev_token)
    commands.add_parser("openapi", help="print the OpenAPI document").set_defaults(func=_openapi)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
