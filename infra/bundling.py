"""Docker-free asset bundling for the Lambda code and the dependencies layer.

CDK calls :meth:`try_bundle` before it would start Docker; returning ``True`` means the asset
was built locally. Docker bundling (a SAM build image running the same steps) remains the
fallback only where the local step is impossible.

Asset hashes are custom and computed from exactly the inputs of each asset, so CDK never
fingerprints the whole repository and an unchanged input never rebuilds or re-uploads.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, DockerVolume, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parents[1]
LAYER_DIR = ROOT / "layers" / "dependencies"
LAYER_CACHE = LAYER_DIR / "build"
BUILD_IMAGE = "public.ecr.aws/sam/build-python3.13"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


def _hash_files(paths: Iterable[Path], salt: str = "") -> str:
    """SHA-256 over the relative names and contents of ``paths`` (files or directory trees)."""
    digest = hashlib.sha256(salt.encode())
    for top in paths:
        files = sorted(top.rglob("*")) if top.is_dir() else [top]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts and file.suffix not in {".pyc", ".pyo"}:
                digest.update(str(file.relative_to(ROOT)).encode() + b"\0")
                digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def layer_hash() -> str:
    """Hash of everything that shapes the dependencies layer: the lockfile and the build script."""
    return _hash_files([ROOT / "requirements.txt", LAYER_DIR / "build.py"], salt="layer-v1")


def function_sources(function: str) -> list[Path]:
    """The only paths a function's code asset holds: the core, the modules every function shares
    (``functions/*.py``: the package root and ``observability.py``), its handler's package."""
    shared = sorted((ROOT / "functions").glob("*.py"))
    return [ROOT / "src" / "upvault", *shared, ROOT / "functions" / function]


@jsii.implements(ILocalBundling)
class LayerBundler:
    """Builds the layer with ``layers/dependencies/build.py`` and caches it per lockfile hash."""

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        """Copy the cached build for the current hash into ``output_dir``, building it first if needed."""
        cached = LAYER_CACHE / layer_hash()
        if not cached.is_dir():
            LAYER_CACHE.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=LAYER_CACHE, prefix=".building-") as tmp:
                subprocess.run(  # noqa: S603 - our own script, fixed arguments
                    [sys.executable, str(LAYER_DIR / "build.py"), tmp, str(ROOT / "requirements.txt")],
                    check=True,
                )
                # rename is atomic: a killed build never leaves a half-filled cache entry, and
                # when two synths race, the loser keeps the winner's identical build.
                try:
                    Path(tmp).rename(cached)
                except OSError:
                    if not cached.is_dir():
                        raise
                else:
                    Path(tmp).mkdir()  # TemporaryDirectory removes this (now empty) path on exit
        shutil.copytree(cached, output_dir, dirs_exist_ok=True)
        return True


@jsii.implements(ILocalBundling)
class FunctionCodeBundler:
    """Copies our own code for one function: ``upvault/``, ``functions/*.py``, ``functions/<name>/``."""

    def __init__(self, function: str) -> None:
        self.function = function

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        """Lay the function's sources out as Lambda imports them (handler ``functions.<name>.handler``)."""
        out = Path(output_dir)
        core, *shared, handler_dir = function_sources(self.function)
        shutil.copytree(core, out / "upvault", ignore=_IGNORED, dirs_exist_ok=True)
        (out / "functions").mkdir(exist_ok=True)
        for module in shared:
            shutil.copy2(module, out / "functions" / module.name)
        shutil.copytree(handler_dir, out / "functions" / self.function, ignore=_IGNORED, dirs_exist_ok=True)
        return True


def _local(bundler: LayerBundler | FunctionCodeBundler) -> ILocalBundling:
    """Type our bundlers as ``ILocalBundling``.

    jsii calls ``try_bundle(output_dir, options)`` with the options as one positional struct,
    while the generated Python stub spells them as keyword arguments; we implement what runs.
    """
    return cast(ILocalBundling, bundler)


def dependencies_layer_code() -> lambda_.Code:
    """Asset code of the dependencies layer, bundled locally (Docker only as a fallback)."""
    return lambda_.Code.from_asset(
        str(LAYER_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=layer_hash(),
        exclude=["build"],
        bundling=BundlingOptions(
            image=DockerImage.from_registry(BUILD_IMAGE),
            local=_local(LayerBundler()),
            # The fallback needs requirements.txt, which lives at the root, not in the asset dir.
            volumes=[DockerVolume(host_path=str(ROOT / "requirements.txt"), container_path="/requirements.txt")],
            command=["python", "/asset-input/build.py", "/asset-output", "/requirements.txt"],
        ),
    )


def docker_copy_command(function: str, source: str = "/asset-input", output: str = "/asset-output") -> str:
    """The Docker fallback of :class:`FunctionCodeBundler`: the same layout with ``cp``."""
    return (
        f"cp -r {source}/src/upvault {output}/ && mkdir -p {output}/functions && "
        f"cp {source}/functions/*.py {output}/functions/ && "
        f"cp -r {source}/functions/{function} {output}/functions/ && "
        f"find {output} -name __pycache__ -type d -prune -exec rm -rf {{}} +"
    )


def function_code(function: str) -> lambda_.Code:
    """Asset code of one function: only our own packages, hashed from exactly those files."""
    return lambda_.Code.from_asset(
        str(ROOT),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=_hash_files(function_sources(function), salt=f"function-{function}"),
        bundling=BundlingOptions(
            image=DockerImage.from_registry(BUILD_IMAGE),
            local=_local(FunctionCodeBundler(function)),
            command=["bash", "-c", docker_copy_command(function)],
        ),
    )
