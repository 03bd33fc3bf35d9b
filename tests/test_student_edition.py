"""The student edition: what a class receives holds no answer, and works without a clone.

`course release --student OUT` writes the stub notebooks and a wheel. These tests install
that wheel into a fresh virtual environment, with no clone of the course anywhere on its path,
and run `course check 1` there: the stubs fail, chapter 1 filled in from the solution passes.
The environment borrows the course's dependencies from .venv (a path entry, not an install:
the editable install of the course in .venv stays invisible to it), so the test takes seconds
rather than a download.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

from course import leaks, loader, markup, release, student

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "student"
    assert student.build(out) == 0
    return out


@pytest.fixture(scope="module")
def venv(edition, tmp_path_factory) -> Path:
    """A fresh virtual environment with the student wheel installed and no clone in sight."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies, not the course: a plain path line does not run .venv's editable-install hook
    (site / "_course_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = (edition / "wheel").glob("*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--no-index", "--ignore-installed", str(wheel)], check=True)
    return env_dir


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_ROOT", "PYTHONPATH", "VIRTUAL_ENV")}
    env["COURSE_SCALE"] = "tiny"
    return env


def _run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "course"), *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600)


def _filled_from_solution(stub: nbformat.NotebookNode, ch: release.Chapter) -> nbformat.NotebookNode:
    """The handed-out notebook with every exercise written as the solution writes it."""
    answers = {markup.grade_id(c): markup.strip_solution_markers(c.source)
               for c in release.source_notebook(ch).cells if markup.is_exercise(c)}
    for cell in stub.cells:
        if markup.is_exercise(cell):
            cell.source = answers[markup.grade_id(cell)]
    return stub


def test_the_edition_is_notebooks_a_wheel_and_a_file_list(edition):
    names = sorted(p.relative_to(edition).as_posix() for p in edition.rglob("*") if p.is_file())
    slugs = [ch.slug for ch in release.chapters()]
    assert [n for n in names if n.startswith("notebooks/")] == [f"notebooks/{s}.ipynb" for s in slugs]
    (wheel,) = [n for n in names if n.endswith(".whl")]
    listed = (edition / student.MARK).read_text()
    assert all(n in listed for n in names if n != student.MARK)
    members = zipfile.ZipFile(edition / wheel).namelist()
    for slug in slugs:
        assert f"course/released/{slug}.ipynb" in members
    assert any(m.startswith("autograder/checks/") for m in members)
    # no solutions, no tests, no grading pipeline, no instructor sources
    for banned in ("solutions/", "tests/", "autograder/grade.py", "autograder/intake.py",
                   "autograder/verify.py", "autograder/tamper.py"):
        assert not any(m.startswith(banned) for m in members), banned


def test_no_answer_in_the_edition(edition):
    assert leaks.scan([edition], leaks.course_secrets()) == []


def test_course_check_works_from_the_wheel_alone(venv, tmp_path):
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import course; print(course.__file__)"],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(venv), f"course came from {where}, not the wheel"
    ch, handed_out = release.released(1)
    nbformat.write(handed_out, tmp_path / f"{ch.slug}.ipynb")
    stubs = _run(venv, tmp_path, "check", "1")
    assert stubs.returncode == 1, stubs.stdout + stubs.stderr
    assert "not implemented yet" in stubs.stdout and " 0/" in stubs.stdout
    nbformat.write(_filled_from_solution(handed_out, ch), tmp_path / f"{ch.slug}.ipynb")
    solved = _run(venv, tmp_path, "check", "1")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    points = sum(markup.test_points(handed_out).values())
    assert f"{points:g}/{points:g} points" in solved.stdout
    print(solved.stdout)  # the note quotes it


def test_instructor_commands_say_this_is_the_student_edition(venv, tmp_path):
    for args in (["release"], ["grade", ".", "--out", "g"], ["run", "1"], ["book"]):
        proc = _run(venv, tmp_path, *args)
        assert proc.returncode != 0 and "student edition" in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_an_existing_folder_is_never_overwritten(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(student.EditionError, match="not an empty folder"):
        student.build(mine)
    assert (mine / "notes.txt").read_text() == "my notes"


def test_definitions_load_the_same_in_the_wheel(edition):
    """The released notebooks in the wheel are the ones `course release` writes to chapters/."""
    (wheel,) = (edition / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for ch in release.chapters():
            shipped = nbformat.reads(archive.read(f"course/released/{ch.slug}.ipynb").decode(), as_version=4)
            assert loader.test_cells(shipped) == loader.test_cells(release.student_notebook(ch))
