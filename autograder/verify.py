"""The clean re-run of a submission's graded test cells (``python -m autograder.verify``).

Runs inside the sandbox (``autograder.sandbox``), in a fresh Python process that is not
the notebook's kernel, after nbgrader has graded the notebook. It reads one JSON object
on stdin: ``{"token": ..., "timeout": seconds, "cells": [{"kind": "code"|"test",
"grade_id": ..., "source": ...}, ...]}`` (the notebook's code cells in order, the test
cells as the instructor wrote them, hidden tests included). Then:

1. imports what the test cells import (the checks, torch...), and takes a
   ``autograder.tamper.Snapshot`` of everything the checks rely on;
2. walks the cells in order: from a student's cell it runs only the imports, function
   and class definitions and ``NAME = literal`` constants (the way ``course check``
   loads a notebook), so a top-level statement that patches something never runs;
   a test cell runs as written, with ``timeout`` seconds;
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
import json
import os
import signal
import sys

KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def definitions(source: str) -> list[ast.stmt]:
    """The statements of a student's cell that the clean re-run executes."""
    from course.loader import _MAGIC

    code = "\n".join("" if _MAGIC.match(ln) else ln for ln in source.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    keep = []
    for node in tree.body:
        if isinstance(node, KEEP):
            keep.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(isinstance(t, ast.Name) for t in targets) and _literal(node.value):
                keep.append(node)
    return keep


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


def _describe(e: BaseException) -> str:
    text = " / ".join(ln.strip() for ln in f"{type(e).__name__}: {e}".splitlines() if ln.strip())
    return text[:300]


def main() -> int:
    payload = json.loads(sys.stdin.read())
    token, timeout = payload["token"], int(payload.get("timeout", 60))
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)

    def say(**event) -> None:
        answers.write(f"{token} {json.dumps(event)}\n")
        answers.flush()

    import importlib

    import autograder.tamper as tamper

    for cell in payload["cells"]:
        if cell["kind"] == "test":
            for name in _imported_modules(cell["source"]):
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - the test cell will report it
                    pass
    snapshot = tamper.Snapshot()
    signal.signal(signal.SIGALRM, _on_alarm)
    namespace: dict = {"__name__": "__main__"}
    for n, cell in enumerate(payload["cells"]):
        if cell["kind"] == "code":
            for node in definitions(cell["source"]):
                code = compile(ast.Module(body=[node], type_ignores=[]), f"<cell {n}>", "exec")
                signal.alarm(timeout)
                try:
                    exec(code, namespace)
                except _Timeout:
                    pass
                except Exception:  # noqa: BLE001 - a broken definition fails its test later
                    pass
                finally:
                    signal.alarm(0)
            continue
        changed = snapshot.changes()
        if changed:
            say(event="tamper", what=changed[:10], before=cell["grade_id"])
            return 0
        ok, error = True, ""
        signal.alarm(timeout)
        try:
            exec(compile(cell["source"], f"<test {cell['grade_id']}>", "exec"), namespace)
        except _Timeout:
            ok, error = False, f"ran past {timeout} s"
        except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: not passed
            ok, error = False, _describe(e)
        finally:
            signal.alarm(0)
        changed = snapshot.changes()
        if changed:
            say(event="tamper", what=changed[:10], during=cell["grade_id"])
            return 0
        say(event="test", grade_id=cell["grade_id"], ok=ok, error=error)
    say(event="done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
