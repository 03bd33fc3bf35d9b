"""`course check`: the table, the exit code, and the time limit on learner code."""

import subprocess
import sys

import nbformat

from course import checker, release


def _notebook_with(root, add_body: str):
    release.release()
    path = root / "chapters" / "01_demo.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "exercise-add")
    cell.source = "def add(a, b):\n" + add_body
    nbformat.write(nb, path)
    return path


def test_solution_passes_and_stubs_fail(demo_course, capsys):
    assert checker.check("1", str(demo_course / "solutions" / "01_demo.md")) == 0
    out = capsys.readouterr().out
    assert "2/2 exercises pass, 3/3 points" in out
    release.release()
    assert checker.check("1") == 1
    out = capsys.readouterr().out
    assert "0/2 exercises pass" in out and "not implemented yet" in out


def test_failure_message_reaches_the_table(demo_course, capsys):
    _notebook_with(demo_course, "    return a - b\n")
    assert checker.check("01") == 1
    out = capsys.readouterr().out
    assert "add(2, 3): expected 5" in out and "1/2" not in out.split("exercises pass")[0][-6:]


def test_edited_test_cell_cannot_pass_itself(demo_course, capsys):
    path = _notebook_with(demo_course, "    return 0\n")
    nb = nbformat.read(path, as_version=4)
    next(c for c in nb.cells if c.get("id") == "check-add").source = "pass"
    nbformat.write(nb, path)
    assert checker.check("1") == 1
    assert "add(2, 3): expected 5" in capsys.readouterr().out


def test_infinite_loop_is_stopped_with_a_message(demo_course, capsys):
    _notebook_with(demo_course, "    while True:\n        pass\n")
    assert checker.check("1", timeout=5) == 1
    out = capsys.readouterr().out
    assert "timed out after 5 s" in out and "add" in out


def test_syntax_error_in_a_cell_is_named(demo_course, capsys):
    _notebook_with(demo_course, "    return a +\n")
    assert checker.check("1") == 1
    assert "SyntaxError" in capsys.readouterr().out


def test_cli_bad_input_is_one_line(demo_course, tmp_path):
    missing = subprocess.run([sys.executable, "-m", "course.cli", "check", "1", "--notebook",
                              str(tmp_path / "nope.ipynb")], capture_output=True, text=True)
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1
    assert "no notebook at" in missing.stderr
    junk = tmp_path / "junk.ipynb"
    junk.write_bytes(b"\x00\x01 not json")
    bad = subprocess.run([sys.executable, "-m", "course.cli", "check", "1", "--notebook", str(junk)],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    unknown = subprocess.run([sys.executable, "-m", "course.cli", "check", "42"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "no chapter '42'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    usage = subprocess.run([sys.executable, "-m", "course.cli", "frobnicate"], capture_output=True, text=True)
    assert usage.returncode == 2 and len(usage.stderr.strip().splitlines()) == 1
