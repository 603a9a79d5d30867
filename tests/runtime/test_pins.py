"""The image's pins are complete for the image's platform, and the image is the one the runtime test imitates.

``requirements/lambda.txt`` is what the Dockerfile installs on
``public.ecr.aws/lambda/python:3.12-arm64``: CPython 3.12 on Amazon Linux 2023
(glibc 2.34), aarch64. Pins generated on another Python or platform can miss a
dependency that only that platform pulls in (awswrangler requires setuptools
from Python 3.12 on), which the image's ``pip install`` would then take at
whatever version is newest on the day of the build.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.runtime.harness import (
    DOCKERFILE,
    DOCKERFILE_COMPILE,
    LAMBDA_REQUIREMENTS,
    PYTHON,
    RUNTIME_REQUIREMENTS,
    RuntimeVenv,
    installed,
    pip_env,
    run_checked,
)

pytestmark = pytest.mark.runtime

# AL2023's glibc (docs.aws.amazon.com/linux/al2023/ug/core-glibc.html): wheels for manylinux_2_17 up to
# manylinux_2_34 run there. pip does not widen a manylinux_2_X platform to the older ones (nor
# manylinux2014_aarch64 to the newer ones: numpy 2.4 and pyarrow 25 publish aarch64 wheels for
# manylinux_2_28 only), so every one is named.
GLIBC = (2, 34)
PLATFORMS = ("manylinux2014_aarch64", *(f"manylinux_2_{minor}_aarch64" for minor in range(17, GLIBC[1] + 1)))


def pins(path: Path, environment: dict[str, str] | None = None) -> dict[str, str]:
    """``{canonical name: version}`` of the ``==`` pins of a requirements file whose marker holds in ``environment``."""
    found: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        text = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
        if not text or text.startswith("#"):
            continue
        requirement = Requirement(text)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{path.name}: {raw!r} is not an exact pin"
        if requirement.marker is None or requirement.marker.evaluate(environment or {}):
            found[canonicalize_name(requirement.name)] = specifiers[0].version
    return found


def lambda_environment(report: dict[str, Any]) -> dict[str, str]:
    """The marker environment of the image: pip's (Python 3.12) with Lambda's platform."""
    return {
        **report["environment"],
        "platform_machine": "aarch64",
        "platform_system": "Linux",
        "sys_platform": "linux",
        "os_name": "posix",
    }


@pytest.fixture(scope="module")
def arm64_report(venv: RuntimeVenv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What ``pip install -r requirements/lambda.txt`` resolves for linux/arm64 CPython 3.12, wheels only."""
    work = tmp_path_factory.mktemp("resolve")
    report = work / "report.json"
    run_checked(
        [
            str(venv.python),
            *("-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--report", str(report)),
            *("--only-binary=:all:", "--implementation", "cp", "--python-version", "{}.{}".format(*PYTHON)),
            *("--abi", "cp{}{}".format(*PYTHON)),
            *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
            *("--target", str(work / "target"), "-r", str(LAMBDA_REQUIREMENTS)),
        ],
        timeout=600,
        what="resolving requirements/lambda.txt for linux/arm64 cp312",
        env=pip_env(),
    )
    loaded: dict[str, Any] = json.loads(report.read_text())
    return loaded


def test_the_pins_resolve_for_linux_arm64_cp312_to_themselves_and_nothing_else(arm64_report: dict[str, Any]) -> None:
    pinned = pins(LAMBDA_REQUIREMENTS, lambda_environment(arm64_report))
    resolved = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"] for item in arm64_report["install"]
    }
    unpinned = sorted(f"{name}=={version}" for name, version in resolved.items() if name not in pinned)
    assert not unpinned, f"the image would install these unpinned: add them to requirements/lambda.txt: {unpinned}"
    assert resolved == pinned


def test_every_dependency_of_a_pin_that_applies_on_lambda_is_pinned_at_a_version_it_accepts(
    arm64_report: dict[str, Any],
) -> None:
    """Independent of pip's own marker evaluation (done for the machine running pip, x86_64 here): the metadata's
    ``Requires-Dist`` evaluated for aarch64."""
    environment = lambda_environment(arm64_report)
    pinned = pins(LAMBDA_REQUIREMENTS, environment)
    problems = []
    for item in arm64_report["install"]:
        metadata = item["metadata"]
        for text in metadata.get("requires_dist", []):
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({**environment, "extra": ""}):
                continue
            name = canonicalize_name(requirement.name)
            if name not in pinned:
                problems.append(f"{metadata['name']} requires {text!r}: not pinned")
            elif not requirement.specifier.contains(pinned[name], prereleases=True):
                problems.append(f"{metadata['name']} requires {text!r}: pinned {name}=={pinned[name]}")
    assert not problems, problems


def test_every_wheel_is_built_for_linux_arm64_or_any_platform(arm64_report: dict[str, Any]) -> None:
    wheels = [item["download_info"]["url"].rsplit("/", 1)[-1] for item in arm64_report["install"]]
    wrong = [w for w in wheels if not (w.endswith("-any.whl") or "aarch64" in w.rsplit("-", 1)[-1])]
    assert not wrong, wrong
    assert all(w.endswith(".whl") for w in wheels), wheels


def test_the_runtime_venv_holds_the_pins_and_nothing_else(venv: RuntimeVenv) -> None:
    environment = json.loads(
        run_checked(
            [str(venv.python), "-c", "import json, packaging.markers as m; print(json.dumps(m.default_environment()))"],
            timeout=60,
            what="reading the runtime venv's marker environment",
        ).stdout
    )
    expected = {**pins(LAMBDA_REQUIREMENTS, environment), **pins(RUNTIME_REQUIREMENTS)}
    holds = installed(venv.python)
    holds.pop("pip")  # the venv's installer, not a pin (the base image has its own)
    assert holds == expected


def test_the_image_is_lambdas_python_3_12_arm64_image_and_compiles_the_package_at_build_time() -> None:
    """What the runtime test imitates: the base image's Python and architecture, and no bytecode written at run time.

    The base image is a moving tag until it is pinned by digest (docs/infrastructure.md, "The base image"): both
    forms are accepted, a malformed digest is not.
    """
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert base, "the Dockerfile has no ARG BASE_IMAGE=<default>"
    tag = "{}.{}-arm64".format(*PYTHON)
    assert re.fullmatch(rf"public\.ecr\.aws/lambda/python:{re.escape(tag)}(@sha256:[0-9a-f]{{64}})?", base[1]), base[1]
    lines = text.splitlines()
    assert DOCKERFILE_COMPILE in lines, f"the Dockerfile must {DOCKERFILE_COMPILE!r} (the task root is read-only)"
    copy_package = next(i for i, line in enumerate(lines) if line.startswith("COPY lambda_app/"))
    assert lines.index(DOCKERFILE_COMPILE) > copy_package, "compile after the package is copied"
