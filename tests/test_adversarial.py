"""`course grade` against broken and hostile submissions (issue 5; see GRADING.md).

One grading run of a class (module fixture) where bystanders -- a solution, a stub, a
half-right notebook -- sit beside submissions that attack the grader: read and
overwrite instructor files and other students' work, wipe gradebooks, look for hidden
tests, kill the kernel, flood the output, exhaust resources, patch the checks in every
way the issue lists, and edit or delete the test cells; plus malformed files. Every
case asserts its exact row, and the bystanders' rows must equal those of a run where
they were graded alone.

Everything here needs the sandbox (``autograder.sandbox``): where this machine cannot
isolate student code, the tests that need it are skipped and say why.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder import sandbox
from autograder.feedback import html_text
from autograder.grade import grade
from tests.demo_notebooks import released, two_exercises

REPO = Path(__file__).resolve().parent.parent
MARKER = "HIDDEN-MARKER-adv-51c2"
SLUG = "01_adv"
MODE, WHY = sandbox.probe()
needs_sandbox = pytest.mark.skipif(
    MODE is None, reason=f"this machine cannot isolate student code: {WHY}")


def source_notebook():
    """Two exercises (add: 2 points, square: 3) whose tests call a visible check."""
    return two_exercises("Adversarial demo", {
        "add": ('expect_equal(add(2, 3), 5, "add(2, 3)")',
                f'expect_equal(add(-1, 4), 3, "{MARKER} add")'),
        "square": ('expect_equal(square(3), 9, "square(3)")',
                   f'expect_equal(square(-2), 4, "{MARKER} square")')},
        prelude="from autograder.checks._common import expect_equal\n\n")


SOLUTION = released(source_notebook())


def solution(*extra: str, add: str | None = None, square: str | None = None, at: int = 3):
    """The solution, with cells `extra` inserted at `at` and `add`/`square` replaced."""
    nb = copy.deepcopy(SOLUTION)
    for cell in nb.cells:
        if add is not None and cell.source.startswith("def add("):
            cell.source = add
        if square is not None and cell.source.startswith("def square("):
            cell.source = square
    for i, code in enumerate(extra):
        nb.cells.insert(at + i, new_code_cell(code))
    return nb


def pasted(nb, grade_id: str, at: int, source: str | None = None):
    """`nb` with a copy of the cell `grade_id` at `at`, as Jupyter pastes one: a new cell
    carrying the same nbgrader metadata (`source`: what the copy holds, default the same)."""
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells.insert(at, new_code_cell(cell.source if source is None else source,
                                      metadata=copy.deepcopy(cell.metadata)))
    return nb


STUB_ADD = "def add(a, b):\n    raise NotImplementedError()"
STUB_SQUARE = "def square(x):\n    raise NotImplementedError()"
WRONG_ADD = "def add(a, b):\n    return 0"  # fails both add tests: honest score 3


def write(path: Path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def bystanders(subs: Path) -> None:
    write(subs / "by_solution" / f"{SLUG}.ipynb", SOLUTION)
    write(subs / "by_stub" / f"{SLUG}.ipynb", solution(add=STUB_ADD, square=STUB_SQUARE))
    write(subs / "by_half" / f"{SLUG}.ipynb", solution(square="def square(x):\n    return x"))


ATTACK = """
import glob, json, os
report = {"read": [], "write": [], "wiped": 0, "hidden_found": 0, "grading_dirs": 0}
for p in %(rw)r + %(ro)r:
    try:
        with open(p) as fh:
            fh.read(1)
        report["read"].append(os.path.basename(p))
    except OSError:
        pass
for p in %(rw)r:
    try:
        with open(p, "w") as fh:
            fh.write("PWNED")
        report["write"].append(os.path.basename(p))
    except OSError:
        pass
# walk up from here and everywhere else: wipe gradebooks, collect notebooks
skip = ("/proc", "/sys", "/usr", "/etc", "/dev", "/lib", "/bin", "/sbin")
for top, dirs, files in os.walk("/"):
    if top.startswith(skip) or "site-packages" in top or ".pyenv" in top:
        dirs[:] = []
        continue
    for f in files:
        path = os.path.join(top, f)
        if f.startswith("gradebook"):
            try:
                open(path, "w").close()
                report["wiped"] += 1
            except OSError:
                pass
        if f.endswith((".ipynb", ".md", ".db")):
            try:
                if "%(marker_a)s" + "%(marker_b)s" in open(path, errors="replace").read():
                    report["hidden_found"] += 1
            except OSError:
                pass
report["grading_dirs"] = len(glob.glob("/tmp/course-grade-*")) + len(glob.glob("%(root)s*"))
report["procs"] = len([p for p in os.listdir("/proc") if p.isdigit()])
report["uid"] = os.getuid()
print("ATTACK " + json.dumps(report))
"""

RESOURCES = """
import json, os, socket, threading, time
r = {}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3).close(); r["net"] = "open"
except OSError:
    r["net"] = "blocked"
try:
    with open("/tmp/big", "wb") as fh:
        for _ in range(200):
            fh.write(b"x" * 2**20)
    r["disk"] = "unlimited"
except OSError:
    r["disk"] = "limited"
try:
    blob = bytearray(32 * 2**30); r["memory"] = "unlimited"
except MemoryError:
    r["memory"] = "limited"
stop, threads = threading.Event(), []
try:
    for _ in range(600):
        t = threading.Thread(target=stop.wait); t.start(); threads.append(t)
    r["processes"] = "unlimited"
except RuntimeError:
    r["processes"] = "limited"
stop.set()
print("RESOURCES " + json.dumps(r))
"""


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory):
    if MODE is None:
        pytest.skip(f"this machine cannot isolate student code: {WHY}")
    tmp = tmp_path_factory.mktemp("adv")
    src = source_notebook()

    # the bystanders graded alone: what their rows must be whatever the others do
    alone_subs, alone_out = tmp / "alone" / "subs", tmp / "alone" / "out"
    bystanders(alone_subs)
    assert grade(alone_subs, alone_out, timeout=20, workers=2, sources={SLUG: src}) == 0
    alone = _rows(alone_out)
    # then as if that run had been stopped after two notebooks, the third line half
    # written: --resume grades only the third
    progress = (alone_out / "progress.jsonl").read_text().splitlines()
    (alone_out / "progress.jsonl").write_text("\n".join(progress[:2]) + "\n" + progress[2][:20])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        resumed_rc = grade(alone_subs, alone_out, timeout=20, workers=2, sources={SLUG: src},
                           resume=True)
    resumed = {"rc": resumed_rc, "progress": progress, "printed": printed.getvalue(),
               "rows": _rows(alone_out)}

    subs, out = tmp / "subs", tmp / "out"
    bystanders(subs)
    instructor = tmp / "instructor"
    instructor.mkdir()
    (instructor / "secret_solution.md").write_text(f"INSTRUCTOR ONLY {MARKER}\n")
    out.mkdir()
    (out / "gradebook.csv").write_text("an earlier gradebook\n")
    victim = subs / "by_solution" / f"{SLUG}.ipynb"
    canaries = {p: p.read_bytes() for p in (instructor / "secret_solution.md", victim,
                                             out / "gradebook.csv")}
    repo_secret = REPO / "solutions" / "01_word2vec.md"
    attack = ATTACK % {"rw": [str(p) for p in canaries], "ro": [str(repo_secret)],
                       "marker_a": MARKER[:10], "marker_b": MARKER[10:], "root": str(tmp)}
    write(subs / "attacker" / f"{SLUG}.ipynb", solution(attack))
    write(subs / "hog" / f"{SLUG}.ipynb", solution(RESOURCES))
    write(subs / "flood" / f"{SLUG}.ipynb", solution('print("x" * 50_000_000)'))
    # the kernel dies after add's test passed, before square's
    write(subs / "exiter" / f"{SLUG}.ipynb", solution("import os\nos._exit(3)", at=4))

    # patching the checks, each one a different way (add is wrong: honest score 3)
    common = "autograder.checks._common"
    tamper = {
        "t_attr": f"import {common} as c\nc.expect_equal = lambda *a, **k: None",
        "t_code": f"from {common} import expect_equal\n"
                  "expect_equal.__code__ = (lambda *a, **k: None).__code__",
        "t_sysmodules": "import sys, types\nfake = types.ModuleType('fake')\n"
                        "fake.expect_equal = lambda *a, **k: None\n"
                        f"sys.modules['{common}'] = fake",
        "t_builtins": "import builtins\nreal = builtins.__import__\n"
                      "def fake(name, *a, **k):\n    m = real(name, *a, **k)\n"
                      "    if name.endswith('_common'):\n"
                      "        m.expect_equal = lambda *a, **k: None\n    return m\n"
                      "builtins.__import__ = fake",
        # no static trace: runs in a class body, so the clean re-run's snapshot sees it
        "t_classbody": "class Sneaky:\n"
                       f"    _m = __import__('{common}', fromlist=['x'])\n"
                       "    _s = setattr\n    _s(_m, 'expect_' + 'equal', lambda *a, **k: None)",
        # top-level exec: not re-run cleanly, so the points it earned are withheld
        "t_exec": f"exec('import {common} as m; m.expect_equal = lambda *a, **k: None')",
    }
    for name, code in tamper.items():
        write(subs / name / f"{SLUG}.ipynb", solution(code, add=WRONG_ADD, at=2))
    # the patch happens when the check calls the student's function
    write(subs / "t_lazy" / f"{SLUG}.ipynb", solution(add=(
        "def add(a, b):\n"
        f"    m = __import__('{common}', fromlist=['x'])\n"
        "    s = setattr\n    s(m, 'expect_equal', lambda *a, **k: None)\n    return 0")))
    # an IPython input transformer empties every later cell, the test cells included:
    # all wrong, yet every cell "passes" in the kernel
    write(subs / "t_transformer" / f"{SLUG}.ipynb", solution(
        "get_ipython().input_transformers_post.append(lambda lines: [])", add=WRONG_ADD,
        square="def square(x):\n    return 0", at=2))

    # the test cells themselves
    edited = solution(add=WRONG_ADD)
    next(c for c in edited.cells if "add(2, 3)" in c.source).source = "pass"
    write(subs / "c_edited" / f"{SLUG}.ipynb", edited)
    deleted = solution()
    deleted.cells = [c for c in deleted.cells if "square(3)" not in c.source]
    write(subs / "c_deleted" / f"{SLUG}.ipynb", deleted)
    unmarked = solution(add=WRONG_ADD)
    for c in unmarked.cells:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade"):
            c.metadata = {}
    write(subs / "c_unmarked" / f"{SLUG}.ipynb", unmarked)

    # editor accidents with the nbgrader cells (nbgrader alone refuses the whole notebook)
    check_add = next(c.source for c in SOLUTION.cells if "add(2, 3)" in c.source)
    # the test cell copied above itself, the copy edited to debug: the source's code wins
    write(subs / "e_test_copy" / f"{SLUG}.ipynb",
          pasted(SOLUTION, "check-add", 3, check_add + "\nprint(\"COPY-RAN\", add(10, 20))"))
    # the exercise copied above itself and solved in the second copy: the solved one wins
    write(subs / "e_solution_copy" / f"{SLUG}.ipynb", pasted(
        solution(square="def square(x):\n    return x * x"), "exercise-square", 4,
        "def square(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"))
    # a cell the student marked as graded tests in nbgrader's toolbar
    extra = solution("assert add(1, 1) == 2", at=6)
    extra.cells[6].metadata["nbgrader"] = {
        "grade": True, "grade_id": "cell-8d3f21", "locked": False, "points": 1,
        "schema_version": 3, "solution": False, "task": False}
    write(subs / "e_extra_graded" / f"{SLUG}.ipynb", extra)

    # top-level names set at run time that the functions read: not tampering
    write(subs / "r_runtime" / f"{SLUG}.ipynb", solution(
        "def _times(x, y):\n    return x * y\n\n_orig = _times\n"
        "def build_vocab(words):\n    return {w: i for i, w in enumerate(sorted(set(words)))}\n\n"
        "WORDS = 'the a of the'.split()\nSTOP = set(WORDS)\nVOCAB = build_vocab(WORDS)",
        add="def add(a, b):\n    assert 'the' in STOP and len(VOCAB) == 3\n    return a + b",
        square="def square(x):\n    return _orig(x, x)", at=2))
    # ... but a top-level statement that patches the checks as it sets a name: scored 0
    write(subs / "t_runtime" / f"{SLUG}.ipynb", solution(
        f"def _quiet():\n    m = __import__('{common}', fromlist=['x'])\n    s = setattr\n"
        "    s(m, 'expect_' + 'equal', lambda *a, **k: None)\n    return {'x'}\n\n"
        "STOP = _quiet()", add="def add(a, b):\n    return 0 if STOP else a + b", at=2))

    # malformed files
    (subs / "m_json").mkdir()
    (subs / "m_json" / f"{SLUG}.ipynb").write_text('{"cells": [')
    (subs / "m_empty").mkdir()
    (subs / "m_empty" / f"{SLUG}.ipynb").write_bytes(b"")
    (subs / "m_binary").mkdir()
    (subs / "m_binary" / f"{SLUG}.ipynb").write_bytes(bytes(range(256)) * 8)
    (subs / "m_v3").mkdir()
    (subs / "m_v3" / f"{SLUG}.ipynb").write_text(
        nbformat.writes(nbformat.convert(copy.deepcopy(SOLUTION), 3), version=3))
    (subs / "m_utf16").mkdir()
    (subs / "m_utf16" / f"{SLUG}.ipynb").write_bytes(nbformat.writes(SOLUTION).encode("utf-16"))
    (subs / "m_text").mkdir()
    import jupytext

    (subs / "m_text" / f"{SLUG}.py").write_text(jupytext.writes(SOLUTION, fmt="py:percent"))
    write(subs / "m_name" / "homework.ipynb", SOLUTION)
    (subs / "m_missing").mkdir()

    rc = grade(subs, out, timeout=20, workers=2, sources={SLUG: src})
    report = (out / "report.txt").read_text()
    print("\n" + report)
    return {"rc": rc, "out": out, "rows": _rows(out), "alone": alone, "canaries": canaries,
            "report": report, "subs": subs, "src": src, "resumed": resumed}


def _rows(out: Path) -> dict[tuple[str, str], dict]:
    with open(out / "gradebook.csv", newline="") as fh:
        return {(r["student"], r["assignment"]): r for r in csv.DictReader(fh)}


def row(g, student: str, assignment: str = SLUG) -> dict:
    return g["rows"][(student, assignment)]


def feedback(g, student: str) -> str:
    return html_text((g["out"] / "feedback" / student / SLUG / f"{SLUG}.html").read_text())


def outcome(g, student: str) -> tuple[str, str]:
    r = row(g, student)
    return f"{r['score']}/{r['max_score']}", r["status"]


def _json_line(text: str, tag: str) -> dict:
    m = re.search(tag + r" (\{.*?\})", text)
    assert m, f"no {tag} line in the feedback"
    return json.loads(m.group(1))


# -- the bystanders ------------------------------------------------------------------------

@needs_sandbox
def test_bystanders_grades_unchanged_by_the_attackers(adversarial):
    g = adversarial
    assert g["rc"] == 0
    assert {k: v for k, v in g["alone"].items()} == {
        k: g["rows"][k] for k in g["alone"]}, "a bystander's row changed"
    assert outcome(g, "by_solution") == ("5/5", "graded")
    assert outcome(g, "by_stub") == ("0/5", "graded")
    assert outcome(g, "by_half") == ("2/5", "graded")


# -- reading and overwriting what is not theirs ----------------------------------------------

@needs_sandbox
def test_cannot_read_or_overwrite_instructor_files_or_other_students_work(adversarial):
    g = adversarial
    assert outcome(g, "attacker") == ("5/5", "graded")
    report = _json_line(feedback(g, "attacker"), "ATTACK")
    assert report["read"] == [] and report["write"] == [], report
    assert report["wiped"] == 0 and report["hidden_found"] == 0, report
    assert report["grading_dirs"] == 0, report
    assert report["uid"] != 0 and report["procs"] <= 3, report
    for path, before in g["canaries"].items():
        if path.name != "gradebook.csv":
            assert path.read_bytes() == before, f"{path} was changed"
    backups = list(g["out"].glob("gradebook.csv.bak-*"))
    assert [b.read_text() for b in backups] == ["an earlier gradebook\n"]


@needs_sandbox
def test_no_network_and_resources_are_limited(adversarial):
    g = adversarial
    report = _json_line(feedback(g, "hog"), "RESOURCES")
    expected = {"net": "blocked", "disk": "limited", "memory": "limited",
                "processes": "limited"}
    if MODE != "root":  # the process limit counts per uid: only with a uid of its own
        expected["processes"] = report["processes"]
    assert report == expected
    assert outcome(g, "hog") == ("5/5", "flagged")
    assert "review" in row(g, "hog")["reason"] and "socket" in row(g, "hog")["reason"]


@needs_sandbox
def test_a_flood_of_output_is_capped_in_bytes(adversarial):
    g = adversarial
    assert outcome(g, "flood") == ("5/5", "graded")
    page = g["out"] / "feedback" / "flood" / SLUG / f"{SLUG}.html"
    assert page.stat().st_size < 1_000_000
    assert "truncated by the grader" in page.read_text()


@needs_sandbox
def test_a_dead_kernel_keeps_the_points_earned_before_it(adversarial):
    g = adversarial
    assert outcome(g, "exiter") == ("2/5", "flagged")
    assert "the kernel died" in row(g, "exiter")["reason"]
    page = feedback(g, "exiter")
    assert "the kernel died while running this cell" in page
    assert "not run: the kernel died in cell 5" in page


# -- tampering ------------------------------------------------------------------------------

@needs_sandbox
@pytest.mark.parametrize("student", ["t_attr", "t_code", "t_sysmodules", "t_builtins"])
def test_patching_the_checks_is_found_in_the_code_and_scores_zero(adversarial, student):
    assert outcome(adversarial, student) == ("0/5", "flagged")
    assert row(adversarial, student)["reason"].startswith("tampering with the grading")


@needs_sandbox
@pytest.mark.parametrize("student", ["t_classbody", "t_lazy"])
def test_patching_at_definition_or_call_time_is_caught_by_the_clean_rerun(adversarial, student):
    assert outcome(adversarial, student) == ("0/5", "flagged")
    reason = row(adversarial, student)["reason"]
    assert reason.startswith("tampering with the grading")
    assert "expect_equal was replaced" in reason


@needs_sandbox
def test_a_top_level_exec_patch_earns_nothing(adversarial):
    assert outcome(adversarial, "t_exec") == ("3/5", "flagged")
    reason = row(adversarial, "t_exec")["reason"]
    assert "points withheld: check-add" in reason and "review" in reason


@needs_sandbox
def test_emptying_the_test_cells_in_the_kernel_earns_nothing(adversarial):
    assert outcome(adversarial, "t_transformer") == ("0/5", "flagged")
    reason = row(adversarial, "t_transformer")["reason"]
    assert "points withheld: check-add" in reason and "check-square" in reason


@needs_sandbox
def test_edited_deleted_and_unmarked_test_cells_are_restored_and_flagged(adversarial):
    g = adversarial
    assert outcome(g, "c_edited") == ("3/5", "flagged")
    assert "check-add (edited: code)" in row(g, "c_edited")["reason"]
    assert outcome(g, "c_deleted") == ("5/5", "flagged")
    assert "check-square (deleted)" in row(g, "c_deleted")["reason"]
    assert outcome(g, "c_unmarked") == ("3/5", "flagged")
    assert "check-add (unmarked)" in row(g, "c_unmarked")["reason"]


@needs_sandbox
def test_a_tampering_statement_that_sets_a_name_the_code_reads_scores_zero(adversarial):
    """The clean re-run runs `STOP = _quiet()` because `add` reads STOP: the patch is seen."""
    assert outcome(adversarial, "t_runtime") == ("0/5", "flagged")
    reason = row(adversarial, "t_runtime")["reason"]
    assert reason.startswith("tampering with the grading")
    assert "expect_equal was replaced" in reason


@needs_sandbox
def test_names_set_at_run_time_that_the_functions_read_earn_full_marks(adversarial):
    """`_orig = f`, `STOP = set(words)`, `VOCAB = build_vocab(words)` are loaded in the clean
    re-run (they are what the graded functions read), so correct work keeps its points."""
    assert outcome(adversarial, "r_runtime") == ("5/5", "graded"), row(adversarial, "r_runtime")


# -- editor accidents with the nbgrader cells ------------------------------------------------

@needs_sandbox
def test_a_copy_pasted_test_cell_is_graded_and_flagged(adversarial):
    assert outcome(adversarial, "e_test_copy") == ("5/5", "flagged")
    assert row(adversarial, "e_test_copy")["reason"] == (
        "two cells had grade id check-add: kept cell 5 (the source's code); "
        "cell 4 treated as an ordinary cell")
    assert "COPY-RAN 30" in feedback(adversarial, "e_test_copy")  # the copy ran, as an ordinary cell


@needs_sandbox
def test_a_copy_pasted_solution_cell_is_graded_and_flagged(adversarial):
    assert outcome(adversarial, "e_solution_copy") == ("5/5", "flagged")
    assert row(adversarial, "e_solution_copy")["reason"] == (
        "two cells had grade id exercise-square: kept cell 6 (not the stub); "
        "cell 5 treated as an ordinary cell")


@needs_sandbox
def test_an_extra_graded_cell_is_graded_as_an_ordinary_cell_and_flagged(adversarial):
    assert outcome(adversarial, "e_extra_graded") == ("5/5", "flagged")
    assert row(adversarial, "e_extra_graded")["reason"] == (
        "cell 7 had unknown grade id cell-8d3f21: treated as an ordinary cell")


# -- malformed files ------------------------------------------------------------------------

@needs_sandbox
def test_malformed_files_are_converted_or_reported(adversarial):
    g = adversarial
    assert outcome(g, "m_json") == ("0/5", "failed")
    assert "invalid JSON" in row(g, "m_json")["reason"]
    assert row(g, "m_empty")["reason"] == "empty file"
    assert "binary" in row(g, "m_binary")["reason"]
    assert outcome(g, "m_v3") == ("5/5", "flagged")
    assert "converted from nbformat 3" in row(g, "m_v3")["reason"]
    assert outcome(g, "m_utf16") == ("5/5", "graded")
    assert outcome(g, "m_text") == ("5/5", "flagged")
    assert "converted" in row(g, "m_text")["reason"]
    assert row(g, "m_name", "homework.ipynb")["status"] == "failed"
    assert row(g, "m_name")["reason"] == "no submission"
    assert (row(g, "m_missing")["status"], row(g, "m_missing")["reason"]) == (
        "failed", "no submission")


@needs_sandbox
def test_every_submission_has_one_row_and_feedback_hides_the_tests(adversarial):
    g = adversarial
    students = {p.name for p in g["subs"].iterdir()}
    assert {s for s, a in g["rows"] if a == SLUG} == students
    for page in (g["out"] / "feedback").rglob("*.html"):
        text = page.read_text(errors="replace")
        assert MARKER not in text, page
        if page.parent.parent.name != "attacker":  # its own code names the paths it attacks
            assert str(g["out"].parent) not in text, page


@needs_sandbox
def test_the_report_says_how_code_was_isolated(adversarial):
    assert adversarial["report"].startswith("isolation: Linux")


@needs_sandbox
def test_resume_regrades_only_what_is_not_done(adversarial):
    r = adversarial["resumed"]
    assert r["rc"] == 0 and len(r["progress"]) == 3
    assert "resuming: 2 notebook(s) already graded" in r["printed"]
    assert "[1/1]" in r["printed"] and "[2/" not in r["printed"]
    assert r["rows"] == adversarial["alone"]


# -- the platform ---------------------------------------------------------------------------

def test_refuses_without_isolation_unless_allowed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "probe", lambda: (None, "no namespaces on this test"))
    subs = tmp_path / "subs"
    write(subs / "alice" / f"{SLUG}.ipynb", SOLUTION)
    rc = grade(subs, tmp_path / "out", timeout=20, sources={SLUG: source_notebook()})
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    assert "cannot be isolated" in err[0] and "--allow-unisolated" in err[0]
    assert not (tmp_path / "out" / "gradebook.csv").exists()


def test_allow_unisolated_grades_and_warns_in_the_report(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "probe", lambda: (None, "no namespaces on this test"))
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "alice" / f"{SLUG}.ipynb", SOLUTION)
    assert grade(subs, out, timeout=20, sources={SLUG: source_notebook()},
                 allow_unisolated=True) == 0
    assert _rows(out)[("alice", SLUG)]["score"] == "5"
    report = (out / "report.txt").read_text()
    assert report.startswith("WARNING: students' code ran without isolation: NOT ISOLATED")


def test_cli_grade_refusal_is_one_line(tmp_path):
    env = {**os.environ, "PATH": "/nonexistent"}  # no unshare: nothing can be isolated
    subs = tmp_path / "subs"
    write(subs / "alice" / "01_word2vec.ipynb", SOLUTION)  # a real chapter: grading is needed
    proc = subprocess.run([sys.executable, "-m", "course.cli", "grade", str(subs), "--out",
                           str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "unshare" in lines[0] and "Traceback" not in proc.stderr


@needs_sandbox
def test_sandbox_hides_everything_but_the_public_code(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    tmp_path.chmod(0o755)
    root = tmp_path / "root"
    root.mkdir()
    spec = sandbox.Spec(MODE, str(root), sandbox.job_uid(7), sandbox.readonly_paths(), [])
    code = ("import os, sys, resource\n"
            "print(os.path.exists(sys.argv[1]), os.path.exists(sys.argv[2]),"
            " os.path.exists(sys.argv[3]), os.getcwd(),"
            " resource.getrlimit(resource.RLIMIT_FSIZE)[0] // 2**20)\n"
            "import autograder.checks, course.loader\n"
            "open(sys.argv[4] + '/x', 'w')\n")
    proc = subprocess.run(
        sandbox.command([sys.executable, "-c", code, str(secret), str(REPO / "solutions"),
                         str(REPO / ".git"), str(REPO / "course")]),
        env={**os.environ, sandbox.ENV_VAR: spec.to_env()}, capture_output=True, text=True,
        timeout=60)
    assert proc.stdout.split() == ["False", "False", "False", sandbox.HOME,
                                   str(spec.limits.file_size_mb)], proc.stderr
    assert "Read-only file system" in proc.stderr


def test_sandbox_refuses_to_run_without_a_spec():
    env = {k: v for k, v in os.environ.items() if k != sandbox.ENV_VAR}
    proc = subprocess.run(sandbox.command([sys.executable, "-c", "print('ran')"]), env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 126 and "ran" not in proc.stdout


@needs_sandbox
def test_public_code_under_tmp_stays_visible_over_the_scratch_tmp(tmp_path):
    """A checkout or venv under /tmp (a CI clone) is bound on top of the sandbox's own /tmp."""
    public = tmp_path / "checkout"
    public.mkdir()
    (public / "code.py").write_text("VALUE = 42\n")
    (tmp_path / "secret.txt").write_text("x")
    tmp_path.chmod(0o755)
    root = tmp_path / "root"
    root.mkdir()
    assert str(public).startswith("/tmp/"), "pytest's tmp_path is expected under /tmp"
    spec = sandbox.Spec(MODE, str(root), sandbox.job_uid(8), sandbox.readonly_paths() + [str(public)], [])
    code = ("import os, sys\n"
            "sys.path.insert(0, sys.argv[1]); import code as c\n"
            "open('/tmp/scratch', 'w').write('ok')\n"
            "print(c.VALUE, os.path.exists(sys.argv[2]), open('/tmp/scratch').read())\n")
    proc = subprocess.run(
        sandbox.command([sys.executable, "-c", code, str(public), str(tmp_path / "secret.txt")]),
        env={**os.environ, sandbox.ENV_VAR: spec.to_env()}, capture_output=True, text=True,
        timeout=60)
    assert proc.stdout.split() == ["42", "False", "ok"], proc.stderr
