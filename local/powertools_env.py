"""Powertools' environment for local runs: a module of its own so that the ``upvault`` command
sets it without importing the local stack's settings (pydantic-settings) on every client command."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

#: Powertools' own configuration (``functions.observability``): what the CDK function helper
#: sets on Lambda (``infra/functions.py``; a test checks they agree), and metrics and traces
#: off, as they have nowhere to go locally.
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "upvault",
    "POWERTOOLS_METRICS_NAMESPACE": "Upvault",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def apply_powertools_environment(environ: MutableMapping[str, str] = os.environ) -> None:
    """Give Powertools its variables, where not set already, before a function module is imported.

    Powertools reads them when ``functions.observability`` creates its objects, so the
    ``upvault`` command calls this first thing.
    """
    for name, value in POWERTOOLS_ENVIRONMENT.items():
        environ.setdefault(name, value)
