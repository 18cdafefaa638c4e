"""``python -m upvault_client``: the client's commands without the local-stack ones."""

from upvault_client.cli import main

raise SystemExit(main())
