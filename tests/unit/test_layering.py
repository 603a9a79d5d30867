"""The image holds only the runtime: what the Dockerfile copies, and that it runs with the tooling unimportable."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "lambda_app"
# Everything a developer has that the image does not.
DEV_ONLY = ("orders_tools", "moto", "duckdb", "sqlglot", "rich", "tqdm", "pytest", "hypothesis", "polars", "tests")


def _copied() -> list[str]:
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            sources.extend(line.split()[1:-1])
    return sources


def test_the_dockerfile_copies_only_the_runtime_package_the_sql_and_the_pins() -> None:
    assert sorted(_copied()) == ["lambda_app/", "queries/", "requirements/lambda.txt"]
    allowed = [line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert sorted(allowed) == ["lambda_app/", "queries/", "requirements/lambda.txt"]


def test_the_runtime_imports_only_the_standard_library_and_the_images_pins() -> None:
    pinned = {
        re.split(r"[=<>\[]", line)[0].strip().lower().replace("_", "-")
        for line in (ROOT / "requirements" / "lambda.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    distributions = packages_distributions()
    outside: set[str] = set()
    for path in RUNTIME.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "lambda_app":
                    continue
                dists = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                if not dists & pinned:
                    outside.add(f"{path.name}: {name}")
    assert not outside, sorted(outside)


def test_the_handler_imports_and_answers_with_every_dev_package_unimportable() -> None:
    code = f"""
import importlib.abc, json, os, sys, time
BLOCKED = {DEV_ONLY!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(name + " is not in the image")
        return None
sys.meta_path.insert(0, Block())
os.environ.update(OUTPUT_BUCKET="orders-output", AWS_DEFAULT_REGION="us-east-1")
started = time.perf_counter()
from lambda_app.handler import lambda_handler
init = time.perf_counter() - started
class Context:
    function_name = "f"; memory_limit_in_mb = 1024; invoked_function_arn = "arn:aws:lambda:us-east-1:1:function:f"
    aws_request_id = "r"
answer = lambda_handler({{"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}}, Context())
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps({{"answer": answer, "init": init, "loaded": loaded}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    assert report["answer"]["skipped"] == [{"key": None, "reason": "not_an_object_event"}]
