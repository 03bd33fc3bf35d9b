"""``course grade SUBMISSIONS_DIR --out DIR``: autograde a class with nbgrader, safely.

Input: ``SUBMISSIONS_DIR/<student>/<NN_slug>.ipynb`` (named like the released
notebooks). Output in ``DIR``:

- ``gradebook.csv``: one row per student per assignment (plus one per file that is not
  a known notebook): ``student, assignment, score, max_score, status, reason``;
  status is ``graded``, ``flagged`` (graded, but look at the reason) or ``failed``
  (not graded: the reason says why). Only this process writes it; an existing
  gradebook is kept as ``gradebook.csv.bak-<timestamp>``.
- ``feedback/<student>/<assignment>/<slug>.html``: nbgrader feedback with the hidden
  tests, their outputs and tracebacks stripped, outputs capped (a short page with the
  reason when the notebook could not be graded).
- ``logs/<student>/<assignment>.log``: nbgrader's log of each job, for the instructor.
- ``report.txt``: how students' code was isolated, the table and the counts.
- ``progress.jsonl``: one line per notebook as soon as it is graded; ``--resume`` keeps
  those whose file has not changed when a stopped run is started again.

Pipeline, all in a temporary nbgrader course directory outside the repository (mode
0700): the instructor's source notebooks (``course.build.source_notebook``) → ``nbgrader
generate_assignment`` once → vet each submission (``autograder.intake``: convert what
can be converted, restore test cells) → one job per (student, assignment), each in its
own copy of the course directory and gradebook database (no shared SQLite, so jobs run
in parallel, and a crash loses one job only) → ``nbgrader autograde``, whose kernel runs
in the sandbox (``autograder.sandbox``) → a clean sandboxed re-run of the graded tests
and tamper checks (``autograder.verify``, ``autograder.tamper``) that can only take
points away → scores read from that job's gradebook → ``nbgrader generate_feedback``.
Jobs run through a ``autograder.runner.Runner``. Students' code runs with
``COURSE_SCALE=tiny`` and ``timeout`` seconds per cell. GRADING.md says what is
isolated, how, and what is not.

Share ``feedback/`` with students, not ``logs/``: nbgrader's logs can quote test cells.
``COURSE_GRADE_KEEP=1`` keeps the temporary grading folder (its path is printed): each
``jobs/<id>-<assignment>/`` there is one student's nbgrader course directory, with
``nbgrader.log`` and ``result.json``; ``nbgrader_config.py`` at its top says the settings.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import html
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import nbformat

from autograder import sandbox
from autograder.intake import Item, grade_ids, scan, vet
from autograder.nbgrader_config import config_file_text, write_kernelspec
from autograder.runner import Job, Outcome, Runner, SubprocessRunner, grading_env

COLUMNS = ["student", "assignment", "score", "max_score", "status", "reason"]
STATUSES = ("graded", "flagged", "failed")


class GradeError(Exception):
    """A problem with the arguments: one line, no traceback, exit code 2."""


class SetupError(GradeError):
    """The course material could not be prepared for grading: exit code 1."""


def grade(
    submissions: Path,
    out: Path,
    *,
    timeout: int = 120,
    workers: int | None = None,
    sources: Mapping[str, nbformat.NotebookNode] | None = None,
    runner: Runner | None = None,
    allow_unisolated: bool = False,
    resume: bool = False,
) -> int:
    """Autograde every submission in ``submissions``; write the results in ``out``.

    ``timeout``: seconds per notebook cell. ``workers``: notebooks graded at once
    (default: one per CPU, as memory allows). ``sources``: assignment slug -> instructor source notebook
    (default: every chapter of ``course.build``). ``runner``: how each job runs (default:
    a local process, ``autograder.runner.SubprocessRunner``). Students' code runs in the
    sandbox of ``autograder.sandbox``; where it cannot be isolated, grading is refused
    unless ``allow_unisolated``. ``resume``: keep the results of an earlier, interrupted
    run in ``out`` (``progress.jsonl``) for the submissions that have not changed.

    Returns the exit code: 0 when the gradebook was written (whatever the students'
    results; failed submissions are rows in it), 2 for bad arguments, 1 when the course
    material itself could not be prepared for grading or student code cannot be isolated,
    130 when interrupted (Ctrl-C: no gradebook is written; the notebooks graded so far are
    kept in ``progress.jsonl`` for ``resume``).
    """
    try:
        return _grade(Path(submissions), Path(out), timeout=timeout, workers=workers,
                      sources=sources, runner=runner, allow_unisolated=allow_unisolated,
                      resume=resume)
    except GradeError as e:
        print(f"course grade: error: {e}", file=sys.stderr)
        return 1 if isinstance(e, SetupError) else 2
    except KeyboardInterrupt:
        print("course grade: interrupted; no gradebook was written (the notebooks graded "
              "so far are kept: rerun with --resume)", file=sys.stderr)
        return 130


def _check_args(submissions: Path, out: Path, timeout, workers) -> None:
    if not submissions.exists():
        raise GradeError(f"submissions folder not found: {submissions}")
    if not submissions.is_dir():
        raise GradeError(f"not a folder: {submissions} (expected SUBMISSIONS_DIR/<student>/...)")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise GradeError(f"--timeout must be a whole number of seconds >= 1, not {timeout!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise GradeError(f"--workers must be a whole number >= 1, not {workers!r}")
    if out.exists() and not out.is_dir():
        raise GradeError(f"--out is a file, not a folder: {out}")
    sub, dest = submissions.resolve(), out.resolve()
    if dest == sub or sub in dest.parents:
        raise GradeError(f"--out must not be inside the submissions folder: {out}")


def _course_chapters():
    try:
        from course.build import chapters, source_notebook
    except ImportError as e:
        raise SetupError(f"cannot load the course chapters (course.build): {e}") from None
    return {ch.slug: ch for ch in chapters()}, source_notebook


def _grade(submissions, out, *, timeout, workers, sources, runner, allow_unisolated,
           resume) -> int:
    _check_args(submissions, out, timeout, workers)
    if sources is not None:
        source_map = {str(k): v for k, v in sources.items()}
        slugs = sorted(source_map)
        get_source = source_map.__getitem__
    else:
        chapters, source_notebook = _course_chapters()
        slugs = sorted(chapters)
        cache: dict[str, nbformat.NotebookNode] = {}

        def get_source(slug):
            if slug not in cache:
                try:
                    cache[slug] = source_notebook(chapters[slug])
                except Exception as e:  # a malformed source: say which and why, no traceback
                    raise SetupError(f"cannot build the source notebook of {slug}: {e}") from None
            return cache[slug]

    try:
        students, items = scan(submissions, slugs)
    except OSError as e:
        raise GradeError(f"cannot read the submissions: {e}") from None
    if not students:
        if items:
            raise GradeError(f"no student folders in {submissions} "
                             "(expected SUBMISSIONS_DIR/<student>/<NN_slug>.ipynb)")
        raise GradeError(f"the submissions folder is empty: {submissions}")

    # every student gets a row for every assignment that anyone submitted
    assignments = sorted({i.assignment for i in items if i.status == "pending"})
    have = {(i.student, i.assignment) for i in items}
    for student in students:
        for a in assignments:
            if (student, a) not in have:
                items.append(Item(student, a, None, "failed", "no submission"))
        if not any(i.student == student for i in items):
            items.append(Item(student, "", None, "failed", "no notebooks in the folder"))

    source_nbs = {a: _checked_source(a, get_source(a)) for a in assignments}
    max_scores = {a: _max_score(nb) for a, nb in source_nbs.items()}
    for item in items:
        if item.status == "pending":
            vet(item, source_nbs[item.assignment])

    todo = [i for i in items if i.status == "pending"]
    isolation = _isolation(allow_unisolated) if todo else ("skip", "no student code to run")
    progress = Progress(out, source_nbs, timeout)
    rows: dict[int, list[str]] = {}
    if resume:
        for item in todo:
            row = progress.done(item)
            if row is not None:
                rows[id(item)] = row
        if rows:
            print(f"course grade: resuming: {len(rows)} notebook(s) already graded", flush=True)
    else:
        progress.reset()
    todo = [i for i in todo if id(i) not in rows]
    outcomes: dict[int, Outcome] = {}
    nworkers = 0
    keep = os.environ.get("COURSE_GRADE_KEEP", "") not in ("", "0")
    root = Path(tempfile.mkdtemp(prefix="course-grade-"))
    os.chmod(root, 0o700)  # students' code never sees it (sandbox), nor do other users
    # the kernels' sockets: a short path (Unix socket paths are limited), outside `root`
    # so that a sandbox, which sees its own socket folder, learns nothing about `root`
    sockets = Path(tempfile.mkdtemp(prefix="cg-"))
    started = time.perf_counter()
    try:
        if todo:
            nworkers = workers or default_workers(len(todo))
            env = grading_env(threads=max(1, (os.cpu_count() or 1) // nworkers),
                              jupyter_path=root / "jupyter")
            _prepare(root, source_nbs, timeout, env)
            jobs = _make_jobs(root, todo, timeout, source_nbs, isolation[0], sockets)
            runner = runner or SubprocessRunner(env, logdir=root / "workers")
            by_key = {id(i): i for i in todo}

            def finished(key: int, outcome: Outcome) -> None:
                item = by_key[key]
                row = _row(item, outcome, max_scores, timeout)
                rows[key] = row
                try:
                    _write_feedback(out, item, outcome, row)
                    progress.record(item, row)
                except OSError as e:
                    raise GradeError(f"cannot write the results in {out}: {e}") from None

            try:
                outcomes = _run_jobs(runner, jobs, nworkers, finished)
            finally:
                runner.close()
        wall = time.perf_counter() - started
        table = _all_rows(items, rows, max_scores)
        try:
            _write_outputs(out, items, table, assignments, rows)
            _write_report(out, table, isolation, outcomes, wall, nworkers)
        except OSError as e:
            raise GradeError(f"cannot write the results in {out}: {e}") from None
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
        if keep:
            print(f"course grade: kept the grading folder {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    _print_table(table)
    _print_summary(table, outcomes, wall, out, nworkers)
    print(_isolation_line(isolation))
    return 0


def _isolation(allow_unisolated: bool) -> tuple[str, str]:
    """(sandbox mode, what it isolates); refuse when nothing can be isolated."""
    mode, text = sandbox.probe()
    if mode is not None:
        return mode, text
    if not allow_unisolated:
        raise SetupError(f"students' code cannot be isolated here ({text}); refusing to grade "
                         "(--allow-unisolated grades anyway, with their code running as you)")
    print(f"course grade: WARNING: students' code is NOT isolated ({text}): it runs with "
          "your rights (--allow-unisolated)", file=sys.stderr)
    return "none", f"NOT ISOLATED ({text}); limits only"


def _isolation_line(isolation: tuple[str, str]) -> str:
    mode, text = isolation
    if mode == "skip":
        return f"isolation: {text}"
    if mode == "none":
        return f"WARNING: students' code ran without isolation: {text}"
    return f"isolation: {text}"


class Progress:
    """``out/progress.jsonl``: one line per notebook graded, written as each one finishes,
    so that an interrupted run resumes (``--resume``) without regrading them."""

    def __init__(self, out: Path, source_nbs: dict, timeout: int):
        self.path = out / "progress.jsonl"
        self.salt = {a: hashlib.sha256(json.dumps(nb, sort_keys=True).encode()).hexdigest()
                     for a, nb in source_nbs.items()}
        self.timeout = timeout
        self._done: dict[tuple[str, str], dict] | None = None

    def key(self, item: Item) -> str:
        h = hashlib.sha256(item.path.read_bytes() if item.path else b"")
        h.update(f"|{item.assignment}|{self.salt.get(item.assignment)}|{self.timeout}".encode())
        return h.hexdigest()

    def _load(self) -> dict:
        if self._done is None:
            self._done = {}
            if self.path.exists():
                for line in self.path.read_text(encoding="utf-8").splitlines():
                    try:
                        entry = json.loads(line)
                        self._done[(entry["student"], entry["assignment"])] = entry
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short when the run was stopped
        return self._done

    def done(self, item: Item) -> list[str] | None:
        entry = self._load().get((item.student, item.assignment))
        if entry and entry.get("key") == self.key(item) and len(entry.get("row", [])) == 6:
            return [str(x) for x in entry["row"]]
        return None

    def reset(self) -> None:
        if self.path.exists():
            self.path.unlink()
        self._done = {}

    def record(self, item: Item, row: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"student": item.student, "assignment": item.assignment,
                           "key": self.key(item), "row": row})
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _checked_source(slug: str, nb) -> nbformat.NotebookNode:
    ids = grade_ids(nb)
    if not any(kind == "test" for kind in ids.values()):
        raise SetupError(f"the source notebook of {slug} has no graded test cells")
    return nb


def _max_score(nb) -> float:
    total = 0.0
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            total += float(meta.get("points", 0) or 0)
    return total


def _prepare(root: Path, source_nbs: dict, timeout: int, env: dict) -> None:
    """The template course directory: kernelspec, sources, gradebook with the assignments."""
    write_kernelspec(root / "jupyter")
    (root / "nbgrader_config.py").write_text(config_file_text(root, timeout=timeout))
    for slug, nb in source_nbs.items():
        dest = root / "source" / slug / f"{slug}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
    cmd = [sys.executable, "-m", "autograder.worker", "prepare", str(root), *source_nbs]
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True,
                              timeout=600)
    except subprocess.TimeoutExpired:
        raise SetupError("nbgrader generate_assignment did not finish in 600 s") from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SetupError(f"could not prepare the assignments for nbgrader: {detail}")


def _make_jobs(root: Path, todo: list[Item], timeout: int, source_nbs: dict,
               mode: str, sockets_root: Path) -> dict[int, Job]:
    jobs = {}
    code_cells = {a: sum(c.cell_type == "code" for c in nb.cells) for a, nb in source_nbs.items()}
    readonly = sandbox.readonly_paths()
    for n, item in enumerate(todo):
        internal = f"s{n + 1:04d}"
        jobdir = root / "jobs" / f"{internal}-{item.assignment}"
        jobdir.mkdir(parents=True)
        shutil.copy2(root / "gradebook.db", jobdir / "gradebook.db")
        shutil.copytree(root / "source" / item.assignment, jobdir / "source" / item.assignment)
        dest = jobdir / "submitted" / internal / item.assignment / f"{item.assignment}.ipynb"
        dest.parent.mkdir(parents=True)
        nbformat.write(item.notebook, dest)
        ncells = max(code_cells[item.assignment], len(item.notebook.cells))
        deadline = job_deadline(timeout, ncells)
        (jobdir / "sbx").mkdir()
        limits = sandbox.Limits(cpu_seconds=int(deadline))
        sockets = sockets_root / internal  # the kernel's connection file and Unix sockets
        box = sandbox.Spec(mode, str(jobdir / "sbx"), sandbox.job_uid(n), readonly,
                           [str(sockets)], limits)
        spec = {"assignment": item.assignment, "student": internal, "notebook": item.assignment,
                "timeout": timeout, "scrub": _scrub_paths(), "sandbox": asdict(box)}
        (jobdir / "job.json").write_text(json.dumps(spec, indent=1))
        jobs[id(item)] = Job(item.student, item.assignment, internal, jobdir, deadline)
    return jobs


def default_workers(njobs: int) -> int:
    """One notebook per CPU, as many as memory allows (a torch kernel ~1.5 GB at most)."""
    n = min(njobs, os.cpu_count() or 1)
    try:
        import psutil

        n = min(n, int(psutil.virtual_memory().available // (1.5 * 2**30)))
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        pass
    return max(1, n)


def job_deadline(timeout: int, ncells: int) -> float:
    """Seconds one job may take in all: never stops a notebook whose cells keep to the limit.

    (nbgrader stops each cell at ``timeout``; this only catches what it cannot stop.)
    """
    return 150.0 + timeout * (2 * ncells + 2)  # the notebook, then its clean re-run


def _scrub_paths() -> dict[str, str]:
    """Instructor paths that must not show in feedback -> placeholders."""
    from autograder.runner import PACKAGE_ROOT

    paths = {
        str(PACKAGE_ROOT): "<course>",
        sys.prefix: "<python>",
        sys.base_prefix: "<python>",
        tempfile.gettempdir(): "<tmp>",
        str(Path.cwd()): "<cwd>",
    }
    home = os.path.expanduser("~")
    if home not in ("", "/", "~"):
        paths[home] = "~"
    return {p: v for p, v in paths.items() if p and p != "/"}


def _run_jobs(runner: Runner, jobs: dict[int, Job], nworkers: int,
              finished=None) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    total = len(jobs)
    pool = ThreadPoolExecutor(max_workers=nworkers)
    try:
        futures = {pool.submit(runner.run, job): key for key, job in jobs.items()}
        for done, future in enumerate(as_completed(futures), start=1):
            key = futures[future]
            job = jobs[key]
            try:
                outcome = future.result()
            except Exception as e:  # a runner bug must not lose the other students
                outcome = Outcome(False, reason=f"grading error: {type(e).__name__}: {e}")
            outcomes[key] = outcome
            if finished is not None:
                finished(key, outcome)
            what = (f"{outcome.score:g}/{outcome.max_score:g}" if outcome.ok
                    else f"failed: {outcome.reason}")
            print(f"[{done}/{total}] {job.student} {job.assignment}: {what} "
                  f"({outcome.seconds:.1f} s)", flush=True)
    except KeyboardInterrupt:
        runner.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def _row(item: Item, outcome: Outcome | None, max_scores: dict, timeout) -> list[str]:
    """The gradebook row of a graded (pending) item."""
    max_score = max_scores.get(item.assignment)
    outcome = outcome or Outcome(False, reason="not graded")
    if not outcome.ok:
        return [item.student, item.assignment, "0", _fmt(max_score), "failed", outcome.reason]
    reasons, flags = [], list(item.flags)
    integrity = outcome.integrity or {}
    tamper = integrity.get("tamper", []) + integrity.get("tamper_dynamic", [])
    if tamper:
        flags.insert(0, "tampering with the grading, scored 0: " + "; ".join(tamper[:3]))
    if outcome.stopped:
        where = outcome.stopped.get("grade_id") or f"cell {outcome.stopped.get('cell', 0) + 1}"
        flags.append(f"{outcome.stopped.get('reason', 'the kernel died')} in {where}: the "
                     "later cells did not run and their tests scored 0")
    withheld = integrity.get("withheld", [])
    if withheld and not tamper:
        flags.append("passed in the notebook but not in the clean re-run, points withheld: "
                     + "; ".join(f"{w['grade_id']} ({w['error']})" for w in withheld))
    if integrity.get("suspect") and not tamper:
        flags.append("review: the code reaches around the grader: "
                     + "; ".join(integrity["suspect"][:3]))
    if outcome.timeouts:
        reasons.append(f"ran past the {timeout} s cell limit: " + ", ".join(outcome.timeouts))
    if any(n.get("kind") == "leak" for n in outcome.notes):
        flags.append("an output showed hidden test code (removed from the feedback)")
    manual = [c["grade_id"] for c in outcome.cells
              if c.get("needs_manual_grade") and c["grade_id"] not in item.missing]
    if manual:
        flags.append("nbgrader asks for manual grading of: " + ", ".join(manual))
    if outcome.feedback_error:
        flags.append(f"no feedback: {outcome.feedback_error}")
    if max_score is not None and abs(outcome.max_score - max_score) > 1e-9:
        flags.append(f"max score {outcome.max_score:g} differs from the source's {max_score:g}")
    status = "flagged" if flags else "graded"
    return [item.student, item.assignment, _fmt(outcome.score), _fmt(outcome.max_score), status,
            "; ".join(flags + reasons)]


def _all_rows(items: list[Item], rows: dict[int, list[str]], max_scores: dict) -> list:
    table = []
    for item in items:
        if item.status == "failed":
            max_score = max_scores.get(item.assignment)
            score = None if max_score is None else 0.0
            table.append([item.student, item.assignment, _fmt(score), _fmt(max_score), "failed",
                          item.reason])
        else:
            table.append(rows.get(id(item)) or [item.student, item.assignment, "0",
                                                _fmt(max_scores.get(item.assignment)),
                                                "failed", "not graded"])
    table.sort(key=lambda r: (r[0] == "", r[0], r[1]))
    return table


def _feedback_path(out: Path, item: Item) -> Path:
    return out / "feedback" / item.student / item.assignment / f"{item.assignment}.html"


def _write_feedback(out: Path, item: Item, outcome: Outcome | None, row: list[str]) -> None:
    dest = _feedback_path(out, item)
    if dest.parent.exists():
        shutil.rmtree(dest.parent)  # no stale feedback from an earlier run
    dest.parent.mkdir(parents=True, exist_ok=True)
    if outcome is not None and outcome.feedback is not None and outcome.feedback.exists():
        shutil.copyfile(outcome.feedback, dest)
    else:
        dest.write_text(_failure_page(item.assignment, row[4], row[5]), encoding="utf-8")
    if outcome is not None and outcome.log is not None and outcome.log.exists():
        log = out / "logs" / item.student / f"{item.assignment}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(outcome.log, log)


def _write_outputs(out: Path, items: list[Item], table, assignments: list[str],
                   graded: dict[int, list[str]]) -> None:
    """The gradebook (the previous one kept as a backup) and the failed items' pages."""
    out.mkdir(parents=True, exist_ok=True)
    gradebook = out / "gradebook.csv"
    if gradebook.exists():
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = out / f"gradebook.csv.bak-{stamp}"
        n = 1
        while backup.exists():
            backup = out / f"gradebook.csv.bak-{stamp}-{n}"
            n += 1
        shutil.copy2(gradebook, backup)
        print(f"course grade: kept the previous gradebook as {backup}", file=sys.stderr)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(table)
    tmp = out / "gradebook.csv.tmp"
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(gradebook)

    by_key = {(r[0], r[1]): r for r in table}
    for item in items:
        if not item.student or item.assignment not in assignments or id(item) in graded:
            continue
        _write_feedback(out, item, None, by_key[(item.student, item.assignment)])


def _write_report(out: Path, table, isolation, outcomes, wall: float, nworkers: int) -> None:
    """``out/report.txt``: the table, the counts and how students' code was isolated."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        print(_isolation_line(isolation))
        print()
        _print_table(table, width=None)
        _print_summary(table, outcomes, wall, out, nworkers)
    (out / "report.txt").write_text(buf.getvalue(), encoding="utf-8")


def _failure_page(assignment: str, status: str, reason: str) -> str:
    title = html.escape(f"{assignment}.ipynb")
    if status == "failed":
        body = (f"<p>This notebook could not be graded automatically.</p>"
                f"<p><b>Reason:</b> {html.escape(reason)}</p>"
                "<p>Ask your instructor, or fix the problem and submit again.</p>")
    else:
        body = (f"<p>This notebook was graded, but no feedback page could be made.</p>"
                f"<p>{html.escape(reason)}</p>")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
            f"<body><h3>{title}</h3>{body}</body></html>\n")


def _print_table(rows, width: int | None = 70) -> None:
    headers = ["student", "assignment", "score", "status", "reason"]
    table = [[r[0] or "-", r[1] or "-", f"{r[2]}/{r[3]}" if r[3] else (r[2] or "-"), r[4],
              _short(r[5], width) if width else r[5]] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line.rstrip())
    print("  ".join("-" * w for w in widths))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())


def _short(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _print_summary(rows, outcomes: dict[int, Outcome], wall: float, out: Path, nworkers) -> None:
    counts = {s: sum(r[4] == s for r in rows) for s in STATUSES}
    print(", ".join(f"{counts[s]} {s}" for s in STATUSES) + f"; gradebook: {out / 'gradebook.csv'}"
          f", feedback: {out / 'feedback'}")
    ran = [o for o in outcomes.values() if o.seconds]
    if ran:
        per_job = sum(o.seconds for o in ran) / len(ran)
        auto = [o.autograde_seconds for o in ran if o.autograde_seconds]
        auto_txt = f", autograde {sum(auto) / len(auto):.1f} s" if auto else ""
        print(f"time: {len(ran)} notebook(s) in {wall:.1f} s with {nworkers} worker(s); "
              f"per notebook {per_job:.1f} s{auto_txt}")
