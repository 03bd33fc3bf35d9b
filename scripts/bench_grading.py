#!/usr/bin/env python
"""Throughput of ``course grade`` next to plain ``nbgrader autograde``, on the same class.

    .venv/bin/python scripts/bench_grading.py [--students N] [--chapter 01_word2vec]

Builds a class of N students for one chapter (solutions and released stubs,
alternately), then in one run times:

1. plain nbgrader 0.9 from its command line, as an instructor would use it without this
   course: ``nbgrader generate_assignment``, ``nbgrader autograde`` (one student after
   another, in one process, kernels with the instructor's rights) and ``nbgrader
   generate_feedback``, all at ``COURSE_SCALE=tiny``;
2. ``course grade`` (sandboxed kernels, clean re-run of the tests, tamper checks,
   sanitised feedback), with its default workers (one per CPU).

Prints the wall time and students per minute of each and the ratio, and checks that
both gave the same scores. Nothing here is a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def build_class(chapter: str, n: int, subs: Path):
    import nbformat

    from course.markup import strip_hidden_tests
    from course.release import chapters, source_notebook, student_notebook

    ch = next(c for c in chapters() if c.slug == chapter)
    source = source_notebook(ch)
    solution = copy.deepcopy(source)
    for cell in solution.cells:
        cell.source = strip_hidden_tests(cell.source)
    kinds = {}
    for i in range(n):
        student = f"student{i + 1:02d}"
        kind = "solution" if i % 2 == 0 else "stubs"
        nb = solution if kind == "solution" else student_notebook(ch)
        dest = subs / student / f"{chapter}.ipynb"
        dest.parent.mkdir(parents=True)
        nbformat.write(nb, dest)
        kinds[student] = kind
    return kinds, source


def plain_nbgrader(chapter: str, source, subs: Path, work: Path, timeout: int) -> tuple[float, dict]:
    import nbformat

    course = work / "plain"
    (course / "source" / chapter).mkdir(parents=True)
    nbformat.write(source, course / "source" / chapter / f"{chapter}.ipynb")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.Execute.timeout = {timeout}\n")
    for student in sorted(p.name for p in subs.iterdir()):
        dest = course / "submitted" / student / chapter
        dest.mkdir(parents=True)
        shutil.copy(subs / student / f"{chapter}.ipynb", dest / f"{chapter}.ipynb")
    env = {**os.environ, "COURSE_SCALE": "tiny", "MPLBACKEND": "Agg", "TQDM_DISABLE": "1",
           # nbgrader runs `alembic` from PATH: the virtual environment's bin first
           "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                    os.environ.get("PATH", "")])}
    nbgrader = [sys.executable, "-m", "nbgrader"]
    start = time.perf_counter()
    for args in (["generate_assignment", chapter, "--force"],
                 ["autograde", chapter, "--force"],
                 ["generate_feedback", chapter, "--force"]):
        proc = subprocess.run(nbgrader + args, cwd=course, env=env, capture_output=True,
                              text=True)
        ok = (0, 1) if args[0] == "autograde" else (0,)  # autograde: 1 = a student failed
        if proc.returncode not in ok:
            sys.exit(f"nbgrader {args[0]} failed:\n{proc.stderr[-2000:]}")
    seconds = time.perf_counter() - start
    db = sqlite3.connect(course / "gradebook.db")
    scores = {}
    for student, score in db.execute(
            "select s.student_id, sum(coalesce(g.manual_score, g.auto_score, 0)) "
            "from grade g join submitted_notebook n on g.notebook_id = n.id "
            "join submitted_assignment s on n.assignment_id = s.id group by s.student_id"):
        scores[student] = float(score)
    return seconds, scores


def course_grade(subs: Path, out: Path, timeout: int, workers: int | None) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "course.cli", "grade", str(subs), "--out", str(out),
           "--timeout", str(timeout)]
    if workers:
        cmd += ["--workers", str(workers)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"course grade failed:\n{proc.stderr[-2000:]}")
    print(proc.stdout.split("\nstudent ")[0][-400:])
    with open(out / "gradebook.csv", newline="") as fh:
        scores = {r["student"]: float(r["score"] or 0) for r in csv.DictReader(fh)}
    return seconds, scores


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--students", type=int, default=6)
    p.add_argument("--chapter", default="01_word2vec")
    p.add_argument("--timeout", type=int, default=120)
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        subs = work / "submissions"
        kinds, source = build_class(args.chapter, args.students, subs)
        print(f"class: {args.students} students of {args.chapter} "
              f"({sum(k == 'solution' for k in kinds.values())} solutions, the rest stubs); "
              f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}", flush=True)
        plain_s, plain = plain_nbgrader(args.chapter, source, subs, work, args.timeout)
        print(f"plain nbgrader: {plain_s:.1f} s", flush=True)
        ours_s, ours = course_grade(subs, work / "out", args.timeout, args.workers)
        print(f"course grade:   {ours_s:.1f} s", flush=True)
        n = args.students
        print()
        print("| pipeline | wall time | students / minute |")
        print("| --- | --- | --- |")
        print(f"| plain `nbgrader generate_assignment` + `autograde` + `generate_feedback` "
              f"| {plain_s:.1f} s | {60 * n / plain_s:.2f} |")
        print(f"| `course grade` (sandboxed, verified, {os.cpu_count()} CPUs) "
              f"| {ours_s:.1f} s | {60 * n / ours_s:.2f} |")
        print(f"\nratio (course grade / plain nbgrader, students per minute): "
              f"{plain_s / ours_s:.2f}")
        same = all(abs(plain.get(s, -1) - ours.get(s, -2)) < 1e-9 for s in kinds)
        print(f"same scores: {same} (plain {plain}, course grade {ours})")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
