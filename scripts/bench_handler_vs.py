"""The real handler of two checkouts side by side: INIT and calls timed in fresh processes, the emulator excluded.

Usage (from this checkout, with its ``.venv``)::

    git worktree add ../wt-old 25cc39c && make -C ../wt-old install      # the layout before the refactor
    .venv/bin/python scripts/bench_handler_vs.py --side old=../wt-old --side new=. \\
        --rows 300 1000000 --repeat 7 --warm --json bench-data/handler-vs.json

Each side is a checkout with its own ``make install`` (``.venv``). For every
file size and repetition, every side takes its turn, the order alternating
(old, new, then new, old, ...) so that the other work on this 2-core machine
falls on both. One turn:

1. untimed, here: empty the moto server (a process of its own, started once
   for the whole run), create the buckets and the Glue database, upload the
   generated file (once, or twice with ``--warm``: the second copy on the
   next day, so both calls do the same work);
2. in a fresh process of the side's interpreter, ``scripts/handler_invoke.py``
   times ``import lambda_app.handler`` (the Lambda's INIT) and each
   ``lambda_handler(event, context)`` call (the first is the cold invocation;
   with ``--warm`` the second runs in the same warm process);
3. untimed, here: every call must have loaded the whole file, and each day's
   three report CSVs must agree with the core's reports of the same file
   (computed once per size, before the turns).

Each side first runs ``--warmup`` uncounted turns per size (default 1: the
first import writes ``.pyc`` files and fills the page cache, which a Lambda
image has done at build time). "whole process" is the parent's wall time of
the child: interpreter start, INIT and every call.

The table gives medians over the repetitions and the ratios of the first
side's medians to the others'. ``--profile DIR`` adds one cProfile'd turn per
side and size after the timed ones (not counted) and writes the profiles and
their top functions by cumulative time to DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from orders_tools import bench
from orders_tools.emulator import LocalAws, environment

INVOKE = Path(__file__).resolve().parent / "handler_invoke.py"


@dataclass(frozen=True)
class Side:
    """One checkout to measure: a name for the table, its tree and its interpreter."""

    name: str
    tree: Path

    @property
    def python(self) -> Path:
        return self.tree / ".venv" / "bin" / "python"


def _side(text: str) -> Side:
    name, sep, tree = text.partition("=")
    if not sep or not name or not tree:
        raise argparse.ArgumentTypeError(f"expected NAME=CHECKOUT, got {text!r}")
    side = Side(name, Path(tree).resolve())
    if not side.python.exists():
        raise argparse.ArgumentTypeError(f"{side.python} does not exist: run `make install` in {side.tree}")
    return side


@dataclass(frozen=True)
class Plan:
    """What to run: the file sizes, the turns per side and size, and the options."""

    rows: list[int]
    repeat: int
    workdir: Path
    warm: bool = False
    profile_dir: Path | None = None
    # Turns per side and size run first and not counted: .pyc files written, the page cache filled.
    warmup: int = 1

    @property
    def calls(self) -> int:
        return 2 if self.warm else 1


@dataclass(frozen=True)
class Rig:
    """The running emulator and a scratch folder, shared by every turn."""

    aws: LocalAws
    scratch: Path


def _turn(rig: Rig, side: Side, csv_path: Path, calls: int, profile: Path | None = None) -> dict[str, Any]:
    """Stage the events, run one fresh process of ``side``, return its timings (and the parent's wall of it)."""
    events = bench.stage_events(rig.aws, csv_path, calls)
    event_paths = []
    for i, event in enumerate(events):
        path = rig.scratch / f"event-{i}.json"
        path.write_text(json.dumps(event), encoding="utf-8")
        event_paths.append(str(path))
    result_path = rig.scratch / f"{side.name}.json"
    result_path.unlink(missing_ok=True)
    command = [str(side.python), str(INVOKE), str(result_path), *event_paths]
    if profile is not None:
        command += ["--profile", str(profile)]
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=side.tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    process_seconds = time.perf_counter() - started
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"{side.name}: handler_invoke exited with {completed.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    if Path(result["lambda_app"]) != side.tree / "lambda_app":
        raise RuntimeError(f"{side.name}: imported {result['lambda_app']}, not {side.tree / 'lambda_app'}")
    result["process_seconds"] = process_seconds
    result["load_average"] = load
    return result


def _check(side: Side, result: dict[str, Any], aws: LocalAws, rows: int, expected: dict[str, Any]) -> list[str]:
    """Problems with one turn: a call that did not load the whole file, or reports unlike the core's."""
    problems: list[str] = []
    start = date.fromisoformat(bench.BENCH_INGEST_DATE)
    for i, call in enumerate(result["calls"]):
        try:
            bench.check_loaded(call["summary"], rows)
        except (ValueError, KeyError) as exc:
            problems.append(f"{side.name} call {i}: {exc}")
            continue
        differences = bench.compare_reports(expected, bench.read_reports(aws, start + timedelta(days=i)))
        problems += [f"{side.name} call {i}: {d}" for d in differences]
    return problems


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _metrics(turns: list[dict[str, Any]]) -> dict[str, float]:
    """Medians of one side's turns on one file."""
    metrics = {
        "init": _median([t["init_seconds"] for t in turns]),
        "cold call": _median([t["calls"][0]["seconds"] for t in turns]),
        "init + cold call": _median([t["init_seconds"] + t["calls"][0]["seconds"] for t in turns]),
        "cold call CPU": _median([t["calls"][0]["cpu_seconds"] for t in turns]),
        "whole process": _median([t["process_seconds"] for t in turns]),
    }
    if all(len(t["calls"]) > 1 for t in turns):
        metrics["warm call"] = _median([t["calls"][1]["seconds"] for t in turns])
    return metrics


def _write_profile_summaries(prefix: Path) -> None:
    """Beside each ``PREFIX.<part>.prof``: ``.txt`` with the top functions by cumulative and by own time."""
    for profile in sorted(prefix.parent.glob(f"{prefix.name}.*.prof")):
        with open(profile.with_suffix(".txt"), "w", encoding="utf-8") as out:
            stats = pstats.Stats(str(profile), stream=out)
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(30)


def run(sides: list[Side], plan: Plan) -> dict[str, Any]:
    """Every size, every repetition, every side in alternating order; return the raw turns and the medians."""
    report: dict[str, Any] = {"sides": {s.name: str(s.tree) for s in sides}, "repeat": plan.repeat, "sizes": {}}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-handler-") as scratch_name, bench.moto_process() as endpoint:
        scratch = Path(scratch_name)
        env = bench.emulator_env(endpoint)
        with environment(env):
            aws = LocalAws(endpoint=endpoint, env=env)
            rig = Rig(aws, scratch)
            for rows in plan.rows:
                csv_path = bench.bench_csv(plan.workdir, rows, progress=rows >= 100_000)
                expected = bench.core_job(csv_path, scratch / "core")
                shutil.rmtree(scratch / "core")
                turns: dict[str, list[dict[str, Any]]] = {s.name: [] for s in sides}
                for rep in range(plan.warmup):
                    for side in sides:
                        print(f"{rows:,} rows, warm-up turn {rep + 1} (not counted): {side.name}", file=sys.stderr)
                        problems += _check(side, _turn(rig, side, csv_path, plan.calls), rig.aws, rows, expected)
                for rep in range(plan.repeat):
                    for side in sides if rep % 2 == 0 else sides[::-1]:
                        print(f"{rows:,} rows, turn {rep + 1} of {plan.repeat}: {side.name}", file=sys.stderr)
                        result = _turn(rig, side, csv_path, plan.calls)
                        problems += _check(side, result, aws, rows, expected)
                        turns[side.name].append(result)
                if plan.profile_dir is not None:
                    plan.profile_dir.mkdir(parents=True, exist_ok=True)
                    for side in sides:
                        prefix = plan.profile_dir / f"{side.name}-{rows}"
                        print(f"{rows:,} rows, profiled turn: {side.name}", file=sys.stderr)
                        _turn(rig, side, csv_path, plan.calls, prefix)
                        _write_profile_summaries(prefix)
                loads = [t["load_average"] for side_turns in turns.values() for t in side_turns] or [float("nan")]
                for side_turns in turns.values():
                    for t in side_turns:
                        for call in t["calls"]:
                            call.pop("summary", None)  # reports and row counts were checked above
                report["sizes"][str(rows)] = {
                    "csv_bytes": csv_path.stat().st_size,
                    "load_average": {"min": min(loads), "median": _median(loads), "max": max(loads)},
                    "medians": {name: _metrics(side_turns) for name, side_turns in turns.items()},
                    "turns": turns,
                }
    report["problems"] = problems
    return report


def print_table(report: dict[str, Any]) -> None:
    """Medians per side and size, and the first side's medians over every other side's."""
    names = list(report["sides"])
    first = names[0]
    for rows, size in report["sizes"].items():
        load = size["load_average"]
        print(
            f"\n{int(rows):,} rows ({size['csv_bytes'] / 1e6:,.1f} MB), {report['repeat']} turns per side,"
            f" 1-min load average {load['min']:.2f}-{load['max']:.2f} (median {load['median']:.2f})"
        )
        metrics = list(size["medians"][first])
        header = f"{'median seconds':<18}" + "".join(f"{n:>12}" for n in names)
        header += "".join(f"{first + ' / ' + n:>14}" for n in names[1:])
        print(header)
        for metric in metrics:
            values = [size["medians"][n].get(metric, float("nan")) for n in names]
            line = f"{metric:<18}" + "".join(f"{v:>12.3f}" for v in values)
            line += "".join(f"{values[0] / v if v else float('nan'):>13.2f}x" for v in values[1:])
            print(line)
    for problem in report["problems"]:
        print(f"PROBLEM {problem}")
    if not report["problems"]:
        print("\nevery call loaded every row; every day's reports agree with the core's")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, print the table, write the JSON; exit 1 on any problem."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=_side, action="append", required=True, help="NAME=CHECKOUT (two or more)")
    parser.add_argument("--rows", type=int, nargs="+", default=[300, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5, help="turns per side and size (default 5)")
    parser.add_argument("--warm", action="store_true", help="a second call in the same process (a warm Lambda)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted turns per side and size first (default 1)")
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"), help="generated files (cached)")
    parser.add_argument("--profile", type=Path, default=None, help="write one cProfile'd turn per side here")
    parser.add_argument("--json", type=Path, default=None, help="write every turn and the medians here")
    args = parser.parse_args(argv)
    if len(args.side) < 2 or len({s.name for s in args.side}) != len(args.side):
        parser.error("give two or more --side NAME=CHECKOUT with distinct names")
    profile_dir = args.profile.resolve() if args.profile else None  # the children run in their own checkouts
    plan = Plan(args.rows, args.repeat, args.workdir, warm=args.warm, profile_dir=profile_dir, warmup=args.warmup)
    report = run(args.side, plan)
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    # A plain SIGTERM would skip the ``finally`` blocks and leave the moto server running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise SystemExit(main())
