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
0700): the instructor's source notebooks (``course.release.source_notebook``) → ``nbgrader
generate_assignment`` once → vet each submission (``autograder.intake``: convert what
can be converted, restore test cells) → one job per (student, assignment), each in its
own copy of the course directory and gradebook database (no shared SQLite, so jobs run
in parallel, and a crash loses one job only) → ``nbgrader autograde``, whose kernel runs
in the sandbox (``autograder.sandbox``) → a clean sandboxed re-run of the graded tests
and tamper checks (``autograder.verify``, ``autograder.tamper``) that can only take
points away → scores read from that job's gradebook → ``nbgrader generate_feedback``.
Jobs run through a ``autograder.jobs.Runner``; what the processes say to each other is
``autograder.protocol`` (JobSpec, JobResult, Row). Students' code runs with
``COURSE_SCALE=tiny`` and ``timeout`` seconds per cell. GRADING.md says what is
isolated, how, and what is not.

Share ``feedback/`` with students, not ``logs/``: nbgrader's logs can quote test cells.
``COURSE_GRADE_KEEP=1`` keeps the temporary grading folder (its path is printed): each
``jobs/<id>-<assignment>/`` there is one student's nbgrader course directory, with
``job.json``, ``nbgrader.log`` and ``result.json``; ``nbgrader_config.py`` at its top says the settings.
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
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import nbformat

from autograder import protocol, sandbox
from autograder.intake import Item, scan, vet
from autograder.jobs import Job, Outcome, Runner, SubprocessRunner, failed, grading_env
from autograder.nbgrader_config import config_file_text, write_kernelspec
from autograder.protocol import STATUSES, JobSpec, Row, time_budget
from course import markup
from course.errors import CourseError, Exit, SetupError

COLUMNS = list(Row.COLUMNS)
Key = tuple[str, str]  # (student, assignment): how every item, job, outcome and row is found


class GradeError(CourseError):
    """A problem with the arguments: one line, no traceback, exit code 2."""


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
    (default: every chapter of ``course.release``). ``runner``: how each job runs (default:
    a local process, ``autograder.jobs.SubprocessRunner``). Students' code runs in the
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
    except CourseError as e:
        print(f"course grade: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("course grade: interrupted; no gradebook was written (the notebooks graded "
              "so far are kept: rerun with --resume)", file=sys.stderr)
        return Exit.INTERRUPTED


def _grade(submissions: Path, out: Path, *, timeout, workers, sources, runner,
           allow_unisolated, resume) -> int:
    # 1. what was handed in, vetted against the instructor's sources
    _check_args(submissions, out, timeout, workers)
    items, source_nbs = _intake(submissions, sources)
    max_scores = {a: markup.max_score(nb) for a, nb in source_nbs.items()}
    todo = [i for i in items if i.status == "pending"]
    isolation = _isolation(allow_unisolated) if todo else ("skip", "no student code to run")
    # 2. what an interrupted run already graded
    progress = Progress(out, source_nbs, timeout)
    rows = progress.resumed(todo) if resume else progress.reset()
    todo = [i for i in todo if i.key not in rows]
    # 3. grade the rest, saving each row and feedback page as its job ends
    started = time.perf_counter()
    nworkers = (workers or default_workers(len(todo))) if todo else 0

    def finished(item: Item, outcome: Outcome) -> None:
        rows[item.key] = _row(item, outcome, max_scores, timeout)
        try:
            _write_feedback(out, item, outcome, rows[item.key])
            progress.record(item, rows[item.key])
        except OSError as e:
            raise GradeError(f"cannot write the results in {out}: {e}") from None

    outcomes = _grade_jobs(todo, source_nbs, timeout, isolation[0], nworkers, runner,
                           finished) if todo else {}
    wall = time.perf_counter() - started
    # 4. the gradebook, the pages of what could not be graded, the report
    table = _table(items, rows, max_scores)
    try:
        _write_outputs(out, items, table, set(source_nbs), rows)
        _write_report(out, table, isolation, outcomes, wall, nworkers)
    except OSError as e:
        raise GradeError(f"cannot write the results in {out}: {e}") from None
    _print_table(table)
    _print_summary(table, outcomes, wall, out, nworkers)
    print(_isolation_line(isolation))
    return Exit.OK


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


# ---------------------------------------------------------------------------------------
# 1. intake


def _sources(sources: Mapping[str, nbformat.NotebookNode] | None
             ) -> tuple[list[str], Callable[[str], nbformat.NotebookNode]]:
    """(assignment slugs, slug -> instructor source notebook, built once when first asked)."""
    if sources is not None:
        source_map = {str(k): v for k, v in sources.items()}
        return sorted(source_map), source_map.__getitem__
    try:
        from course.release import chapters, source_notebook
    except ImportError as e:
        raise SetupError(f"cannot load the course chapters (course.release): {e}") from None
    by_slug = {ch.slug: ch for ch in chapters()}
    cache: dict[str, nbformat.NotebookNode] = {}

    def get(slug: str) -> nbformat.NotebookNode:
        if slug not in cache:
            try:
                cache[slug] = source_notebook(by_slug[slug])
            except Exception as e:  # a malformed source: say which and why, no traceback
                raise SetupError(f"cannot build the source notebook of {slug}: {e}") from None
        return cache[slug]

    return sorted(by_slug), get


def _intake(submissions: Path, sources) -> tuple[list[Item], dict[str, nbformat.NotebookNode]]:
    """One Item per (student, assignment) and per stray file, each vetted; and the sources
    of the assignments that anyone submitted."""
    slugs, get_source = _sources(sources)
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
    have = {i.key for i in items}
    for student in students:
        items += [Item(student, a, None, "failed", "no submission")
                  for a in assignments if (student, a) not in have]
        if not any(i.student == student for i in items):
            items.append(Item(student, "", None, "failed", "no notebooks in the folder"))
    source_nbs = {a: _checked_source(a, get_source(a)) for a in assignments}
    for item in items:
        if item.status == "pending":
            vet(item, source_nbs[item.assignment])
    return items, source_nbs


def _checked_source(slug: str, nb) -> nbformat.NotebookNode:
    if "test" not in markup.grade_ids(nb).values():
        raise SetupError(f"the source notebook of {slug} has no graded test cells")
    return nb


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
    if mode == "none":
        return f"WARNING: students' code ran without isolation: {text}"
    return f"isolation: {text}"


# ---------------------------------------------------------------------------------------
# 2. progress


class Progress:
    """``out/progress.jsonl``: one line per notebook graded, written as each one finishes,
    so that an interrupted run resumes (``--resume``) without regrading them."""

    def __init__(self, out: Path, source_nbs: dict, timeout: int):
        self.path = out / "progress.jsonl"
        self.salt = {a: hashlib.sha256(json.dumps(nb, sort_keys=True).encode()).hexdigest()
                     for a, nb in source_nbs.items()}
        self.timeout = timeout

    def fingerprint(self, item: Item) -> str:
        """The submission, its source and the time limit: a change in any one regrades it."""
        h = hashlib.sha256(item.path.read_bytes() if item.path else b"")
        h.update(f"|{item.assignment}|{self.salt.get(item.assignment)}|{self.timeout}".encode())
        return h.hexdigest()

    def _entries(self) -> dict[Key, dict]:
        entries = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    if entry.get("version") == protocol.VERSION:
                        entries[(entry["student"], entry["assignment"])] = entry
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # a line cut short when the run was stopped
        return entries

    def resumed(self, todo: list[Item]) -> dict[Key, Row]:
        """The rows already graded for these items (their files unchanged since)."""
        entries, rows = self._entries(), {}
        for item in todo:
            entry = entries.get(item.key)
            if entry and entry.get("fingerprint") == self.fingerprint(item):
                try:
                    rows[item.key] = protocol.decode(Row, entry["row"])
                except (TypeError, KeyError, ValueError):
                    continue
        if rows:
            print(f"course grade: resuming: {len(rows)} notebook(s) already graded", flush=True)
        return rows

    def reset(self) -> dict[Key, Row]:
        if self.path.exists():
            self.path.unlink()
        return {}

    def record(self, item: Item, row: Row) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"version": protocol.VERSION, "student": item.student,
                           "assignment": item.assignment, "fingerprint": self.fingerprint(item),
                           "row": asdict(row)})
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


# ---------------------------------------------------------------------------------------
# 3. jobs


def _grade_jobs(todo: list[Item], source_nbs: dict, timeout: int, mode: str, nworkers: int,
                runner: Runner | None, finished: Callable[[Item, Outcome], None]
                ) -> dict[Key, Outcome]:
    """Grade `todo` in a private temporary nbgrader course directory, `nworkers` at once."""
    keep = os.environ.get("COURSE_GRADE_KEEP", "") not in ("", "0")
    root = Path(tempfile.mkdtemp(prefix="course-grade-"))
    os.chmod(root, 0o700)  # students' code never sees it (sandbox), nor do other users
    # the kernels' sockets: a short path (Unix socket paths are limited), outside `root`
    # so that a sandbox, which sees its own socket folder, learns nothing about `root`
    sockets = Path(tempfile.mkdtemp(prefix="cg-"))
    try:
        env = grading_env(threads=max(1, (os.cpu_count() or 1) // nworkers),
                          jupyter_path=root / "jupyter")
        _prepare(root, source_nbs, timeout, env)
        jobs = _make_jobs(root, todo, timeout, source_nbs, mode, sockets)
        runner = runner or SubprocessRunner(env, logdir=root / "workers")
        items = {i.key: i for i in todo}
        try:
            return _run_jobs(runner, jobs, nworkers, lambda key, o: finished(items[key], o))
        finally:
            runner.close()
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
        if keep:
            print(f"course grade: kept the grading folder {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


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


def _code_cells(nb) -> int:
    return sum(c.cell_type == "code" for c in nb.cells)


def _make_jobs(root: Path, todo: list[Item], timeout: int, source_nbs: dict,
               mode: str, sockets_root: Path) -> dict[Key, Job]:
    """One self-contained nbgrader course directory per item, with its job.json."""
    jobs = {}
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
        source = source_nbs[item.assignment]
        budget = time_budget(timeout, max(_code_cells(source), _code_cells(item.notebook)),
                             tests=sum(markup.is_test(c) for c in source.cells))
        (jobdir / "sbx").mkdir()
        box = sandbox.Spec(mode, str(jobdir / "sbx"), sandbox.job_uid(n), readonly,
                           [str(sockets_root / internal)],  # the kernel's connection file, sockets
                           sandbox.Limits(cpu_seconds=int(budget.total)))
        protocol.write(jobdir / "job.json", JobSpec(internal, item.assignment, timeout, budget,
                                                   asdict(box), _scrub_paths()))
        jobs[item.key] = Job(item.student, item.assignment, internal, jobdir, budget.total)
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


def _scrub_paths() -> dict[str, str]:
    """Instructor paths that must not show in feedback -> placeholders."""
    from autograder.jobs import PACKAGE_ROOT

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


def _run_jobs(runner: Runner, jobs: dict[Key, Job], nworkers: int,
              finished: Callable[[Key, Outcome], None]) -> dict[Key, Outcome]:
    outcomes: dict[Key, Outcome] = {}
    pool = ThreadPoolExecutor(max_workers=nworkers)
    try:
        futures = {pool.submit(runner.run, job): key for key, job in jobs.items()}
        for done, future in enumerate(as_completed(futures), start=1):
            key = futures[future]
            try:
                outcome = future.result()
            except Exception as e:  # a runner bug must not lose the other students
                outcome = failed(f"grading error: {type(e).__name__}: {e}")
            outcomes[key] = outcome
            finished(key, outcome)
            r = outcome.result
            what = "{:g}/{:g}".format(*_autograded(r)) if outcome.ok else f"failed: {r.reason}"
            print(f"[{done}/{len(jobs)}] {key[0]} {key[1]}: {what} ({outcome.seconds:.1f} s)",
                  flush=True)
    except KeyboardInterrupt:
        runner.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes


# ---------------------------------------------------------------------------------------
# 4. rows, gradebook, feedback, report


def _row(item: Item, outcome: Outcome, max_scores: dict, timeout) -> Row:
    """The gradebook row of a graded (pending) item."""
    max_score = max_scores.get(item.assignment)
    r = outcome.result
    if not outcome.ok:
        return Row(item.student, item.assignment, 0.0, max_score, "failed", r.reason)
    flags = _flags(item, outcome, max_score)
    reasons = ([f"ran past the {timeout} s cell limit: " + ", ".join(r.timeouts)]
               if r.timeouts else [])
    written = [c for c in r.cells if c.grade_id.startswith(markup.WRITTEN)]
    if written:
        reasons.append("written answers to grade by hand: " + ", ".join(
            f"{c.grade_id} ({c.max_score:g} points)" for c in written))
    score, auto_max = _autograded(r)
    return Row(item.student, item.assignment, score, auto_max,
               "flagged" if flags else "graded", "; ".join(flags + reasons))


def _autograded(r) -> tuple[float, float]:
    """(score, max score) of the autograded cells: written answers are graded by hand, so
    they stay outside the gradebook's score (its reason names them)."""
    written = [c for c in r.cells if c.grade_id.startswith(markup.WRITTEN)]
    return (r.score - sum(c.score for c in written), r.max_score - sum(c.max_score for c in written))


def _flags(item: Item, outcome: Outcome, max_score: float | None) -> list[str]:
    """What a human should look at in a graded notebook, most serious first."""
    r, integrity = outcome.result, outcome.result.integrity
    flags = list(item.flags)
    if integrity.tampered:
        flags.insert(0, "tampering with the grading, scored 0: "
                     + "; ".join(integrity.tampered[:3]))
    if r.stopped:
        where = r.stopped.grade_id or f"cell {r.stopped.cell + 1}"
        flags.append(f"{r.stopped.reason} in {where}: the later cells did not run and their "
                     "tests scored 0")
    if integrity.withheld and not integrity.tampered:
        flags.append("passed in the notebook but not in the clean re-run, points withheld: "
                     + "; ".join(f"{w.grade_id} ({w.error})" for w in integrity.withheld))
    if integrity.suspect and not integrity.tampered:
        flags.append("review: the code reaches around the grader: "
                     + "; ".join(integrity.suspect[:3]))
    if any(n.kind == "leak" for n in r.notes):
        flags.append("an output showed hidden test code (removed from the feedback)")
    manual = [c.grade_id for c in r.cells if c.needs_manual_grade and c.grade_id not in item.missing
              and not c.grade_id.startswith(markup.WRITTEN)]
    if manual:
        flags.append("nbgrader asks for manual grading of: " + ", ".join(manual))
    if r.feedback_error:
        flags.append(f"no feedback: {r.feedback_error}")
    auto_max = _autograded(r)[1]
    if max_score is not None and abs(auto_max - max_score) > 1e-9:
        flags.append(f"max score {auto_max:g} differs from the source's {max_score:g}")
    return flags


def _table(items: list[Item], rows: dict[Key, Row], max_scores: dict) -> list[Row]:
    """Every item's row: graded, resumed, or failed before grading (with its reason)."""
    table = []
    for item in items:
        max_score = max_scores.get(item.assignment)
        if item.status == "failed":
            table.append(Row(item.student, item.assignment,
                             None if max_score is None else 0.0, max_score, "failed", item.reason))
        else:
            table.append(rows.get(item.key) or Row(item.student, item.assignment, 0.0, max_score,
                                                   "failed", "not graded"))
    table.sort(key=lambda r: (r.student == "", r.student, r.assignment))
    return table


def _feedback_path(out: Path, item: Item) -> Path:
    return out / "feedback" / item.student / item.assignment / f"{item.assignment}.html"


def _write_feedback(out: Path, item: Item, outcome: Outcome | None, row: Row) -> None:
    dest = _feedback_path(out, item)
    if dest.parent.exists():
        shutil.rmtree(dest.parent)  # no stale feedback from an earlier run
    dest.parent.mkdir(parents=True, exist_ok=True)
    if outcome is not None and outcome.feedback is not None and outcome.feedback.exists():
        shutil.copyfile(outcome.feedback, dest)
    else:
        dest.write_text(_failure_page(item.assignment, row.status, row.reason), encoding="utf-8")
    if outcome is not None and outcome.log is not None and outcome.log.exists():
        log = out / "logs" / item.student / f"{item.assignment}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(outcome.log, log)


def _write_outputs(out: Path, items: list[Item], table: list[Row], assignments: set[str],
                   graded: dict[Key, Row]) -> None:
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
    writer.writerows(r.cells() for r in table)
    tmp = out / "gradebook.csv.tmp"
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(gradebook)

    by_key = {r.key: r for r in table}
    for item in items:
        if item.student and item.assignment in assignments and item.key not in graded:
            _write_feedback(out, item, None, by_key[item.key])


def _write_report(out: Path, table: list[Row], isolation, outcomes, wall: float,
                  nworkers: int) -> None:
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


def _print_table(rows: list[Row], width: int | None = 70) -> None:
    headers = ["student", "assignment", "score", "status", "reason"]
    table = []
    for r in rows:
        student, assignment, score, max_score, status, reason = r.cells()
        table.append([student or "-", assignment or "-",
                      f"{score}/{max_score}" if max_score else (score or "-"), status,
                      _short(reason, width) if width else reason])
    widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h)
              for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())


def _short(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _print_summary(rows: list[Row], outcomes: dict[Key, Outcome], wall: float, out: Path,
                   nworkers) -> None:
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    print(", ".join(f"{counts[s]} {s}" for s in STATUSES) + f"; gradebook: {out / 'gradebook.csv'}"
          f", feedback: {out / 'feedback'}")
    ran = [o for o in outcomes.values() if o.seconds]
    if ran:
        per_job = sum(o.seconds for o in ran) / len(ran)
        auto = [o.result.seconds.autograde for o in ran if o.result.seconds.autograde]
        auto_txt = f", autograde {sum(auto) / len(auto):.1f} s" if auto else ""
        print(f"time: {len(ran)} notebook(s) in {wall:.1f} s with {nworkers} worker(s); "
              f"per notebook {per_job:.1f} s{auto_txt}")
