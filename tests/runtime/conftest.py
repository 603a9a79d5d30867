"""Fixtures of the runtime tests: a Python 3.12 and the venv of the image's pins (cached), both once per session.

No Python 3.12 on the machine skips these tests with the reason; under CI
(``CI=true`` or ``REQUIRE_INFRA_CHECKS=1``) that is a failure instead.
"""

from __future__ import annotations

import pytest

from tests.runtime import harness
from tests.runtime.harness import RuntimeVenv, find_runtime_python, required, runtime_venv


@pytest.fixture(scope="session")
def runtime_python() -> str:
    """A Python 3.12 interpreter: ``$RUNTIME_PYTHON``, ``python3.12`` on PATH, or pyenv's."""
    python, tried = find_runtime_python()
    if python is None:
        required(
            "no Python 3.12 (the Lambda image's version) found: set RUNTIME_PYTHON to one, or install it"
            f" (e.g. `pyenv install 3.12`); tried: {', '.join(tried) or 'python3.12 on PATH, ~/.pyenv/versions/3.12.*'}"
        )
    return python


@pytest.fixture(scope="session")
def venv(runtime_python: str) -> RuntimeVenv:
    """requirements/lambda.txt + requirements/runtime-test.txt on Python 3.12, nothing else (``.venv-runtime/``)."""
    built = runtime_venv(runtime_python)
    harness.REPORT.append(f"venv {built.described()}")
    return built


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the runtime tests measured (INIT time, invocation times, the venv's build)."""
    if harness.REPORT:
        terminalreporter.section("runtime (Python 3.12, awslambdaric)")
        for entry in harness.REPORT:
            terminalreporter.write_line(entry)
