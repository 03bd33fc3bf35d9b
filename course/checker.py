"""`course check NN`: run a chapter's visible checks on a learner's notebook.

The checks run in a child process with a time limit, so an infinite loop in learner
code ends with a message naming the exercise instead of a hung terminal. The test
cells come from the released (student) notebook, never from the learner's copy, so an
edited test cell cannot pass itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from course import build, loader


def _run_cell(source: str, namespace: dict) -> tuple[bool, str]:
    try:
        exec(compile(source, "<check cell>", "exec"), namespace)
    except NotImplementedError:
        return False, "not implemented yet: the stub still raises NotImplementedError"
    except AssertionError as err:
        return False, str(err) or "an assertion failed (no message)"
    except NameError as err:
        loaded = namespace.get("__load_errors__") or []
        hint = f" (notebook problems: {'; '.join(loaded)})" if loaded else " (is it defined in a code cell?)"
        return False, f"NameError: {err}{hint}"
    except Exception as err:  # learner code may raise anything: report it as a failure
        return False, f"{type(err).__name__}: {err}"
    return True, ""


def worker(notebook: str, chapter: str, report: str) -> None:
    """Child process: load definitions, run each visible test cell, append JSON lines to `report`."""
    ch = build.find(chapter)
    cells = loader.test_cells(build.student_notebook(ch))
    namespace = loader.load_definitions(notebook)
    with open(report, "a") as out:
        for exercise, source in cells.items():
            out.write(json.dumps({"exercise": exercise, "started": True}) + "\n")
            out.flush()
            ok, message = _run_cell(source, dict(namespace))
            out.write(json.dumps({"exercise": exercise, "ok": ok, "message": message}) + "\n")
            out.flush()


def check(chapter: str, notebook: str | None = None, *, timeout: float = 300) -> int:
    ch = build.find(chapter)
    path = Path(notebook) if notebook else ch.student_path
    if not path.is_file():
        print(f"error: no notebook at {path}; pass --notebook PATH", file=sys.stderr)
        return 2
    loader.read(path)  # one clear line (LoadError) if it is not a notebook at all
    points = {cid.removeprefix("check-"): c.metadata["nbgrader"]["points"]
              for c in build.source_notebook(ch).cells
              if (cid := c.metadata.get("nbgrader", {}).get("grade_id", "")).startswith("check-")}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.jsonl"
        report.touch()
        cmd = [sys.executable, "-m", "course.checker", str(path.resolve()), ch.slug, str(report)]
        env = {**os.environ, "COURSE_SCALE": "tiny", "MPLBACKEND": "Agg"}
        try:
            proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
            crashed = proc.returncode != 0
            stderr = proc.stderr.strip().splitlines()[-1:] if crashed else []
        except subprocess.TimeoutExpired:
            crashed, stderr = True, []
            timed_out = True
        else:
            timed_out = False
        rows = [json.loads(line) for line in report.read_text().splitlines()]
    results = {r["exercise"]: r for r in rows if "ok" in r}
    running = [r["exercise"] for r in rows if r.get("started") and r["exercise"] not in results]
    for exercise in running:
        why = (f"timed out after {timeout:.0f} s (an infinite loop?)" if timed_out
               else f"the check process died: {' '.join(stderr) or 'no message'}")
        results[exercise] = {"ok": False, "message": why}
    if crashed and not running and not rows:
        print(f"error: could not run the checks: {' '.join(stderr) or 'timed out while loading'}",
              file=sys.stderr)
        return 2
    return _print_table(ch, path, points, results)


def _print_table(ch, path, points, results) -> int:
    print(f"chapter {ch.slug}: checking {path}")
    width = max(len(e) for e in points)
    print(f"  {'exercise'.ljust(width)}  result   points")
    got = 0
    for exercise, worth in points.items():
        r = results.get(exercise, {"ok": False, "message": "not run (an earlier check stopped the run)"})
        got += worth if r["ok"] else 0
        status = "pass" if r["ok"] else "FAIL"
        print(f"  {exercise.ljust(width)}  {status}     {worth if r['ok'] else 0}/{worth}")
        if r["message"]:
            print(textwrap.indent(r["message"], " " * (width + 6)))
    total = sum(points.values())
    passed = sum(1 for e in points if results.get(e, {}).get("ok"))
    print(f"  {passed}/{len(points)} exercises pass, {got}/{total} points (visible checks only; "
          "grading adds hidden tests)")
    return 0 if passed == len(points) else 1


if __name__ == "__main__":
    worker(*sys.argv[1:4])
