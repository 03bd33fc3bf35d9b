"""`course grade`: nbgrader autograding of a folder of submissions (autograder.grade).

Most tests share one grading run of a tiny two-exercise source notebook (built here, so
they do not depend on any chapter) over a class of students who between them submit
every kind of file an instructor meets. The last test does the real chapter-1 round
trip (release -> submit -> autograde -> feedback -> export) when its source exists.
"""

from __future__ import annotations

import copy
import csv
import os
import time
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from autograder import sandbox
from autograder.feedback import html_text
from autograder.grade import COLUMNS
from autograder.grade import grade as _grade
from autograder.protocol import Budget
from course import leaks, markup
from course.release import chapters as course_chapters
from tests.demo_notebooks import released, stubs, two_exercises

REPO = Path(__file__).resolve().parent.parent
MARKER = "HIDDEN-MARKER-7f3a9c"  # appears only inside the hidden tests
SLUG = "01_demo"

# These tests are about nbgrader bookkeeping, not isolation (tests/test_adversarial.py):
# where this machine cannot isolate student code, they grade without it, and say so.
UNISOLATED = sandbox.probe()[0] is None
if UNISOLATED:
    warnings.warn(f"grading tests run WITHOUT isolation here: {sandbox.probe()[1]}",
                  stacklevel=1)


def grade(*args, **kwargs):
    kwargs.setdefault("allow_unisolated", UNISOLATED)
    return _grade(*args, **kwargs)


def source_notebook() -> nbformat.NotebookNode:
    """An instructor source notebook in the shape course.release makes: 2 exercises, 5 points."""
    return two_exercises("A demo chapter", {
        "add": ('assert add(1, 2) == 3, "add(1, 2) should be 3"',
                f'assert add(-1, 1) == 0, "{MARKER} add"'),
        "square": ('assert square(3) == 9, "square(3) should be 9"',
                   f'assert square(-2) == 4, "{MARKER} square"')})



def with_code(nb, name: str, body: str):
    """The solution with function `name` replaced by `body` (a student's attempt)."""
    nb = released(nb)
    for cell in nb.cells:
        if cell.source.startswith(f"def {name}("):
            cell.source = body
    return nb


def write(path: Path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def feedback_files(out: Path) -> list[Path]:
    return [p for p in (out / "feedback").rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One grading run over a class with every kind of submission."""
    tmp = tmp_path_factory.mktemp("grade")
    subs, out = tmp / "submissions", tmp / "out"
    src = source_notebook()
    solution = released(src)

    alice = copy.deepcopy(solution)  # the solution, and it shows the grading scale
    alice.cells.insert(2, new_code_cell('import os\nprint("scale=" + os.environ["COURSE_SCALE"])'))
    write(subs / "alice" / f"{SLUG}.ipynb", alice)
    write(subs / "bob" / f"{SLUG}.ipynb", stubs(src))
    # passes the visible check of `add`, fails its hidden test
    write(subs / "carol" / f"{SLUG}.ipynb",
          with_code(src, "add", "def add(a, b):\n    return abs(a) + b"))
    (subs / "dave").mkdir(parents=True)
    (subs / "dave" / f"{SLUG}.ipynb").write_text('{"cells": [}')  # broken JSON
    write(subs / "erin" / "homework.ipynb", solution)  # misnamed
    (subs / "frank").mkdir()
    (subs / "frank" / f"{SLUG}.ipynb").write_bytes(b"")  # empty
    (subs / "grace").mkdir()
    (subs / "grace" / f"{SLUG}.ipynb").write_bytes(bytes(range(256)) * 4)  # binary
    heidi = copy.deepcopy(solution)  # tries to print the hidden tests from the history
    heidi.cells.append(new_code_cell("print(_ih)\nprint(In[-3])"))
    heidi.cells.append(new_markdown_cell("### BEGIN HIDDEN TESTS (typed by the student)"))
    write(subs / "heidi" / f"{SLUG}.ipynb", heidi)
    write(subs / "ivan" / f"{SLUG} (1).ipynb", solution)  # a browser's renamed copy
    # `add` never returns: the cell is stopped at the time limit, the rest still runs
    write(subs / "judy" / f"{SLUG}.ipynb",
          with_code(src, "add", "import time\ntime.sleep(600)\ndef add(a, b):\n    return a + b"))

    # the kernel dies: the cells before it keep their points, the others are graded
    write(subs / "kim" / f"{SLUG}.ipynb", with_code(src, "add", "import os\nos._exit(1)"))
    # ignores the interrupt at the time limit: the notebook stops there
    write(subs / "nia" / f"{SLUG}.ipynb", with_code(
        src, "add", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "time.sleep(600)"))
    liam = copy.deepcopy(solution)  # deleted a graded test cell
    liam.cells = [c for c in liam.cells if not c.source.startswith("assert square")]
    write(subs / "liam" / f"{SLUG}.ipynb", liam)

    out.mkdir()
    (out / "gradebook.csv").write_text("an earlier gradebook\n")
    start = time.perf_counter()
    rc = grade(subs, out, timeout=8, workers=2, sources={SLUG: src})
    seconds = time.perf_counter() - start
    with open(out / "gradebook.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    print(f"\ngraded the demo class in {seconds:.1f} s")
    return {"rc": rc, "out": out, "rows": rows, "tmp": tmp, "subs": subs}


def row(graded, student: str, assignment: str = SLUG) -> dict:
    hits = [r for r in graded["rows"] if r["student"] == student and r["assignment"] == assignment]
    assert len(hits) == 1, f"expected one row for {student}/{assignment}: {graded['rows']}"
    return hits[0]


def test_exit_code_and_columns(graded):
    assert graded["rc"] == 0
    with open(graded["out"] / "gradebook.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == COLUMNS == ["student", "assignment", "score", "max_score", "status", "reason"]
    for r in graded["rows"]:
        assert r["status"] in ("graded", "flagged", "failed"), r


def test_solution_gets_full_marks(graded):
    r = row(graded, "alice")
    assert (r["score"], r["max_score"], r["status"], r["reason"]) == ("5", "5", "graded", "")


def test_stubs_get_zero(graded):
    r = row(graded, "bob")
    assert (r["score"], r["max_score"], r["status"]) == ("0", "5", "graded")


def test_hidden_test_failure_costs_its_points(graded):
    r = row(graded, "carol")
    assert (r["score"], r["status"]) == ("3", "graded")


def test_bad_files_fail_with_a_reason(graded):
    dave = row(graded, "dave")
    assert dave["status"] == "failed" and "invalid JSON" in dave["reason"]
    assert dave["max_score"] == "5" and dave["score"] == "0"
    erin = row(graded, "erin", "homework.ipynb")
    assert erin["status"] == "failed" and "unrecognised file name" in erin["reason"]
    assert f"{SLUG}.ipynb" in erin["reason"]
    assert row(graded, "erin")["reason"] == "no submission"
    assert row(graded, "frank")["reason"] == "empty file"
    grace = row(graded, "grace")
    assert grace["status"] == "failed" and "binary" in grace["reason"]


def test_renamed_copy_is_graded_and_flagged(graded):
    r = row(graded, "ivan")
    assert (r["score"], r["status"]) == ("5", "flagged")
    assert f"{SLUG} (1).ipynb" in r["reason"]


def test_a_cell_past_the_time_limit_is_stopped_and_the_rest_runs(graded):
    r = row(graded, "judy")
    assert (r["score"], r["status"]) == ("3", "graded")
    assert "8 s cell limit" in r["reason"]


def test_dead_kernel_keeps_the_rest_of_the_class_and_is_flagged(graded):
    r = row(graded, "kim")  # died in the first exercise: no test had passed yet
    assert (r["score"], r["max_score"], r["status"]) == ("0", "5", "flagged")
    assert "the kernel died in exercise-add" in r["reason"]
    page = html_text((graded["out"] / "feedback" / "kim" / SLUG / f"{SLUG}.html").read_text())
    assert "the kernel died while running this cell" in page


def test_a_cell_that_ignores_the_interrupt_stops_the_notebook_there(graded):
    r = row(graded, "nia")
    assert (r["score"], r["status"]) == ("0", "flagged")
    assert "the kernel stopped responding in exercise-add" in r["reason"]


def test_deleted_test_cell_is_restored_and_flagged(graded):
    r = row(graded, "liam")
    assert (r["score"], r["status"]) == ("5", "flagged")
    assert "check-square (deleted)" in r["reason"]


def test_one_row_per_student_and_assignment(graded):
    keys = [(r["student"], r["assignment"]) for r in graded["rows"]]
    assert len(keys) == len(set(keys))
    students = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
                "judy", "kim", "liam", "nia"}
    assert {s for s, a in keys if a == SLUG} == students


def test_feedback_never_shows_hidden_tests(graded):
    files = feedback_files(graded["out"])
    assert len(files) == 13  # everyone has a 01_demo row, and a page that explains it
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert MARKER not in text, path
        assert "BEGIN HIDDEN TESTS" not in text, path


def test_feedback_of_a_failing_hidden_test_says_so_without_details(graded):
    page = html_text((graded["out"] / "feedback" / "carol" / SLUG / f"{SLUG}.html").read_text())
    assert "A hidden test in this cell failed" in page
    assert "add(-1, 1)" not in page


def test_feedback_keeps_the_visible_check_error(graded):
    page = html_text((graded["out"] / "feedback" / "bob" / SLUG / f"{SLUG}.html").read_text())
    assert "NotImplementedError" in page
    assert "this cell, line 1" in page
    assert "Score: 0.0 / 5.0" in page


def test_printing_the_input_history_is_removed_and_flagged(graded):
    r = row(graded, "heidi")
    assert (r["score"], r["status"]) == ("5", "flagged")
    assert "hidden test code" in r["reason"]
    page = html_text((graded["out"] / "feedback" / "heidi" / SLUG / f"{SLUG}.html").read_text())
    assert "output removed by the grader" in page


def test_feedback_has_no_instructor_paths(graded):
    paths = [str(REPO), str(graded["tmp"]), "/tmp/course-grade-"]
    for path in feedback_files(graded["out"]):
        text = path.read_text(encoding="utf-8", errors="replace")
        for p in paths:
            assert p not in text, (path, p)


def test_students_code_runs_at_tiny_scale(graded):
    page = html_text((graded["out"] / "feedback" / "alice" / SLUG / f"{SLUG}.html").read_text())
    assert "scale=tiny" in page


def test_failed_submission_gets_a_feedback_page_with_the_reason(graded):
    page = html_text((graded["out"] / "feedback" / "dave" / SLUG / f"{SLUG}.html").read_text())
    assert "could not be graded" in page and "invalid JSON" in page


def test_earlier_gradebook_is_kept(graded):
    backups = list(graded["out"].glob("gradebook.csv.bak-*"))
    assert len(backups) == 1
    assert backups[0].read_text() == "an earlier gradebook\n"


def test_submissions_are_not_touched(graded):
    names = sorted(str(p.relative_to(graded["subs"])) for p in graded["subs"].rglob("*"))
    assert all("autograded" not in n and "feedback" not in n for n in names)


# -- intake and the clean re-run on their own (no nbgrader run) ------------------------

def _with_meta(source: str, meta: dict | None):
    return new_code_cell(source, metadata={"nbgrader": copy.deepcopy(meta)} if meta else {})


def test_duplicated_and_unknown_nbgrader_cells_become_ordinary_cells():
    """What nbgrader would refuse the notebook for: one cell per source grade id stays
    tracked, the others keep their code as ordinary cells, and the flags say which."""
    from autograder.intake import Item, vet

    src = source_notebook()
    nb = released(src)
    meta = {markup.grade_id(c): c.metadata["nbgrader"] for c in src.cells if markup.grade_id(c)}
    check_square = next(c.source for c in nb.cells if c.source.startswith("assert square"))
    nb.cells.insert(2, _with_meta("def add(a, b):\n    # YOUR CODE HERE\n    raise "
                                  "NotImplementedError()", meta["exercise-add"]))  # cell 3
    nb.cells.append(_with_meta(check_square, meta["check-square"]))  # cell 8: a pasted copy
    nb.cells.append(_with_meta("x = 1", {**meta["check-add"], "grade_id": "cell-1f2e"}))
    nb.cells.append(_with_meta("y = 2", {"solution": True, "schema_version": 3}))
    check_add = next(c.source for c in nb.cells if c.source.startswith("assert add"))
    nb.cells.append(_with_meta(check_add, meta["check-add"]))  # cell 11: pasted at the end
    texts = [c.source for c in nb.cells]
    item = Item("s", SLUG, notebook=nb)
    vet(item, src)
    assert item.flags == [
        "cell 9 had unknown grade id cell-1f2e: treated as an ordinary cell",
        "cell 10 had nbgrader metadata without a grade id: treated as an ordinary cell",
        "two cells had grade id exercise-add: kept cell 4 (not the stub); "
        "cell 3 treated as an ordinary cell",
        "two cells had grade id check-add: kept cell 5 (its place among the graded cells); "
        "cell 11 treated as an ordinary cell",
        "two cells had grade id check-square: kept cell 7 (the first copy); "
        "cell 8 treated as an ordinary cell"]
    cells = item.notebook.cells
    assert [c.source for c in cells] == texts  # nothing the student wrote is lost
    ids = [markup.grade_id(c) for c in cells]
    assert sorted(i for i in ids if i) == sorted(meta)
    assert (ids[3], ids[4], ids[6]) == ("exercise-add", "check-add", "check-square")
    assert not any("nbgrader" in cells[i].metadata for i in (2, 7, 8, 9, 10))


def test_the_clean_rerun_loads_what_the_functions_read_and_names_what_it_could_not():
    """`WORDS = sorted(...)` is run because `g` reads it; `STOP = eval(...)` is not (the
    static scan flags eval), and the failing test says so."""
    import json
    import subprocess
    import sys

    cells = [{"kind": "code", "source": "STOP = eval('{1}')\nWORDS = sorted({'b', 'a'})\n"
                                        "NOT_READ = print('side effect')\n"
                                        "def f(w):\n    return w in STOP\n"
                                        "def g():\n    return WORDS == ['a', 'b']"},
             {"kind": "test", "grade_id": "check-f", "source": "assert f(1)"},
             {"kind": "test", "grade_id": "check-g", "source": "assert g()\n"
                                                               "assert 'NOT_READ' not in dir()"}]
    payload = json.dumps({"token": "T", "timeout": 20, "cells": cells})
    proc = subprocess.run([sys.executable, "-m", "autograder.verify"], input=payload,
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    events = {e.get("grade_id"): e for e in (json.loads(line[2:]) for line in
                                              proc.stdout.splitlines() if line.startswith("T "))}
    assert events[None] == {"event": "done"}, proc.stderr[-2000:]
    assert events["check-g"]["ok"] is True, events
    assert events["check-f"]["ok"] is False
    assert events["check-f"]["error"] == (
        "NameError: name 'STOP' is not defined (STOP is set at top level by "
        "`STOP = eval('{1}')`, which the clean re-run did not run: the grader does not run "
        "code that calls eval())")


def test_a_job_past_its_deadline_is_stopped_with_its_kernel(tmp_path, monkeypatch):
    import psutil

    import autograder.grade as grade_module

    monkeypatch.setattr(grade_module, "time_budget",
                        lambda timeout, code_cells, tests: Budget(4.0, 4.0, 4.0))
    tag = f"grade-test-{os.getpid()}-{time.time_ns()}"
    monkeypatch.setenv("COURSE_GRADE_TEST_TAG", tag)  # the kernel inherits it
    src = source_notebook()
    write(tmp_path / "subs" / "olga" / f"{SLUG}.ipynb",
          with_code(src, "add", "import time\ntime.sleep(600)"))
    rc = grade(tmp_path / "subs", tmp_path / "out", timeout=300, sources={SLUG: src})
    assert rc == 0
    with open(tmp_path / "out" / "gradebook.csv", newline="") as fh:
        (r,) = list(csv.DictReader(fh))
    assert r["status"] == "failed" and "4 s limit" in r["reason"], r

    def ours(p):
        try:
            return p.environ().get("COURSE_GRADE_TEST_TAG") == tag
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False

    left = [p for p in psutil.process_iter() if p.pid != os.getpid() and ours(p)]
    assert not left, [p.cmdline() for p in left]


@pytest.mark.parametrize("case", ["missing", "file", "empty", "no-students", "bad-timeout",
                                  "out-inside"])
def test_bad_arguments_give_one_line_and_nonzero_exit(case, tmp_path, capsys):
    subs, out = tmp_path / "subs", tmp_path / "out"
    kwargs = {}
    if case == "file":
        subs.write_text("x")
    elif case in ("empty", "bad-timeout", "out-inside", "no-students"):
        subs.mkdir()
        if case == "no-students":
            write(subs / f"{SLUG}.ipynb", source_notebook())
        if case in ("bad-timeout", "out-inside"):
            write(subs / "alice" / f"{SLUG}.ipynb", source_notebook())
        if case == "bad-timeout":
            kwargs["timeout"] = 0
        if case == "out-inside":
            out = subs / "results"
    rc = grade(subs, out, sources={SLUG: source_notebook()}, **kwargs)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("course grade: error:"), err
    assert "Traceback" not in err[0]
    assert not (out / "gradebook.csv").exists()


DEMO_MYST = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
---

# A demo chapter

```{code-cell} ipython3
:exercise: add

def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION
```

```{code-cell} ipython3
:check: add
:points: 2

assert add(1, 2) == 3, "add(1, 2) should be 3"
### BEGIN HIDDEN TESTS
assert add(-1, 1) == 0, "MARKER add"
### END HIDDEN TESTS
```

**Question 1 (3 points).** Why is addition commutative?

+++ {"written": "commutative", "points": 3}

### BEGIN SOLUTION
**Model answer.** RUBRIC-TEXT-42

**Rubric.** 3 points: a reason.
### END SOLUTION
""".replace("MARKER", MARKER)


def test_default_sources_come_from_course_build(tmp_path, monkeypatch):
    """grade() without `sources` grades against course.release's chapters (a scratch course)."""
    import course.release as release

    (tmp_path / "course" / "solutions").mkdir(parents=True)
    (tmp_path / "course" / "solutions" / f"{SLUG}.md").write_text(DEMO_MYST)
    monkeypatch.setattr(release, "ROOT", tmp_path / "course")
    (ch,) = release.chapters()
    subs, out = tmp_path / "submissions", tmp_path / "out"
    write(subs / "solution" / f"{SLUG}.ipynb", released(release.source_notebook(ch)))
    write(subs / "stubs" / f"{SLUG}.ipynb", release.student_notebook(ch))
    assert grade(subs, out, timeout=30) == 0
    with open(out / "gradebook.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert (rows["solution"]["score"], rows["solution"]["max_score"]) == ("2", "2")
    assert (rows["stubs"]["score"], rows["stubs"]["status"]) == ("0", "graded")
    # the written answer is graded by hand: outside the score, named in the reason, not flagged
    assert rows["solution"]["status"] == "graded", rows["solution"]
    assert "written answers to grade by hand: written-commutative (3 points)" in rows["solution"]["reason"]
    for path in feedback_files(out):
        assert MARKER not in path.read_text(), path
    stub_feedback = next(p for p in feedback_files(out) if "stubs" in p.parts).read_text()
    assert "RUBRIC-TEXT-42" not in stub_feedback and "YOUR ANSWER HERE" in stub_feedback


# -- the real chapter: release -> submit -> autograde -> feedback -> export -------------

@pytest.mark.parametrize("ch", course_chapters(), ids=lambda ch: ch.slug)
def test_chapter_round_trip(ch, tmp_path):
    """Every real chapter: the solution gets full marks, the released stubs zero, and no
    hidden-test line reaches the feedback."""
    from course.release import source_notebook, student_notebook

    source = source_notebook(ch)
    solution = released(source)
    visible = "\n".join(cell.source for cell in solution.cells)
    lines = [line for cell in source.cells for line in markup.hidden_text(cell.source)]
    assert lines, f"{ch.slug} has no hidden tests"
    # the hidden lines a student must never see: long enough to be specific, and not also
    # in a visible cell or in the course's public code (which tracebacks quote)
    public = "\n".join(p.read_text() for pkg in ("autograder", "course")
                       for p in (REPO / pkg).rglob("*.py"))
    hidden = {ln for ln in lines if len(ln) >= 12 and ln not in visible and ln not in public}
    assert hidden
    subs, out = tmp_path / "submissions", tmp_path / "out"
    write(subs / "solution" / f"{ch.slug}.ipynb", solution)
    write(subs / "stubs" / f"{ch.slug}.ipynb", student_notebook(ch))
    start = time.perf_counter()
    rc = grade(subs, out, timeout=120)
    seconds = time.perf_counter() - start
    assert rc == 0
    with open(out / "gradebook.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    print(f"\n{ch.slug}: graded 2 notebooks in {seconds:.1f} s in all "
          f"({os.cpu_count()} CPUs): {rows}")
    sol, stub = rows["solution"], rows["stubs"]
    assert float(sol["max_score"]) > 0
    assert sol["status"] == "graded" and sol["score"] == sol["max_score"], sol
    assert stub["status"] == "graded" and float(stub["score"]) == 0.0, stub
    for path in feedback_files(out):
        text = html_text(path.read_text(encoding="utf-8"))
        assert "BEGIN HIDDEN TESTS" not in text, path
        for line in hidden:
            assert line not in text, (path, line)
    # the stubs' feedback is what any student sees of the chapter: no line of an answer at all
    stub_pages = [p for p in feedback_files(out) if "stubs" in p.parts]
    assert stub_pages and leaks.scan(stub_pages, leaks.course_secrets()) == []
