"""Build the runtime venv ahead of the tests: ``make test`` runs this beside ruff, import-linter and mypy.

The build (about 12-17 s from a cold uv cache) is mostly downloading and
unpacking, which fits beside mypy's one busy core; the runtime tests then find
the venv in ``.venv-runtime/`` (or wait on its lock while it is being built).
It never fails ``make test`` itself. Without a Python 3.12 it prints why; when
the build fails (no index, a timeout) it prints the failure. Either way the
runtime tests decide: they skip or, under CI, fail with the reason, while the
other tests still run, as before this step existed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.runtime.harness import find_runtime_python, runtime_venv


def main() -> int:
    python, tried = find_runtime_python()
    if python is None:
        print(f"runtime venv: no Python 3.12 found (tried {', '.join(tried) or 'nothing'}); the runtime tests say so")
        return 0
    try:
        built = runtime_venv(python)
    except (pytest.fail.Exception, subprocess.TimeoutExpired) as failed:  # run_checked's message, or the timeout
        print(f"runtime venv: not built ahead ({failed}); the runtime tests try again and report", file=sys.stderr)
        return 0
    print(f"runtime venv {built.described()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
