"""Installed as ``sitecustomize`` in the runtime test's venv: report every file write the runtime attempts.

Python runs ``sitecustomize`` at start-up, before ``awslambdaric``; this one
does nothing unless ``RUNTIME_TEST_WRITE_LOG_FD`` names an open file
descriptor. Then an audit hook (PEP 578) writes one line per attempt, before
the operation runs, so an attempt that fails on a read-only directory (a
``__pycache__`` under the task root, say) is reported too:
``<event>\\t<absolute path>``. It writes with ``os.write`` on the inherited
descriptor, which opens nothing, raises no audit event and cannot recurse.

Standard library only: the venv has nothing else. The hook never raises (an
exception in an audit hook would abort the audited operation).
"""

import os
import sys

_FD = os.environ.pop("RUNTIME_TEST_WRITE_LOG_FD", "")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
# Events whose first argument is a path the call creates, changes or removes (os.unlink raises os.remove;
# tempfile goes through os.open and os.mkdir).
_PATH_EVENTS = frozenset(
    {
        "os.mkdir",
        "os.remove",
        "os.rmdir",
        "os.truncate",
        "os.chmod",
        "os.chown",
        "os.utime",
    }
)


def _report(event: str, path: object) -> None:
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        return  # a descriptor: the file was opened (and reported) before
    os.write(int(_FD), f"{event}\t{os.path.abspath(os.fspath(path))}\n".encode("utf-8", "backslashreplace"))


def _hook(event: str, args: tuple[object, ...]) -> None:
    try:
        if event == "open":
            path, _mode, flags = args
            if isinstance(flags, int) and flags & _WRITE_FLAGS:
                _report(event, path)
        elif event in _PATH_EVENTS:
            _report(event, args[0])
        elif event == "os.rename":  # os.replace raises it too: (source, destination)
            _report(event, args[0])
            _report(event, args[1])
        elif event in {"os.link", "os.symlink"}:  # (target, new link): the link is what is created
            _report(event, args[1])
    except Exception:  # noqa: S110 - an audit hook must never raise
        pass


if _FD:
    sys.addaudithook(_hook)
