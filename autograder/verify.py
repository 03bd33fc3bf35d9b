"""The clean re-run of a submission's graded test cells (``python -m autograder.verify``).

Runs inside the sandbox (``autograder.sandbox``), in a fresh Python process that is not
the notebook's kernel, after nbgrader has graded the notebook. It reads one JSON object
on stdin: ``{"token": ..., "timeout": seconds, "cells": [{"kind": "code"|"test",
"grade_id": ..., "source": ...}, ...]}`` (the notebook's code cells in order, the test
cells as the instructor wrote them, hidden tests included). Then:

1. imports what the test cells import (the checks, torch...), and takes a
   ``autograder.tamper.Snapshot`` of everything the checks rely on;
2. walks the cells in order with ``course.loader.walk`` (the loader ``course check``
   uses): from a student's cell it runs only the imports, function and class
   definitions and ``NAME = literal`` constants, so a top-level statement that patches
   something never runs; a test cell runs as written, with ``timeout`` seconds;
3. before and after each test cell, compares the snapshot: a patch made by any means
   (a class body, a default argument, a decorator, ``exec``, a function that patches
   when a check calls it) ends the run with a ``tamper`` verdict.

It answers on its original stdout, one JSON object per line, each line starting with
the token (what the student's code prints goes to /dev/null): ``{"event": "test",
"grade_id", "ok", "error"}`` per test cell as it finishes, ``{"event": "tamper",
"what": [...]}``, ``{"event": "done"}``. A verdict the grader did not get (the process
died or was stopped) counts as not passed.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import os
import signal
import sys
from collections.abc import Iterator

from course import loader


def _imported_modules(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


@contextlib.contextmanager
def _time_limit(seconds: int, *, skip: bool = False) -> Iterator[None]:
    """At most `seconds` for the block; with `skip`, a block that runs past it is dropped."""
    signal.alarm(seconds)
    try:
        yield
    except _Timeout:
        if not skip:
            raise
    finally:
        signal.alarm(0)


def _describe(e: BaseException) -> str:
    text = " / ".join(ln.strip() for ln in f"{type(e).__name__}: {e}".splitlines() if ln.strip())
    return text[:300]


def rerun(cells: list[dict], timeout: int) -> Iterator[dict]:
    """The clean re-run of `cells` (the payload's list): its events, one at a time."""
    import autograder.tamper as tamper

    for cell in cells:
        if cell["kind"] == "test":
            for name in _imported_modules(cell["source"]):
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - the test cell will report it
                    pass
    if "torch" in sys.modules:
        # torch imports torch._dynamo lazily (the first optimizer a check builds imports it),
        # and that import rebinds torch.manual_seed: import it before the snapshot, so that
        # torch's own rebinding is not taken for the learner's
        importlib.import_module("torch._dynamo")
    snapshot = tamper.Snapshot()
    signal.signal(signal.SIGALRM, _on_alarm)
    ns = loader.namespace()
    notebook = [loader.Cell(c["kind"], c["source"], c.get("grade_id") or "", n)
                for n, c in enumerate(cells)]
    # a definition that runs past the limit is skipped; one that fails fails its test later
    for cell in loader.walk(notebook, ns, guard=lambda: _time_limit(timeout, skip=True)):
        changed = snapshot.changes()
        if changed:
            yield {"event": "tamper", "what": changed[:10], "before": cell.name}
            return
        ok, error = True, ""
        try:
            with _time_limit(timeout):
                loader.run_test(cell.source, ns, f"test {cell.name}")
        except _Timeout:
            ok, error = False, f"ran past {timeout} s"
        except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: not passed
            ok, error = False, _describe(e)
        changed = snapshot.changes()
        if changed:
            yield {"event": "tamper", "what": changed[:10], "during": cell.name}
            return
        yield {"event": "test", "grade_id": cell.name, "ok": ok, "error": error}
    yield {"event": "done"}


def main() -> int:
    payload = json.loads(sys.stdin.read())
    token, timeout = payload["token"], int(payload.get("timeout", 60))
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # what the student's code prints goes nowhere
    os.dup2(devnull, 2)
    for event in rerun(payload["cells"], timeout):
        answers.write(f"{token} {json.dumps(event)}\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
