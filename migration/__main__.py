"""``python -m migration``: the same command as ``upvault migrate``."""

from migration.cli import main

raise SystemExit(main())
