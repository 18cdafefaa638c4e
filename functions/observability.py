"""The Powertools logger, tracer and metrics every function uses: one of each, made here.

They are configured by Powertools' own environment variables, as in the Powertools examples:
``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE``, ``POWERTOOLS_LOG_LEVEL``,
``POWERTOOLS_TRACE_DISABLED``, ``POWERTOOLS_METRICS_DISABLED``. On Lambda the CDK function
helper sets them (``infra/functions.py``); locally the ``upvault`` command sets the same
values before it imports any function (``local.powertools_env.POWERTOOLS_ENVIRONMENT``), and the
tests do so in ``tests/conftest.py``. No constructor argument overrides them.

Powertools reads these variables when the objects are created, at import: that is the
library's design (and the cold start, on Lambda). Our own settings are not read here.

A Powertools ``Logger`` hides, on the root logger's handlers, the records of every stdlib
logger whose name contains its service name (it deduplicates its own child loggers that way).
Loggers of the local stack are therefore named ``local-stack.*``, never ``upvault.*``:
otherwise ``make dev`` would print none of its own lines.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
