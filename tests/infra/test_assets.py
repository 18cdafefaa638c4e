"""Packaging without Docker: the dependencies layer and code assets, and SAM-ready metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import bundling
from tests.infra.conftest import ROOT, Assembly
from tests.infra.support import Template, only, resources
from tests.support import layer_variant

LAYER_TARGET_BYTES = 25 * 1000 * 1000


def _asset_dir(assembly: Assembly, template: Template, type_: str, contains: str) -> Path:
    _, res = only(template, type_, contains)
    metadata: dict[str, Any] = res["Metadata"]
    # SAM reads these three keys to find the code of a CDK-synthesized function or layer.
    assert metadata["aws:asset:is-bundled"] is True
    assert metadata["aws:asset:property"] in {"Code", "Content"}
    path = assembly.outdir / metadata["aws:asset:path"]
    assert path.is_dir()
    return path


@pytest.fixture(scope="module")
def layer(assembly: Assembly, dev: Template) -> Path:
    """The bundled dependencies layer of the dev stack."""
    return _asset_dir(assembly, dev, "AWS::Lambda::LayerVersion", "DependenciesLayer")


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_layer_is_built_for_python_313_arm64_and_within_the_size_target(layer: Path, dev: Template) -> None:
    # Given the bundled layer
    site = layer / "python"
    # Then it holds the pinned runtime dependencies, with native code for CPython 3.13 on aarch64
    for package in ("fastapi", "mangum", "pydantic", "pydantic_settings", "aws_lambda_powertools", "boto3", "filetype"):
        assert (site / package).is_dir(), package
    (core,) = (site / "pydantic_core").glob("_pydantic_core.*.so")
    assert core.name.endswith("cpython-313-aarch64-linux-gnu.so")
    # And no bytecode from the build host, and under the 25 MB target unzipped
    assert not list(site.rglob("*.pyc"))
    assert _size(layer) <= LAYER_TARGET_BYTES, _size(layer)
    # And the layer declares the runtime and architecture it was built for
    layer_props = only(dev, "AWS::Lambda::LayerVersion")[1]["Properties"]
    assert layer_props["CompatibleRuntimes"] == ["python3.13"]
    assert layer_props["CompatibleArchitectures"] == ["arm64"]


def test_layer_ships_a_pinned_botocore_with_only_the_models_we_call(layer: Path) -> None:
    # Given the layer's botocore
    models = {p.name for p in (layer / "python" / "botocore" / "data").iterdir() if p.is_dir()}
    # Then only the allow-listed service models remain
    assert models == set(bundling_services())


def bundling_services() -> frozenset[str]:
    """The allow-list the layer build script keeps."""
    sys.path.insert(0, str(ROOT / "layers" / "dependencies"))
    try:
        import build  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    services: frozenset[str] = build.BOTOCORE_SERVICES
    return services


def test_trimmed_layer_still_presigns_with_botocore_at_least_1_36(layer: Path) -> None:
    # Given an interpreter that sees only the layer (no venv, no site-packages) and our core
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import importlib.util, boto3, botocore\n"
        "from botocore.config import Config\n"
        "assert tuple(int(p) for p in botocore.__version__.split('.')[:2]) >= (1, 36), botocore.__version__\n"
        "assert botocore.__file__.startswith(sys.argv[1]), botocore.__file__\n"
        "assert importlib.util.find_spec('jwt') is None  # token verification is API Gateway's job on AWS\n"
        "s3 = boto3.client('s3', region_name='eu-west-1', aws_access_key_id='a', aws_secret_access_key='b',\n"
        "                  config=Config(signature_version='s3v4', request_checksum_calculation='when_required'))\n"
        "url = s3.generate_presigned_url('put_object', Params={'Bucket': 'b', 'Key': 'staging/k'})\n"
        "assert 'X-Amz-Signature=' in url, url\n"
        "for service in ('kms', 'sqs', 'sts'): boto3.client(service, region_name='eu-west-1')\n"
        "print('ok')\n"
    )
    # When it presigns an S3 PUT (PyJWT is not in the layer: API Gateway verifies tokens on AWS)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(layer / "python"), str(ROOT / "src")],
        capture_output=True,
        text=True,
        check=False,
    )
    # Then everything works without the unused service models
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_layer_is_cached_per_lockfile_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, assembly: Assembly) -> None:
    # Given the layer built for the current lockfile
    # Then its build is cached under the lockfile's hash, so an unchanged lockfile never rebuilds
    assert (bundling.LAYER_CACHE / bundling.layer_hash() / "python" / "fastapi").is_dir()
    # And a different lockfile gives a different hash (and so a rebuild)
    fake_root = tmp_path
    (fake_root / "layers" / "dependencies").mkdir(parents=True)
    (fake_root / "layers" / "dependencies" / "build.py").write_bytes((bundling.LAYER_DIR / "build.py").read_bytes())
    (fake_root / "requirements.txt").write_text((ROOT / "requirements.txt").read_text() + "six==1.17.0\n")
    current = bundling.layer_hash()
    monkeypatch.setattr(bundling, "ROOT", fake_root)
    monkeypatch.setattr(bundling, "LAYER_DIR", fake_root / "layers" / "dependencies")
    assert bundling.layer_hash() != current


def test_all_environments_share_one_layer_asset(dev: Template, staging: Template, prod: Template) -> None:
    # Given the layer of each environment
    paths = {
        Path(only(t, "AWS::Lambda::LayerVersion")[1]["Metadata"]["aws:asset:path"]).name for t in (dev, staging, prod)
    }
    # Then it is one asset (same lockfile -> same hash -> built and uploaded once)
    assert len(paths) == 1


@pytest.mark.parametrize(("function", "package"), [("ApiFunction", "api"), ("ProcessingFunction", "processor")])
def test_function_code_holds_only_our_code(assembly: Assembly, dev: Template, function: str, package: str) -> None:
    # Given a function's bundled code asset (what SAM and Lambda load)
    code = _asset_dir(assembly, dev, "AWS::Lambda::Function", function)
    # Then it holds the core, the functions package (with the modules every function shares) and
    # its own handler package, nothing else
    assert sorted(p.name for p in code.iterdir()) == ["functions", "upvault"]
    assert sorted(p.name for p in (code / "functions").iterdir()) == sorted(
        ["__init__.py", "observability.py", package]
    )
    assert (code / "functions" / package / "handler.py").is_file()
    assert (code / "upvault" / "settings.py").is_file()
    assert not list(code.rglob("__pycache__"))
    # And third-party packages come only from the layer
    assert not (code / "fastapi").exists() and not (code / "boto3").exists()


def test_sam_can_locate_every_function(dev: Template) -> None:
    # Given the dev template SAM would read (`sam local invoke -t cdk.out/Upvault-dev.template.json ...`)
    for name, fn in resources(dev, "AWS::Lambda::Function").items():
        if name.startswith(("ApiFunction", "ProcessingFunction")):
            # Then each of our functions carries the asset metadata and the layer reference SAM resolves
            assert {"aws:asset:path", "aws:asset:property", "aws:cdk:path"} <= set(fn["Metadata"]), name
            assert fn["Properties"]["Layers"]


#: What a local run must be able to point the functions at (a MinIO instead of S3).
SAM_LOCAL_VARIABLES = (
    "UPVAULT_ENDPOINT_URL",
    "UPVAULT_PUBLIC_ENDPOINT_URL",
    "UPVAULT_ACCESS_KEY_ID",
    "UPVAULT_SECRET_ACCESS_KEY",
)


def test_functions_declare_the_storage_variables_sam_local_can_set(dev: Template) -> None:
    # Given our functions in the dev template (SAM passes a function only the variables its
    # template declares: `--env-vars` cannot add one)
    for name, fn in resources(dev, "AWS::Lambda::Function").items():
        if name.startswith(("ApiFunction", "ProcessingFunction")):
            variables = fn["Properties"]["Environment"]["Variables"]
            # Then each declares the storage endpoint and keys, empty: unset on AWS (Settings
            # treats an empty value as unset), settable by `sam local --env-vars`
            declared = {key: variables.get(key) for key in SAM_LOCAL_VARIABLES}
            assert declared == dict.fromkeys(SAM_LOCAL_VARIABLES, ""), name


def test_event_fixtures_for_sam_local_exist() -> None:
    # Given the events docs/infrastructure.md tells users to pass to `sam local invoke -e`
    docs = (ROOT / "docs" / "infrastructure.md").read_text()
    for event in ("events/apigw-http-api-proxy.json", "events/sqs-receive-message.json"):
        # Then they are documented and shipped
        assert event in docs
        assert (ROOT / event).is_file()


def test_sam_env_file_supplies_every_value_cloudformation_resolves_at_deploy(dev: Template) -> None:
    # Given the variables of our functions whose values are CloudFormation references
    # (SAM cannot resolve a bucket name or a user pool id locally)
    env_file = json.loads((ROOT / "events" / "sam-env.json").read_text())["Parameters"]
    for name, fn in resources(dev, "AWS::Lambda::Function").items():
        if name.startswith(("ApiFunction", "ProcessingFunction")):
            unresolved = {k for k, v in fn["Properties"]["Environment"]["Variables"].items() if not isinstance(v, str)}
            # Then events/sam-env.json supplies each of them
            assert unresolved <= set(env_file), (name, unresolved - set(env_file))


def test_sam_env_file_names_only_variables_our_functions_declare(dev: Template) -> None:
    # Given the variables our functions declare (SAM ignores an --env-vars entry for any other)
    declared: set[str] = set()
    for name, fn in resources(dev, "AWS::Lambda::Function").items():
        if name.startswith(("ApiFunction", "ProcessingFunction")):
            declared |= set(fn["Properties"]["Environment"]["Variables"])
    # Then events/sam-env.json sets nothing else: a value there that no function gets is a lie
    env_file = json.loads((ROOT / "events" / "sam-env.json").read_text())["Parameters"]
    assert set(env_file) <= declared, set(env_file) - declared


INVOKE = """
import importlib, json, sys
code, layer, module, event_path = sys.argv[1:5]
sys.path[:0] = [code, layer]          # Lambda's order: /var/task, then /opt/python
handler = importlib.import_module(module).handler
if event_path == "-":
    print(json.dumps({"callable": callable(handler)}))
    sys.exit()

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "upvault-api", 1024, "request-1"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:upvault-api"
    def get_remaining_time_in_millis(self):
        return 10_000

event = json.load(open(event_path))
event.update(rawPath="/v1/openapi.json", rawQueryString="", routeKey="GET /v1/openapi.json", cookies=[],
             queryStringParameters={}, body=None, isBase64Encoded=False)
event["requestContext"]["http"].update(method="GET", path="/v1/openapi.json")
print(json.dumps(handler(event, Context())))
"""


@pytest.fixture(scope="module")
def host_layer() -> Path:
    """The same layer (same lockfile, same pruning) built for this machine's Python, cached per hash.

    Lambda's arm64 wheels cannot load here; the host build proves the *package set* is enough.
    """
    tag = f"{sys.version_info.major}.{sys.version_info.minor}"
    return layer_variant("manylinux2014_x86_64", tag) / "python"


def _run_packaged(code: Path, layer: Path, module: str, event: str, template: Template, function: str) -> Any:
    """Run a handler in an interpreter that sees only the function's asset and the layer."""
    variables = only(template, "AWS::Lambda::Function", function)[1]["Properties"]["Environment"]["Variables"]
    environ = {key: value for key, value in variables.items() if isinstance(value, str)}
    environ |= json.loads((ROOT / "events" / "sam-env.json").read_text())["Parameters"]
    environ |= {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", INVOKE, str(code), str(layer), module, event],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_packaged_api_function_answers_from_its_asset_and_the_layer_alone(
    assembly: Assembly, dev: Template, host_layer: Path
) -> None:
    # Given the API function's code asset and the dependencies layer, nothing else on sys.path
    code = _asset_dir(assembly, dev, "AWS::Lambda::Function", "ApiFunction")
    # When the Lambda handler string's module is imported and invoked with an HTTP API 2.0 event
    response = _run_packaged(
        code,
        host_layer,
        "functions.api.handler",
        str(ROOT / "events" / "apigw-http-api-proxy.json"),
        dev,
        "ApiFunction",
    )
    # Then the public OpenAPI route answers 200 with the document
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["openapi"].startswith("3.")


def test_packaged_processor_function_imports_from_its_asset_and_the_layer_alone(
    assembly: Assembly, dev: Template, host_layer: Path
) -> None:
    # Given the processor's code asset and the dependencies layer, nothing else on sys.path
    code = _asset_dir(assembly, dev, "AWS::Lambda::Function", "ProcessingFunction")
    # When the module of the handler string is imported (cold start)
    # Then its handler is there and callable
    assert _run_packaged(code, host_layer, "functions.processor.handler", "-", dev, "ProcessingFunction") == {
        "callable": True
    }


@pytest.mark.parametrize("function", ["api", "processor"])
def test_docker_fallback_lays_out_code_like_the_local_bundler(tmp_path: Path, function: str) -> None:
    # Given the local bundler's output and the Docker fallback's copy command run on this machine
    local, fallback = tmp_path / "local", tmp_path / "fallback"
    local.mkdir()
    fallback.mkdir()
    bundling.FunctionCodeBundler(function).try_bundle(str(local), None)  # type: ignore[arg-type]
    # (a stray bytecode cache in the sources must not reach either asset)
    (ROOT / "functions" / function / "__pycache__").mkdir(exist_ok=True)
    subprocess.run(["bash", "-c", bundling.docker_copy_command(function, str(ROOT), str(fallback))], check=True)

    # Then both produce exactly the same files
    def tree(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert tree(local) == tree(fallback)
    assert "functions/__init__.py" in tree(local)
