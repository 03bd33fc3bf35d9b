"""The leak scanner finds a line of an answer wherever it turns up, and nothing else.

A marker line is planted in a solution of the demo course; the scanner must then find it in
each place a student sees — the handed-out notebook, a file inside the student wheel, a
student-book page, grading feedback — when it is put there, and must find nothing in the
real student material (tests/test_student_edition.py and tests/test_book.py scan the real
edition and the real student book).
"""

from __future__ import annotations

import html
import zipfile

import nbformat
import pytest

from course import leaks, release

MARKER = 'planted = "LEAK-MARKER-8c1f"  # planted by tests/test_leaks.py'


@pytest.fixture
def planted(demo_course):
    src = demo_course / "solutions" / "01_demo.md"
    src.write_text(src.read_text().replace("    return a + b\n", f"    {MARKER}\n    return a + b\n"))
    assert release.release() == 0
    return demo_course


def test_every_real_chapter_has_secrets_and_none_is_public():
    found = leaks.course_secrets()
    for ch in release.chapters():
        assert sum(v.startswith(f"solutions/{ch.source.name}") for v in found.values()) >= 10, ch.slug
    # a line the narrative shows is not a secret, however often the solutions use it
    assert leaks.norm("import torch") not in found and leaks.norm("with torch.no_grad():") not in found


def test_the_planted_line_is_a_secret_and_the_stub_does_not_carry_it(planted):
    secret = leaks.course_secrets()
    assert leaks.norm(MARKER) in secret and "exercise-add" in secret[leaks.norm(MARKER)]
    assert leaks.norm('assert add(-1, 1) == 0, "HIDDEN-MARKER add"') in secret  # hidden tests too
    assert any("MODEL-ANSWER-MARKER" in k for k in secret)  # and written model answers
    assert leaks.scan([planted / "chapters"], secret) == []


def _notebook_with_leak(root, tmp_path):
    nb = nbformat.read(root / "chapters" / "01_demo.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "exercise-add")
    cell.source = cell.source.replace("raise NotImplementedError()", MARKER.strip())
    path = tmp_path / "leaky.ipynb"
    nbformat.write(nb, path)
    return path


def _wheel_with_leak(tmp_path):
    path = tmp_path / "leaky-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("autograder/checks/demo.py", f"def _reference(a, b):\n    {MARKER}\n")
    return path


def _page_with_leak(tmp_path, name):
    # as Sphinx writes code: one span per token, entities for quotes
    spans = "".join(f'<span class="n">{html.escape(part)}</span>' for part in MARKER.split(" "))
    spans = spans.replace("</span><span", "</span> <span")
    path = tmp_path / name
    path.write_text(f"<html><body><div class=\"highlight\"><pre>{spans}\n</pre></div></body></html>")
    return path


@pytest.mark.parametrize("place", ["notebook", "wheel", "student book", "feedback"])
def test_the_planted_line_is_found_in_each_place(planted, tmp_path, place, capsys):
    secret = leaks.course_secrets()
    path = {
        "notebook": lambda: _notebook_with_leak(planted, tmp_path),
        "wheel": lambda: _wheel_with_leak(tmp_path),
        "student book": lambda: _page_with_leak(tmp_path, "01_demo.html"),
        "feedback": lambda: _page_with_leak(tmp_path, "feedback-01_demo.html"),
    }[place]()
    found = leaks.scan([path], secret, relative_to=tmp_path)
    assert len(found) == 1, found
    print(found[0])  # the note quotes it
    assert path.name in found[0].place and "solutions/01_demo.md: exercise-add" in found[0].origin


def test_trivial_lines_never_count():
    for line in ("import torch", "torch.manual_seed(0)", "with torch.random.fork_rng(devices=[]):",
                 "B, T, C = x.shape", "if mask is not None:", "return x", "model.eval()"):
        assert not leaks.counts(line), line
    assert leaks.counts("return sims.topk(k, dim=1).indices")


def test_release_student_refuses_an_edition_with_a_leak(planted, tmp_path, monkeypatch, capsys):
    from course import student

    stage = student._stage

    def leaky_stage(where):
        stage(where)
        (where / "course" / "notes.py").write_text(f"{MARKER}\n")

    monkeypatch.setattr(student, "_stage", leaky_stage)
    assert student.build(tmp_path / "edition") == 1
    err = capsys.readouterr().err
    assert "LEAK wheel/" in err and "course/notes.py" in err and "nothing was written" in err
    assert not (tmp_path / "edition").exists()
    monkeypatch.setattr(student, "_stage", stage)
    assert student.build(tmp_path / "edition") == 0
    assert "leak scan: clean" in capsys.readouterr().out
