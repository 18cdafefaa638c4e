"""Find the binaries that ``make tools`` builds into the tools cache.

``scripts/tools/*.sh`` install each tool into ``<cache>/<name>-<commit12>/`` where the cache is
``$UPVAULT_TOOLS_DIR``, else ``$XDG_CACHE_HOME/upvault/tools``, else ``~/.cache/upvault/tools``:
outside the clone, so a fresh clone (CI) reuses what an earlier run built. This module applies
the same rule, so Python and the shell scripts can never disagree on where a tool lives.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ToolNotInstalledError(RuntimeError):
    """A tool the local stack or the tests need is not in the tools cache."""


@dataclass(frozen=True)
class Tool:
    """A pinned tool: where ``scripts/tools/<script>.sh`` puts its binary."""

    name: str
    commit: str
    binary: str
    script: str

    @property
    def folder(self) -> str:
        """The cache sub-folder of this pin, ``<name>-<commit12>``."""
        return f"{self.name}-{self.commit[:12]}"


#: The pins of scripts/tools/*.sh (a test checks that both agree).
MINIO = Tool(name="minio", commit="7aac2a2c5b7c882e68c1ce017d8256be2feea27f", binary="minio", script="minio")
RIE = Tool(name="rie", commit="bef5c4ba774d", binary="aws-lambda-rie", script="rie")
TOOLS: dict[str, Tool] = {tool.name: tool for tool in (MINIO, RIE)}


def tools_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the tools cache folder, by the rule of ``scripts/tools/common.sh``."""
    env = os.environ if environ is None else environ
    if env.get("UPVAULT_TOOLS_DIR"):
        return Path(env["UPVAULT_TOOLS_DIR"])
    cache = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(cache) / "upvault" / "tools"


def tool_path(tool: Tool | str, environ: Mapping[str, str] | None = None) -> Path:
    """Return the path of a tool's binary, or raise :class:`ToolNotInstalledError` naming the fix.

    ``tool`` is a :class:`Tool` or the name of one of :data:`TOOLS` (``"minio"``, ``"rie"``).
    """
    spec = TOOLS[tool] if isinstance(tool, str) else tool
    path = tools_dir(environ) / spec.folder / spec.binary
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ToolNotInstalledError(
            f"{spec.binary} ({spec.name}@{spec.commit[:12]}) is not installed at {path}: "
            f"run `make tools` (or `scripts/install-tools.sh {spec.script}`); it needs Go and "
            "the Go module proxy, and caches the build outside the clone."
        )
    return path
