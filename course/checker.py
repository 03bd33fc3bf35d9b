"""`course check NN`: run a chapter's visible checks on a learner's notebook.

The checks run in a child process with a time limit, so an infinite loop in learner
code ends with a message naming the exercise instead of a hung terminal. The notebook is
read the way grading's clean re-run reads it (`course.loader.walk`: definitions only, in
order), and the test cells come from the released (student) notebook, never from the
learner's copy, so an edited test cell cannot pass itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from course import loader, markup, release
from course.env import child_env
from course.errors import Exit


def _run_cell(cell: loader.Cell, ns: dict, load_errors: list[str]) -> tuple[bool, str]:
    try:
        loader.run_test(cell.source, ns, f"check cell {cell.name}")
    except NotImplementedError:
        return False, "not implemented yet: the stub still raises NotImplementedError"
    except AssertionError as err:
        return False, str(err) or "an assertion failed (no message)"
    except NameError as err:
        hint = (f" (notebook problems: {'; '.join(load_errors)})" if load_errors
                else " (is it defined in a code cell?)")
        return False, f"NameError: {err}{hint}"
    except Exception as err:  # learner code may raise anything: report it as a failure
        return False, f"{type(err).__name__}: {err}"
    return True, ""


def results(notebook, tests: Mapping[str, str],
            on_start: Callable[[str], None] | None = None) -> Iterator[tuple[str, bool, str]]:
    """(exercise, passed, message) for each test, run on the notebook's definitions in order.

    `on_start(exercise)` is called before each test runs, so that a hang can be blamed on it.
    """
    ns, errors = loader.namespace(), []
    for cell in loader.walk(loader.cells(notebook, tests), ns, errors):
        if on_start is not None:
            on_start(cell.name)
        yield (cell.name, *_run_cell(cell, ns, errors))


def worker(notebook: str, chapter: str, report: str) -> None:
    """Child process: append a JSON line to `report` as each visible test starts and ends."""
    tests = loader.test_cells(release.released(chapter)[1])
    with open(report, "a") as out:
        def say(**line) -> None:
            out.write(json.dumps(line) + "\n")
            out.flush()

        for exercise, ok, message in results(notebook, tests,
                                             lambda e: say(exercise=e, started=True)):
            say(exercise=exercise, ok=ok, message=message)


def check(chapter: str, notebook: str | None = None, *, timeout: float = 300) -> int:
    ch, handed_out = release.released(chapter)
    path = Path(notebook) if notebook else _default_notebook(ch)
    if not path.is_file():
        print(f"error: no notebook at {path}; pass --notebook PATH", file=sys.stderr)
        return Exit.USAGE
    loader.read(path)  # one clear line (LoadError) if it is not a notebook at all
    points = markup.test_points(handed_out)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.jsonl"
        report.touch()
        cmd = [sys.executable, "-m", "course.checker", str(path.resolve()), ch.slug, str(report)]
        try:
            proc = subprocess.run(cmd, env=child_env(scale="tiny", figures=False),
                                  timeout=timeout, capture_output=True, text=True)
            crashed, timed_out = proc.returncode != 0, False
            stderr = proc.stderr.strip().splitlines()[-1:] if crashed else []
        except subprocess.TimeoutExpired:
            crashed, timed_out, stderr = True, True, []
        rows = [json.loads(line) for line in report.read_text().splitlines()]
    found = {r["exercise"]: r for r in rows if "ok" in r}
    running = [r["exercise"] for r in rows if r.get("started") and r["exercise"] not in found]
    for exercise in running:
        why = (f"timed out after {timeout:.0f} s (an infinite loop?)" if timed_out
               else f"the check process died: {' '.join(stderr) or 'no message'}")
        found[exercise] = {"ok": False, "message": why}
    if crashed and not running and not rows:
        print(f"error: could not run the checks: {' '.join(stderr) or 'timed out while loading'}",
              file=sys.stderr)
        return Exit.USAGE
    return _print_table(ch, path, points, found)


def _default_notebook(ch: release.Chapter) -> Path:
    """chapters/NN_slug.ipynb in the course tree; in the student edition, the notebook of that
    name in the current folder (or its chapters/ folder)."""
    if release.has_sources():
        return ch.student_path
    here = Path.cwd() / f"{ch.slug}.ipynb"
    beside = Path.cwd() / "chapters" / f"{ch.slug}.ipynb"
    return beside if beside.is_file() and not here.is_file() else here


def _print_table(ch, path, points, results) -> int:
    print(f"chapter {ch.slug}: checking {path}")
    width = max(len(e) for e in points)
    print(f"  {'exercise'.ljust(width)}  result   points")
    got = 0.0
    for exercise, worth in points.items():
        r = results.get(exercise, {"ok": False, "message": "not run (an earlier check stopped the run)"})
        got += worth if r["ok"] else 0
        status = "pass" if r["ok"] else "FAIL"
        print(f"  {exercise.ljust(width)}  {status}     {_pts(worth if r['ok'] else 0)}/{_pts(worth)}")
        if r["message"]:
            print(textwrap.indent(r["message"], " " * (width + 6)))
    total = sum(points.values())
    passed = sum(1 for e in points if results.get(e, {}).get("ok"))
    print(f"  {passed}/{len(points)} exercises pass, {_pts(got)}/{_pts(total)} points (visible "
          "checks only; grading adds hidden tests)")
    return Exit.OK if passed == len(points) else Exit.FAILED


def _pts(value: float) -> str:
    return f"{value:g}"


if __name__ == "__main__":
    worker(*sys.argv[1:4])
