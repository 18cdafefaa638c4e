"""Build the Lambda dependencies layer from the pinned requirements.txt, without Docker.

Usage: ``python layers/dependencies/build.py OUTPUT_DIR [REQUIREMENTS_TXT]`` writes ``OUTPUT_DIR/python/...``
(the layout Lambda puts on ``sys.path``) and prints the unzipped size.

pip downloads manylinux aarch64 wheels for the Lambda runtime's Python, so the host's OS,
CPU and Python version do not matter and nothing is compiled. The CDK app runs this through
``ILocalBundling`` (infra/bundling.py); inside the Docker fallback image it runs unchanged.

What we leave out, and why:

* ``.pyc`` files (``--no-compile``): they would be compiled by the build host's Python, whose
  bytecode tag differs from the runtime's, so Lambda would ignore them anyway.
* botocore's models of services we never call. We ship our own pinned boto3/botocore rather
  than relying on the copy in the Lambda runtime: the code needs botocore >= 1.36
  (``request_checksum_calculation``), the runtime's copy changes without notice, and the
  tests run against the pinned version. The full botocore is ~30 MB, almost all of it
  service models; keeping the few we use makes it ~3 MB.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

PYTHON_VERSION = "3.13"
PLATFORM = "manylinux2014_aarch64"

#: botocore service models the functions may need: S3 (everything we do), KMS/STS (credentials
#: and keys), SQS (the processor's queue), CloudWatch/X-Ray (Powertools).
BOTOCORE_SERVICES = frozenset({"s3", "kms", "sts", "sqs", "cloudwatch", "xray"})
#: Package content that is never imported at run time.
JUNK_DIRS = frozenset({"__pycache__", "tests", "test"})


def install(target: Path, requirements: Path, platform: str = PLATFORM, python_version: str = PYTHON_VERSION) -> None:
    """pip-install the pinned requirements for Lambda's Python on arm64 (by default) into ``target``."""
    subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--no-cache-dir",
            "--platform",
            platform,
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
            "--upgrade",
            "--target",
            str(target),
            "-r",
            str(requirements),
        ],
        check=True,
    )


def _keep_only(directory: Path, names: frozenset[str]) -> None:
    """Delete every sub-directory of ``directory`` not named in ``names``."""
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.is_dir() and entry.name not in names:
                shutil.rmtree(entry)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def prune(site: Path) -> None:
    """Drop what the functions never load: unused SDK models, scripts, tests."""
    _keep_only(site / "botocore" / "data", BOTOCORE_SERVICES)
    _keep_only(site / "boto3" / "data", BOTOCORE_SERVICES)
    shutil.rmtree(site / "bin", ignore_errors=True)
    for path in sorted(site.rglob("*"), reverse=True):
        if path.is_dir() and path.name in JUNK_DIRS and "dist-info" not in str(path.parent):
            shutil.rmtree(path, ignore_errors=True)


def tree_size(path: Path) -> int:
    """Total bytes of the regular files under ``path`` (the layer's unzipped size)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def build(output: Path, requirements: Path, platform: str = PLATFORM, python_version: str = PYTHON_VERSION) -> int:
    """Build the layer from ``requirements`` into ``output`` and return its unzipped size in bytes.

    ``platform``/``python_version`` exist for the tests, which build the same layer for the
    host to import the packaged functions; Lambda always gets the defaults.
    """
    site = output / "python"
    install(site, requirements, platform, python_version)
    prune(site)
    return tree_size(output)


def main() -> None:
    """Command line: ``build.py OUTPUT_DIR [REQUIREMENTS_TXT] [--platform P --python-version V]``."""
    parser = argparse.ArgumentParser(description="Build the Upvault dependencies layer without Docker.")
    parser.add_argument("output", type=Path)
    # Default: the repository's lockfile, two levels up from layers/dependencies/.
    parser.add_argument(
        "requirements", type=Path, nargs="?", default=Path(__file__).resolve().parents[2] / "requirements.txt"
    )
    parser.add_argument("--platform", default=PLATFORM)
    parser.add_argument("--python-version", default=PYTHON_VERSION)
    args = parser.parse_args()
    size = build(args.output, args.requirements, args.platform, args.python_version)
    print(f"dependencies layer: {size / 1e6:.1f} MB unzipped")


if __name__ == "__main__":
    main()
