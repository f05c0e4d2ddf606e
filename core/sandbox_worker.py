"""Run tasks of core.sandbox in a killable worker process, under a memory limit (RLIMIT_AS).

The parent (core.sandbox.Sandbox) writes framed pickled tasks to our stdin and reads framed pickled
answers from our stdout, as sparql/worker.py does for queries. A task names a module-level function
("module:name"); its arguments and its result are plain picklable data. The parent enforces the time
limit by killing this process; the memory limit is ours, set before anything else is imported.

Answers: ("ok", value) | ("error", module, class name, status, code, message) | ("memory",).
"""

from __future__ import annotations

import importlib
import os
import pickle
import resource
import sys
import traceback

from core.frames import read_frame, write_frame

MEMORY_EXIT = 70  # exit status after a MemoryError: the parent reports the memory limit
READY = b"ready"


def resolve(name: str):
    """Return the function named "module:qualified.name"."""
    module, _, qualname = name.partition(":")
    target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _limit_memory() -> None:
    megabytes = int(os.environ.get("WODP_SANDBOX_MEMORY_MB", "0") or 0)
    if megabytes:
        size = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    nice = int(os.environ.get("WODP_SANDBOX_NICE", "0") or 0)
    if nice:
        os.nice(nice)


def _preload() -> None:
    """Import the task modules once, and call their warm_up() (parse shapes, load mappings) when they have one."""
    for name in filter(None, os.environ.get("WODP_SANDBOX_PRELOAD", "").split(",")):
        module = importlib.import_module(name)
        warm_up = getattr(module, "warm_up", None)
        if callable(warm_up):
            warm_up()


def _answer(task: tuple) -> tuple:
    from core.errors import WodpError

    name, args, kwargs = task
    try:
        return ("ok", resolve(name)(*args, **kwargs))
    except MemoryError:
        raise
    except WodpError as exc:
        cls = type(exc)
        return ("error", cls.__module__, cls.__qualname__, exc.status, exc.code, exc.message)
    except Exception:  # noqa: BLE001 - reported to the parent as an internal error, logged here
        traceback.print_exc(file=sys.stderr)
        return ("error", "core.errors", "WodpError", 500, "internal-error", "")


def main() -> None:
    """Serve tasks from the parent until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the answer channel
    _limit_memory()
    _preload()
    write_frame(stdout, READY)
    while True:
        payload = read_frame(stdin)
        if payload is None:
            return
        try:
            answer = _answer(pickle.loads(payload))
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            answer = data = None
        if data is None:  # past the memory limit: say so, and leave (the parent starts a fresh worker)
            try:
                write_frame(stdout, pickle.dumps(("memory",)))
            finally:
                os._exit(MEMORY_EXIT)
        write_frame(stdout, data)


if __name__ == "__main__":
    # Run the importable copy of this module, so that pickles name core.sandbox_worker.*.
    from core.sandbox_worker import main as _main

    _main()
