"""``upvault migrate``: copy objects between a local folder, MinIO and S3, verified and resumable.

An operator tool, not Lambda code: it may use boto3's transfer manager and rich, and it reads
Upvault's core (key layout, object metadata, upload rules) to map a legacy layout into
Upvault's. The core never imports it.

Modules: :mod:`~migration.locations` (what ``--from``/``--to`` name), :mod:`~migration.stores`
(listing, reading and writing each kind of location), :mod:`~migration.mapping` (plain 1:1 or
legacy → Upvault keys, filters), :mod:`~migration.journal` (what earlier runs copied),
:mod:`~migration.engine` (plan, copy, verify, report) and :mod:`~migration.cli` (the command).
"""
