"""The function as the image runs it, on this machine: Python 3.12, the image's pins only, a read-only task root.

* :func:`find_runtime_python` finds a Python 3.12 (the base image's version).
* :func:`runtime_venv` builds, once per content of the requirement files, a venv
  with ``requirements/lambda.txt`` and ``requirements/runtime-test.txt``
  (``awslambdaric``) and nothing else: ``--no-deps`` (uv's installer when the
  test venv has it, pip's otherwise), then ``pip check``. It is
  cached under ``.venv-runtime/`` and rebuilt when a pin changes.
* :func:`make_task_root` copies what the Dockerfile copies into a task root,
  compiles it as the Dockerfile does and makes it read-only.
* :func:`start_function` runs ``python -m awslambdaric lambda_app.handler.lambda_handler``
  in that task root with Lambda's environment, against a loopback Runtime API.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from packaging.utils import canonicalize_name

from tests.runtime.runtime_api import Outcome, RuntimeApi, RuntimeApiError

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_REQUIREMENTS = REPO_ROOT / "requirements" / "lambda.txt"
RUNTIME_REQUIREMENTS = REPO_ROOT / "requirements" / "runtime-test.txt"
WRITE_AUDIT = Path(__file__).with_name("write_audit.py")
VENV_CACHE = REPO_ROOT / ".venv-runtime"
DOCKERFILE = REPO_ROOT / "Dockerfile"

PYTHON = (3, 12)  # the base image's: public.ecr.aws/lambda/python:3.12-arm64 (test_pins.py checks the Dockerfile)
HANDLER = "lambda_app.handler.lambda_handler"  # the Dockerfile's CMD
# What the Dockerfile copies into $LAMBDA_TASK_ROOT (tests/unit/test_layering.py pins the COPY lines).
TASK_ROOT_CONTENT = ("lambda_app", "queries")
# The Dockerfile compiles the package at build time (the task root is read-only when the function runs);
# test_pins.py checks the Dockerfile has this line, make_task_root runs the same arguments.
DOCKERFILE_COMPILE = 'RUN python -m compileall -q --invalidation-mode checked-hash "${LAMBDA_TASK_ROOT}/lambda_app"'
COMPILE_ARGS = tuple(shlex.split(DOCKERFILE_COMPILE)[2:-1])  # -m compileall ... without RUN python and the path
# pip settings kept from the environment; the rest of this machine's pip configuration (extra indexes,
# find-links, constraints) is left out, so pip resolves from the index the image's build uses.
_PIP_ENV_KEPT = (
    "PIP_INDEX_URL",
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_RETRIES",
    "PIP_TRUSTED_HOST",
)

# Timings and counts the tests measured, printed at the end of the run (conftest.py's terminal summary).
REPORT: list[str] = []


def required(reason: str) -> NoReturn:
    """Skip for what this machine lacks; fail instead under CI (``CI=true`` or ``REQUIRE_INFRA_CHECKS=1``)."""
    if os.environ.get("CI", "").lower() in {"true", "1"} or os.environ.get("REQUIRE_INFRA_CHECKS") == "1":
        pytest.fail(f"{reason} (required under CI: CI=true or REQUIRE_INFRA_CHECKS=1)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- Python 3.12


def _version_of(python: str) -> tuple[int, int] | None:
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    if result.returncode != 0:
        return None  # a pyenv shim of a version that is installed but not selected, say
    major, minor = result.stdout.split()
    return int(major), int(minor)


def find_runtime_python() -> tuple[str | None, list[str]]:
    """A Python 3.12 interpreter, and the candidates tried.

    ``$RUNTIME_PYTHON`` if set; else ``python3.12`` on PATH if it runs; else the newest
    ``$PYENV_ROOT/versions/3.12.*`` (pyenv installs it there; its shim runs only when selected).
    """
    wanted = "python{}.{}".format(*PYTHON)
    explicit = os.environ.get("RUNTIME_PYTHON", "").strip()
    candidates = [explicit] if explicit else []
    if not explicit:
        on_path = shutil.which(wanted)
        if on_path:
            candidates.append(on_path)
        pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
        versions = sorted(
            (pyenv_root / "versions").glob("{}.{}.*".format(*PYTHON)),
            key=lambda p: [int(x) if x.isdigit() else 0 for x in p.name.split(".")],
            reverse=True,
        )
        candidates += [str(v / "bin" / wanted) for v in versions]
    for candidate in candidates:
        if _version_of(candidate) == PYTHON:
            return candidate, candidates
    return None, candidates


# --------------------------------------------------------------------------- the venv


def pip_env() -> dict[str, str]:
    """The environment for pip: no configuration files, only the index/certificate settings of the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in _PIP_ENV_KEPT}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.pop("PYTHONPATH", None)
    return env


def uv_env() -> dict[str, str]:
    """:func:`pip_env`'s settings for uv: the same index and certificate, no configuration files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    env.update(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never")
    if "PIP_INDEX_URL" in os.environ:
        env["UV_DEFAULT_INDEX"] = os.environ["PIP_INDEX_URL"]
    if "PIP_CERT" in os.environ:
        env.setdefault("SSL_CERT_FILE", os.environ["PIP_CERT"])
    if "PIP_DEFAULT_TIMEOUT" in os.environ:
        env["UV_HTTP_TIMEOUT"] = os.environ["PIP_DEFAULT_TIMEOUT"]
    env.pop("PYTHONPATH", None)
    return env


def run_checked(args: list[str], *, timeout: float, what: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {result.returncode}): {' '.join(args)}\n"
            f"--- stdout (tail)\n{result.stdout[-4000:]}\n--- stderr (tail)\n{result.stderr[-4000:]}",
            pytrace=False,
        )
    return result


def _venv_key(python: str) -> str:
    described = run_checked(
        [python, "-c", "import platform, sys; print(sys.version, platform.machine(), sys.platform)"],
        timeout=30,
        what="describing the runtime Python",
    ).stdout
    digest = hashlib.sha256(described.encode())
    for path in (LAMBDA_REQUIREMENTS, RUNTIME_REQUIREMENTS, WRITE_AUDIT):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "py{}.{}-".format(*PYTHON) + digest.hexdigest()[:16]


@dataclass(frozen=True)
class RuntimeVenv:
    python: Path  # the venv's interpreter
    built_seconds: float | None  # None: taken from the cache

    def described(self) -> str:
        """``<venv name>: from the cache`` or ``<venv name>: built in N s``, for the run's summary."""
        how = "from the cache" if self.built_seconds is None else f"built in {self.built_seconds:.1f} s"
        return f"{self.python.parent.parent.name}: {how}"


def runtime_venv(python: str, cache: Path = VENV_CACHE) -> RuntimeVenv:
    """The venv of the image's pins + awslambdaric on ``python``; built once per content (see the module docstring)."""
    key = _venv_key(python)
    venv = cache / key
    stamp = venv / ".complete"
    cache.mkdir(exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once build it once
        if stamp.is_file():
            return RuntimeVenv(python=venv / "bin" / "python", built_seconds=None)
        started = time.monotonic()
        for stale in cache.iterdir():
            if stale.is_dir():
                shutil.rmtree(stale)  # other pins, other Python, or an interrupted build
        interpreter = venv / "bin" / "python"
        requirements = ("-r", str(LAMBDA_REQUIREMENTS), "-r", str(RUNTIME_REQUIREMENTS))
        uv = Path(sys.executable).with_name("uv")
        if uv.is_file():
            # uv (requirements/dev.txt) unpacks and compiles on every core: 14 s instead of pip's 44 s here.
            # --seed puts pip into the venv, for `pip check`, `pip list` and test_pins' resolution.
            run_checked(
                [str(uv), "venv", "--quiet", "--seed", "--python", python, str(venv)],
                timeout=120,
                what="creating the runtime venv",
                env=uv_env(),
            )
            install = [str(uv), "pip", "install", "--quiet", "--python", str(interpreter), "--compile-bytecode"]
            env = uv_env()
        else:
            run_checked([python, "-m", "venv", str(venv)], timeout=120, what="creating the runtime venv")
            install = [str(interpreter), "-m", "pip", "install", "--quiet"]
            env = pip_env()
        run_checked(
            [*install, "--no-deps", "--only-binary=:all:", *requirements],
            timeout=900,
            what="installing requirements/lambda.txt + requirements/runtime-test.txt",
            env=env,
        )
        # --no-deps installed exactly the pins; this fails when they miss a dependency or conflict.
        run_checked([str(interpreter), "-m", "pip", "check"], timeout=120, what="pip check of the pins", env=pip_env())
        purelib = run_checked(
            [str(interpreter), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            timeout=30,
            what="finding the venv's site-packages",
        ).stdout.strip()
        shutil.copyfile(WRITE_AUDIT, Path(purelib) / "sitecustomize.py")
        run_checked(
            [str(interpreter), "-m", "compileall", "-q", str(Path(purelib) / "sitecustomize.py")],
            timeout=60,
            what="compiling sitecustomize",
        )
        stamp.write_text(json.dumps({"python": python, "key": key}) + "\n")
        return RuntimeVenv(python=interpreter, built_seconds=time.monotonic() - started)


def installed(venv_python: Path) -> dict[str, str]:
    """``{normalised name: version}`` of what the venv holds."""
    listed = run_checked(
        [str(venv_python), "-m", "pip", "list", "--format=json"], timeout=60, what="pip list", env=pip_env()
    ).stdout
    return {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed)}


# --------------------------------------------------------------------------- the task root


def make_task_root(root: Path, venv_python: Path) -> Path:
    """Copy ``lambda_app/`` and ``queries/`` into ``root`` as the Dockerfile does, compile, make it read-only."""
    root.mkdir(parents=True)
    for name in TASK_ROOT_CONTENT:
        # .dockerignore keeps __pycache__ and *.pyc of a checkout out of the image.
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"))
    run_checked(
        [str(venv_python), *COMPILE_ARGS, str(root / "lambda_app")], timeout=120, what="compiling the task root"
    )
    set_writable(root, writable=False)
    return root


def set_writable(root: Path, *, writable: bool) -> None:
    """``chmod -R a-w`` (or ``u+w`` again, so the test's temporary folder can be removed)."""
    bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~bits))


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """``{relative path: (mode, size, mtime_ns)}`` of everything under ``root``."""
    found = {}
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        found[str(path.relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


# --------------------------------------------------------------------------- the function


@dataclass
class Function:
    """One runtime process: its Runtime API, its output and the writes it attempted."""

    process: subprocess.Popen[bytes]
    api: RuntimeApi
    started_at: float  # time.monotonic() just before the process was started
    tmp: Path  # the only writable folder (Lambda's /tmp)
    task_root: Path
    stdout: Path
    stderr: Path
    write_log: Path
    env: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, event: Any, timeout: float = 120) -> Outcome:
        try:
            return self.api.invoke(event, timeout=timeout, alive=self.alive)
        except RuntimeApiError as exc:
            pytest.fail(f"{exc}\n{self.output()}", pytrace=False)

    def logs(self) -> list[dict[str, Any]]:
        """The JSON lines the function printed (Powertools' logger); other lines are left out."""
        found = []
        for text in self.stdout.read_text(errors="replace").splitlines():
            # awslambdaric ends its own error records with "\r"; the JSON lines are one per line.
            if text.startswith("{"):
                try:
                    found.append(json.loads(text))
                except json.JSONDecodeError:
                    continue
        return found

    def attempted_writes(self) -> list[tuple[str, str]]:
        """``(event, absolute path)`` of every write the process attempted (see ``write_audit.py``)."""
        return attempted_writes(self.write_log)

    def output(self) -> str:
        return (
            f"--- stdout (tail)\n{self.stdout.read_text(errors='replace')[-4000:]}\n"
            f"--- stderr (tail)\n{self.stderr.read_text(errors='replace')[-4000:]}"
        )


def lambda_environment(
    *,
    api: RuntimeApi,
    task_root: Path,
    tmp: Path,
    venv_python: Path,
    function_env: Mapping[str, str],
    memory_mb: int = 4096,
) -> dict[str, str]:
    """What Lambda puts in a Python 3.12 image function's environment, and the function's own variables.

    Nothing is inherited from the test process: no PYTHONPATH, no dev venv, no ~/.aws.
    """
    name = api.function_arn.rsplit(":", 1)[-1]
    return {
        "PATH": f"{venv_python.parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(tmp),
        "TMPDIR": str(tmp),
        "LAMBDA_TASK_ROOT": str(task_root),
        "_HANDLER": HANDLER,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python{}.{}".format(*PYTHON),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        **function_env,
    }


@contextmanager
def start_function(
    *, venv_python: Path, task_root: Path, workdir: Path, function_env: Mapping[str, str]
) -> Iterator[Function]:
    """Run ``python -m awslambdaric <handler>`` in ``task_root``; stop it (and its Runtime API) on exit."""
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True)
    stdout, stderr, write_log = workdir / "stdout.log", workdir / "stderr.log", workdir / "writes.log"
    with RuntimeApi() as api, stdout.open("wb") as out, stderr.open("wb") as err, write_log.open("wb") as writes:
        env = lambda_environment(
            api=api, task_root=task_root, tmp=tmp, venv_python=venv_python, function_env=function_env
        )
        env["RUNTIME_TEST_WRITE_LOG_FD"] = str(writes.fileno())
        started_at = time.monotonic()
        process = subprocess.Popen(
            [str(venv_python), "-m", "awslambdaric", HANDLER],
            cwd=task_root,  # the image's WORKDIR is $LAMBDA_TASK_ROOT
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            pass_fds=(writes.fileno(),),
        )
        function = Function(
            process=process,
            api=api,
            started_at=started_at,
            tmp=tmp,
            task_root=task_root,
            stdout=stdout,
            stderr=stderr,
            write_log=write_log,
            env=env,
        )
        try:
            yield function
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def attempted_writes(log: Path) -> list[tuple[str, str]]:
    """``(event, absolute path)`` of every write a process attempted (the lines of ``write_audit.py``)."""
    return [(event, path) for event, _, path in (line.partition("\t") for line in log.read_text().splitlines())]


def audited_python(venv_python: Path, code: str, *, cwd: Path, log: Path) -> list[tuple[str, str]]:
    """Run ``python -c code`` in the venv with the write audit on; return the writes it attempted."""
    with log.open("wb") as writes:
        run_checked(
            [str(venv_python), "-c", code],
            timeout=120,
            what="an audited Python",
            cwd=cwd,
            env={"PATH": "/usr/bin:/bin", "RUNTIME_TEST_WRITE_LOG_FD": str(writes.fileno())},
            pass_fds=(writes.fileno(),),
        )
    return attempted_writes(log)


def outside(path: str, *allowed: Path) -> bool:
    """Whether ``path`` lies outside every ``allowed`` folder (``/dev/null`` is always allowed)."""
    if path == os.devnull:
        return False
    resolved = Path(os.path.realpath(path))
    return not any(resolved == a or a in resolved.parents for a in (Path(os.path.realpath(p)) for p in allowed))
