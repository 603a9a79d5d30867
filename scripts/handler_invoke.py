"""Invoke the real Lambda handler in this fresh process and time its INIT and its calls.

Usage (run by ``scripts/bench_handler_vs.py``; any checkout of the project, old or new layout)::

    VENV/bin/python scripts/handler_invoke.py RESULT.json EVENT.json [EVENT.json ...] [--profile PREFIX]

The environment must already point at an AWS (``AWS_ENDPOINT_URL`` for the
emulator, ``OUTPUT_BUCKET``, ``GLUE_DATABASE``, ...), the input objects must
already be uploaded, and the caller must make sure the ``lambda_app`` this
interpreter imports is the checkout it means to measure (the result names it).

What is timed, with ``time.perf_counter`` in this process:

* ``init_seconds``: ``import lambda_app.handler``, the Lambda's INIT. In the
  current layout it builds the app (settings, AWS session and clients); in
  the layout before 2a3659b it imported the modules only, and settings and
  clients were built inside every call.
* ``call_seconds``: one ``lambda_handler(event, context)`` per event file, in
  order, in the same process: the first is the cold invocation, the next ones
  are warm (Lambda keeps the process).

With ``--profile PREFIX`` each part runs under cProfile and its profile is
written to ``PREFIX.init.prof``, ``PREFIX.call0.prof``, ``PREFIX.call1.prof``...
(the times are then cProfile's, not for quoting).

Only the standard library and ``lambda_app`` are imported, so the script runs
under the old layout's virtualenv too. The handler's JSON log lines go to
stdout; the caller discards them.
"""

from __future__ import annotations

import cProfile
import importlib
import json
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Context:
    """The attributes of Lambda's context object that the handlers read (Powertools' ``inject_lambda_context``)."""

    function_name: str = "orders-analytics-bench"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:orders-analytics-bench"
    aws_request_id: str = "00000000-0000-4000-8000-00000000beef"
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/orders-analytics-bench"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    """Time INIT and one handler call per event; write the result JSON."""
    profile_path: Path | None = None
    if "--profile" in argv:
        at = argv.index("--profile")
        profile_path = Path(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    result_path, event_paths = Path(argv[0]), [Path(p) for p in argv[1:]]
    events = [json.loads(p.read_text(encoding="utf-8")) for p in event_paths]

    def run(part: str, func: Any, *args: Any) -> tuple[Any, float, float]:
        profiler = cProfile.Profile() if profile_path else None
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        if profiler:
            profiler.enable()
        value = func(*args)
        if profiler:
            profiler.disable()
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
        if profiler and profile_path:
            profiler.dump_stats(f"{profile_path}.{part}.prof")
        return value, seconds, cpu

    handler_module, init_seconds, init_cpu = run("init", importlib.import_module, "lambda_app.handler")
    calls: list[dict[str, Any]] = []
    for i, event in enumerate(events):
        summary, seconds, cpu = run(f"call{i}", handler_module.lambda_handler, event, Context())
        calls.append({"seconds": seconds, "cpu_seconds": cpu, "summary": summary})
    lambda_app = sys.modules["lambda_app"]
    result = {
        "lambda_app": str(Path(lambda_app.__file__ or "").resolve().parent),
        "init_seconds": init_seconds,
        "init_cpu_seconds": init_cpu,
        "calls": calls,
    }
    result_path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
