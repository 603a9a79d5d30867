"""Static checks of the infrastructure code: fmt, validate, checkov, hadolint, conventions."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import MODULES, REPO_ROOT, ROOT_MODULE, TERRAFORM_DIR, Terraform, copy_workspace

pytestmark = pytest.mark.infra

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(?P<id>[A-Z0-9_]+)(?P<rest>.*)")


def tf_files() -> list[Path]:
    return sorted(TERRAFORM_DIR.rglob("*.tf"))


def test_terraform_fmt_is_clean(terraform_binary: str) -> None:
    result = subprocess.run(
        [terraform_binary, "fmt", "-check", "-recursive", "-diff", "-no-color"],
        cwd=TERRAFORM_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull},
    )
    assert result.returncode == 0, f"run `make tf-fmt`:\n{result.stdout}{result.stderr}"


TERRAFORM_DIRS = [ROOT_MODULE, *(f"modules/{m}" for m in MODULES)]


@pytest.fixture(scope="module")
def validated(terraform: Terraform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """``init -backend=false`` + ``validate -json`` of the root and every module, two at a time.

    Runs in a temporary copy, so no .terraform folder or lock file lands in the repository.
    """
    workspace = copy_workspace(tmp_path_factory.mktemp("validate"))

    def validate(module: str) -> dict[str, Any]:
        directory = workspace / module
        terraform.run(directory, "init", "-backend=false", "-input=false", "-no-color")
        return dict(json.loads(terraform.run(directory, "validate", "-json", "-no-color", check=False).stdout))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(TERRAFORM_DIRS, pool.map(validate, TERRAFORM_DIRS), strict=True))


@pytest.mark.parametrize("module", TERRAFORM_DIRS)
def test_terraform_validate(validated: dict[str, dict[str, Any]], module: str) -> None:
    report = validated[module]
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)


def test_every_module_has_the_standard_files() -> None:
    for module in [TERRAFORM_DIR / ROOT_MODULE, *(TERRAFORM_DIR / "modules" / m for m in MODULES)]:
        names = {p.name for p in module.iterdir()}
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"} <= names, module


def _blocks(text: str, kind: str) -> dict[str, str]:
    """The bodies of top-level ``kind "name" { ... }`` blocks (brace matching; no strings with braces needed)."""
    found: dict[str, str] = {}
    for match in re.finditer(rf'^{kind} "([^"]+)" \{{', text, flags=re.MULTILINE):
        depth, index = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        found[match.group(1)] = text[match.end() : index - 1]
    return found


def test_every_variable_is_typed_and_described() -> None:
    for path in TERRAFORM_DIR.rglob("variables.tf"):
        for name, body in _blocks(path.read_text(), "variable").items():
            assert re.search(r"^\s+type\s+=", body, re.MULTILINE), f"{path}: variable {name} has no type"
            assert re.search(r'^\s+description\s+=\s+"\S', body, re.MULTILINE), f"{path}: {name} has no description"


def test_every_output_is_described() -> None:
    for path in TERRAFORM_DIR.rglob("outputs.tf"):
        for name, body in _blocks(path.read_text(), "output").items():
            assert re.search(r'^\s+description\s+=\s+"\S', body, re.MULTILINE), f"{path}: output {name}"


def test_vars_tfvars_names_the_deployment_and_leaves_credentials_to_the_standard_chain() -> None:
    """The per-deployment file sets exactly candidate_name and aws_profile; a profile would override AWS_PROFILE."""
    assignments = {}
    for line in (TERRAFORM_DIR / ROOT_MODULE / "vars.tfvars").read_text().splitlines():
        code = line.split("#", 1)[0].strip()
        if code:
            name, value = (part.strip() for part in code.split("=", 1))
            assignments[name] = value
    assert sorted(assignments) == ["aws_profile", "candidate_name"]
    assert assignments["aws_profile"] == "null"
    assert re.fullmatch(r'"[a-z0-9][a-z0-9-]{0,14}[a-z0-9]"', assignments["candidate_name"])


def test_no_emulator_or_mirror_settings_in_the_product() -> None:
    for path in tf_files():
        text = path.read_text()
        for needle in ("127.0.0.1", "localhost", "tf-plugins", "filesystem_mirror", "skip_credentials_validation"):
            assert needle not in text, f"{path} mentions {needle!r}: emulator settings belong in tests/infra only"
        assert "endpoints {" not in text, f"{path} overrides provider endpoints"


def test_every_checkov_skip_is_justified_inline() -> None:
    skips = 0
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if match:
                skips += 1
                reason = match.group("rest").lstrip(":").strip()
                assert match.group("rest").startswith(":") and len(reason) >= 20, (
                    f"{path}:{number}: a checkov skip needs ': <reason>' on the same line"
                )
    assert skips > 0  # the parser found the skips (a format change would make this test vacuous)


def test_checkov_passes(checkov_bin: str, tmp_path: Path) -> None:
    workspace = copy_workspace(tmp_path)
    result = subprocess.run(
        [
            checkov_bin,
            "--directory",
            str(workspace),
            "--framework",
            "terraform",
            "--skip-download",  # offline: local modules only, no registry, no platform
            "--output",
            "json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BC_SKIP_MAPPING": "TRUE", "LANG": "C.UTF-8"},
    )
    try:
        reports = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov printed no JSON (exit {result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    reports = reports if isinstance(reports, list) else [reports]
    terraform_reports = [r for r in reports if r.get("check_type") == "terraform"]
    assert terraform_reports, f"checkov scanned no Terraform: {result.stdout[-2000:]}"
    for report in terraform_reports:
        summary = report["summary"]
        failed = [
            f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range']}): {c['check_name']}"
            for c in report["results"]["failed_checks"]
        ]
        assert summary["failed"] == 0, "checkov failures:\n" + "\n".join(failed)
        assert summary["parsing_errors"] == 0, summary
        assert summary["passed"] > 50, summary  # it really scanned the modules
        for skipped in report["results"]["skipped_checks"]:
            assert (skipped.get("check_result", {}).get("suppress_comment") or "").strip(), skipped["check_id"]


def test_hadolint_finds_nothing(hadolint_bin: str) -> None:
    result = subprocess.run(
        [hadolint_bin, "--no-color", "--failure-threshold", "style", "Dockerfile"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_image_runs_the_handler_and_ships_only_the_package() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert 'CMD ["lambda_app.handler.lambda_handler"]' in dockerfile
    assert "requirements/lambda.txt" in dockerfile
    assert re.search(r"python:3\.12-arm64", dockerfile), "the base image must be the arm64 Lambda Python image"
    copied = re.findall(r"^COPY\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert sorted(copied) == ["lambda_app/", "queries/", "requirements/lambda.txt"]
    ignore = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if not line.startswith("#")]
    assert ignore[0] == "*", ".dockerignore must start from 'ignore everything' and allow-list"
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert allowed == {"requirements/lambda.txt", "lambda_app/", "queries/"}
    pins = [
        line
        for line in (REPO_ROOT / "requirements" / "lambda.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert pins and all(re.match(r"^[A-Za-z0-9_.\-\[\]]+==\S+$", line) for line in pins), pins


def test_image_cmd_is_a_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTPUT_BUCKET", "orders-output")  # the app is built at import: Lambda's INIT
    handler = importlib.import_module("lambda_app.handler")

    assert callable(handler.lambda_handler)
