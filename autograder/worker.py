"""What runs inside one grading process (``python -m autograder.worker``).

``prepare ROOT ASSIGNMENT...``: ``nbgrader generate_assignment`` for each assignment
whose source notebook the caller wrote under ``ROOT/source/`` (this creates the
gradebook database that every grading job starts from).

``grade JOBDIR``: one student's one assignment in its own nbgrader course directory
(``JOBDIR``: ``job.json`` (a ``protocol.JobSpec``), ``gradebook.db``, ``source/``,
``submitted/``):
``nbgrader autograde`` (its kernel started through ``autograder.sandbox`` with the
job's ``sandbox`` spec, so it sees none of ``JOBDIR``) → read the scores from the
gradebook → ``check_integrity``: the static tamper scan and the clean sandboxed re-run
of the graded tests (``autograder.verify``); points they do not confirm are set to 0 in
the gradebook (nbgrader's manual score) → ``nbgrader generate_feedback`` (hidden tests
stripped, see ``autograder.feedback``) → a final check of the HTML. It writes
``JOBDIR/result.json`` (a ``protocol.JobResult``) and ``JOBDIR/nbgrader.log``. This process is trusted: it runs
with the instructor's rights and never executes student code itself.

``serve``: grade the job folders read from stdin, one per line, one after another in
this process (what ``autograder.runner.SubprocessRunner`` uses: nbgrader's import, a
few seconds, is paid once per worker instead of once per notebook).

All use nbgrader's Python API in this process, with the configuration from
``autograder.nbgrader_config`` only (no nbgrader_config.py of anyone's is read).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat

from autograder import protocol
from autograder.feedback import ANSI, check_html, scrub_text, secret_lines
from autograder.nbgrader_config import build_config
from autograder.protocol import CellGrade, Integrity, JobResult, JobSpec, Note, Stopped, Withheld
from course import markup

KERNEL_DIED = ("DeadKernelError", "Kernel died", "kernel died")
UNRESPONSIVE = ("UnresponsiveKernelError", "became unresponsive")


def _api(root: Path, timeout: int, **kwargs):
    from nbgrader.apps import NbGraderAPI

    logging.getLogger("traitlets").setLevel(logging.ERROR)
    config = build_config(root, timeout=timeout, **kwargs)
    api = NbGraderAPI(config=config)
    api.log.setLevel(logging.INFO)
    return api


def failure_reason(log: str, error: str, timeout: int = 0) -> str:
    """One line that says why nbgrader could not grade a submission."""
    text = ANSI.sub("", f"{log}\n{error}")
    if any(s in text for s in KERNEL_DIED):
        return ("the kernel died while running the notebook "
                "(os._exit, a crash, or running out of memory)")
    if any(s in text for s in UNRESPONSIVE):
        return "the kernel stopped responding (an endless loop that ignores interrupts?)"
    if "CellTimeoutError" in text:
        return (f"a cell ran past the {timeout} s limit and did not stop when interrupted "
                "(it ignores KeyboardInterrupt?)")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    boring = ("NbGraderException", "Traceback", "There was an error processing", "Please see")
    for pattern in (r"^[\w.]+(Error|Exception|Exit): .+", r"^\[ERROR\] .+"):
        hits = [ln for ln in lines if re.match(pattern, ln) and not any(b in ln for b in boring)]
        if hits:
            return "nbgrader: " + hits[-1].removeprefix("[ERROR] ")[:300]
    return "nbgrader could not grade the notebook (see the log)"


def prepare(root: Path, assignments: list[str]) -> int:
    api = _api(root, timeout=30)
    failed = 0
    for assignment in assignments:
        result = api.generate_assignment(assignment, force=True, create=True)
        log = (result.get("log") or "") + (result.get("error") or "")
        (root / f"generate_{assignment}.log").write_text(log)
        if not result.get("success"):
            failed += 1
            print(f"{assignment}: {failure_reason(log, '')}", file=sys.stderr)
    return 1 if failed else 0


def _read_grades(root: Path, spec: JobSpec, result: JobResult) -> None:
    """The scores nbgrader's gradebook holds for this job, into `result`."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "course") as gb:
        sub = gb.find_submission(spec.assignment, spec.student)
        result.cells = [CellGrade(g.name, float(g.score or 0.0), float(g.max_score or 0.0),
                                  bool(g.needs_manual_grade), notebook.name)
                        for notebook in sub.notebooks for g in notebook.grades]
        result.score, result.max_score = float(sub.score or 0.0), float(sub.max_score or 0.0)


def _timeouts(nb_path: Path) -> list[str]:
    """Grade ids (or cell numbers) of the cells that ran past the time limit."""
    if not nb_path.exists():
        return []
    nb = nbformat.read(nb_path, as_version=4)
    out = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError":
                out.append(markup.grade_id(cell) or f"cell {index + 1}")
                break
    return out


def _sandbox_env(spec: JobSpec) -> Path | None:
    """Point the kernel (and the clean re-run) at this job's sandbox; returns the folder
    for the kernel's connection file and Unix sockets (None: TCP, when not isolated)."""
    from autograder.sandbox import ENV_VAR

    box = spec.sandbox
    os.environ[ENV_VAR] = json.dumps(box)
    if box.get("mode") == "none" or not box.get("rw"):
        return None
    run = Path(box["rw"][0])  # made by the parent, short: Unix socket paths are limited
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(run)
    return run


def rerun_cells(nb) -> list[dict]:
    """The code cells of an autograded notebook as ``autograder.verify`` takes them."""
    return [{"kind": "test" if markup.is_test(c) else "code",
             "grade_id": markup.grade_id(c) if markup.is_test(c) else None, "source": c.source}
            for c in nb.cells if c.cell_type == "code"]


def verify(cells: list[dict], timeout: int, deadline: float) -> dict:
    """Run ``autograder.verify`` in the sandbox: {"tests": {grade_id: (ok, error)},
    "tamper": [...], "complete": bool, "problem": str}."""
    import secrets
    import subprocess

    from autograder.sandbox import command

    token = secrets.token_hex(16)
    payload = json.dumps({"token": token, "timeout": timeout, "cells": cells})
    out = {"tests": {}, "tamper": [], "complete": False, "problem": ""}
    try:
        proc = subprocess.run(command([sys.executable, "-m", "autograder.verify"]),
                              input=payload, capture_output=True, text=True, timeout=deadline,
                              start_new_session=True)
        stdout, code = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        code = None
        out["problem"] = f"the clean re-run ran past {deadline:.0f} s"
    for line in stdout.splitlines():
        tok, _, rest = line.partition(" ")
        if tok != token:
            continue
        event = json.loads(rest)
        if event["event"] == "test":
            out["tests"][event["grade_id"]] = (bool(event["ok"]), event.get("error", ""))
        elif event["event"] == "tamper":
            out["tamper"] = list(event.get("what", []))
        elif event["event"] == "done":
            out["complete"] = True
    if not out["complete"] and not out["tamper"] and not out["problem"]:
        out["problem"] = f"the clean re-run stopped early (exit code {code})"
    return out


def _apply_verdicts(root: Path, spec: JobSpec, scores: dict[str, float]) -> None:
    """Overrule nbgrader's automatic scores (grade id -> score) in this job's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "course") as gb:
        sub = gb.find_submission(spec.assignment, spec.student)
        for notebook in sub.notebooks:
            for g in notebook.grades:
                if g.name in scores:
                    g.manual_score = scores[g.name]
                    g.needs_manual_grade = False
        gb.db.commit()


def _student_cells(jobdir: Path, spec: JobSpec, nb) -> list[tuple[int, str]]:
    """(index, source) of the code the student wrote: not the test cells, and not the
    instructor's own code cells (an install cell...)."""
    source = jobdir / "source" / spec.assignment / f"{spec.assignment}.ipynb"
    given = set()
    if source.exists():
        given = {c.source.strip() for c in nbformat.read(source, as_version=4).cells
                 if c.cell_type == "code" and not markup.is_exercise(c)}
    return [(i, c.source) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and c.source.strip() not in given and not markup.is_test(c)]


def check_integrity(jobdir: Path, spec: JobSpec, autograded: Path, result: JobResult) -> None:
    """Static and clean-re-run tamper checks; withhold the points they do not confirm."""
    from autograder.tamper import static_findings

    nb = nbformat.read(autograded, as_version=4)
    findings = static_findings(_student_cells(jobdir, spec, nb))
    checked = Integrity(tamper=[str(f) for f in findings if f.kind == "tamper"],
                        suspect=[str(f) for f in findings if f.kind == "suspect"])
    passed = {c.grade_id for c in result.cells
              if c.max_score > 0 and c.score >= c.max_score - 1e-9}
    # the clean re-run confirms what passed; for a suspect notebook it also runs when
    # nothing passed, so that a patch of the checks is named as such
    if (passed or checked.suspect) and not checked.tamper:
        v = verify(rerun_cells(nb), spec.timeout, deadline=spec.budget.rerun)
        checked.verify_problem = v["problem"]
        if v["tamper"]:
            checked.tamper_dynamic = v["tamper"]
        else:
            for gid in sorted(passed):
                ok, error = v["tests"].get(gid, (False, v["problem"] or "no verdict"))
                if not ok:
                    checked.withheld.append(Withheld(gid, error))
    if checked.tampered:
        scores = {c.grade_id: 0.0 for c in result.cells}
    else:
        scores = {w.grade_id: 0.0 for w in checked.withheld}
    if scores:
        _apply_verdicts(jobdir, spec, scores)
        _read_grades(jobdir, spec, result)
    result.integrity = checked


def _stopped(autograded: Path) -> Stopped | None:
    stopped = nbformat.read(autograded, as_version=4).metadata.get("course_grader", {}).get("stopped")
    return Stopped(stopped["cell"], stopped["reason"], stopped.get("grade_id")) if stopped else None


def _scrub(jobdir: Path, spec: JobSpec) -> dict[str, str]:
    scrub = dict(spec.scrub)
    scrub[str(jobdir.resolve())] = "<grader>"
    if str(jobdir) != str(jobdir.resolve()):
        scrub[str(jobdir)] = "<grader>"
    return scrub


def grade(jobdir: Path) -> int:
    """Grade one job folder; the result lands in JOBDIR/result.json whatever happens."""
    spec = protocol.read(JobSpec, jobdir / "job.json")
    result, logs = JobResult(), []
    notes_file = jobdir / "feedback_notes.jsonl"
    scrub = _scrub(jobdir, spec)
    run = _sandbox_env(spec)
    api = _api(jobdir, timeout=spec.timeout, notes_file=notes_file, scrub=scrub, kernel_dir=run)
    try:
        autograded = _autograde(api, jobdir, spec, result, logs)
    finally:
        if run is not None:
            shutil.rmtree(run, ignore_errors=True)
    if autograded is not None:
        _feedback(api, jobdir, spec, autograded, result, logs, notes_file, scrub)
    return _finish(jobdir, result, logs)


def _autograde(api, jobdir: Path, spec: JobSpec, result: JobResult, logs: list[str]) -> Path | None:
    """nbgrader autograde, the scores, then the integrity checks; the autograded notebook."""
    t0 = time.perf_counter()
    auto = api.autograde(spec.assignment, spec.student, force=True, create=True)
    result.seconds.autograde = round(time.perf_counter() - t0, 2)
    logs.append("== autograde ==\n" + (auto.get("log") or "") + (auto.get("error") or ""))
    autograded = jobdir / "autograded" / spec.student / spec.assignment / f"{spec.assignment}.ipynb"
    if not auto.get("success") or not autograded.exists():
        result.reason = failure_reason(auto.get("log") or "", auto.get("error") or "", spec.timeout)
        return None
    _read_grades(jobdir, spec, result)
    result.timeouts = _timeouts(autograded)
    result.stopped = _stopped(autograded)
    t0 = time.perf_counter()
    check_integrity(jobdir, spec, autograded, result)
    result.seconds.verify = round(time.perf_counter() - t0, 2)
    result.ok = True
    return autograded


def _feedback(api, jobdir: Path, spec: JobSpec, autograded: Path, result: JobResult,
              logs: list[str], notes_file: Path, scrub: dict[str, str]) -> None:
    """nbgrader generate_feedback, then the last check that no hidden test shows in it."""
    t0 = time.perf_counter()
    fb = api.generate_feedback(spec.assignment, spec.student, force=True)
    result.seconds.feedback = round(time.perf_counter() - t0, 2)
    logs.append("== generate_feedback ==\n" + (fb.get("log") or "") + (fb.get("error") or ""))
    if notes_file.exists():
        result.notes = [Note(**json.loads(ln)) for ln in notes_file.read_text().splitlines() if ln]
    html_path = jobdir / "feedback" / spec.student / spec.assignment / f"{spec.assignment}.html"
    if not fb.get("success") or not html_path.exists():
        result.feedback_error = failure_reason(fb.get("log") or "", fb.get("error") or "")
        return
    page = scrub_text(html_path.read_text(encoding="utf-8"), scrub)
    problem = check_html(page, secret_lines(nbformat.read(autograded, as_version=4)))
    if problem:
        html_path.unlink()
        result.feedback_error = f"feedback withheld: {problem}"
    else:
        html_path.write_text(page, encoding="utf-8")
        result.feedback = str(html_path.relative_to(jobdir))


def _finish(jobdir: Path, result: JobResult, logs: list[str]) -> int:
    (jobdir / "nbgrader.log").write_text("\n".join(logs), encoding="utf-8")
    protocol.write(jobdir / "result.json", result)
    return 0


def serve() -> int:
    """Grade the job folders read from stdin, one per line; answer "done JOBDIR" on stdout.

    Paying nbgrader's import once per process instead of once per notebook saves a few
    seconds a notebook. Stray prints go to stderr: stdout carries only the answers.
    """
    import traceback

    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        jobdir = Path(line.rstrip("\n"))
        if not line.strip():
            continue
        try:
            grade(jobdir)
        except Exception as e:  # one job's failure must not end the others
            _finish(jobdir, JobResult(reason=f"grading error: {type(e).__name__}: {e}"),
                    [traceback.format_exc()])
        answers.write(f"done {jobdir}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "prepare":
        return prepare(Path(argv[1]), argv[2:])
    if len(argv) == 2 and argv[0] == "grade":
        return grade(Path(argv[1]))
    if argv == ["serve"]:
        return serve()
    print("usage: python -m autograder.worker prepare ROOT ASSIGNMENT... | grade JOBDIR | serve",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
