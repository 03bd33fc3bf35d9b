"""The one-way build: sources → student notebooks and book pages, and its staleness check."""

import json

import nbformat
import pytest

from course import loader, markup, release


def test_release_writes_stubs_without_solutions_or_hidden_tests(demo_course, capsys):
    assert release.release(check=True) == 1  # nothing generated yet: stale
    assert release.release() == 0
    text = (demo_course / "chapters" / "01_demo.ipynb").read_text()
    for leak in ("BEGIN SOLUTION", "return a + b", "HIDDEN-MARKER", "BEGIN HIDDEN TESTS"):
        assert leak not in text, f"student notebook leaks {leak!r}"
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    add = next(c for c in nb.cells if c.get("id") == "exercise-add")
    assert "raise NotImplementedError()" in add.source and add.source.startswith("def add")
    assert add.metadata.nbgrader == {"grade": False, "grade_id": "exercise-add", "locked": False,
                                     "schema_version": 3, "solution": True, "task": False}
    check = next(c for c in nb.cells if c.get("id") == "check-add")
    assert check.metadata.nbgrader["points"] == 2 and check.metadata.nbgrader["locked"]
    assert "add(2, 3)" in check.source
    assert nb.metadata.course["generated_from"] == "solutions/01_demo.md"
    assert release.release(check=True) == 0


def test_stub_keeps_the_indentation_of_the_marker():
    src = "def f():\n    x = 1\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    assert markup.stub_solutions(src) == "def f():\n    x = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"


def test_book_page_drops_hidden_tests_and_tags_what_each_edition_shows(demo_course):
    page = release.book_page(release.find(1))
    assert "return a + b" in page and "HIDDEN-MARKER" not in page
    # the markers stay, so that `course book --edition student` can stub the exercise
    assert "### BEGIN SOLUTION" in page
    assert "format_name: myst" in page and "jupytext_version" not in page
    assert ":tags: [hide-input, exercise]" in page
    assert page.count("generated from solutions/01_demo.md") == 1


def test_check_reports_a_hand_edited_generated_file(demo_course, capsys):
    release.release()
    page = demo_course / "book" / "chapters" / "01_demo.md"
    page.write_text(page.read_text() + "\nhand edit\n")
    assert release.release(check=True) == 1
    assert "stale: book/chapters/01_demo.md" in capsys.readouterr().err
    (demo_course / "chapters" / "99_gone.ipynb").write_text("{}")
    assert release.release(check=True) == 1
    assert "orphan: chapters/99_gone.ipynb" in capsys.readouterr().err


def test_release_never_loses_a_learners_work(demo_course, capsys):
    release.release()
    path = demo_course / "chapters" / "01_demo.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].source = "def add(a, b):\n    return a + b"  # the learner solved it
    nbformat.write(nb, path)
    (demo_course / "solutions" / "01_demo.md").write_text(
        (demo_course / "solutions" / "01_demo.md").read_text().replace("A demo chapter", "Demo"))
    release.release()
    backups = list((demo_course / "chapters" / ".backup").glob("01_demo-*.ipynb"))
    assert len(backups) == 1, "the learner's notebook was overwritten without a copy"
    assert "return a + b" in backups[0].read_text()
    assert "kept your work" in capsys.readouterr().out


def test_source_errors_are_one_clear_line(demo_course):
    src = demo_course / "solutions" / "01_demo.md"
    src.write_text(src.read_text().replace(":points: 2\n", ""))
    try:
        release.source_notebook(release.find(1))
    except release.BuildError as err:
        assert "check 'add' needs ':points: N'" in str(err)
    else:
        raise AssertionError("a check without points was accepted")


def test_real_chapters_are_released_and_fresh():
    """The committed generated files match the sources (what `course release --check` verifies)."""
    assert release.chapters(), "no chapter sources in solutions/"
    assert release.release(check=True) == 0


def test_generated_ids_are_deterministic(demo_course):
    a = json.loads(nbformat.writes(release.student_notebook(release.find(1))))
    b = json.loads(nbformat.writes(release.student_notebook(release.find(1))))
    assert a == b and all(c["id"] for c in a["cells"])
    assert set(loader.test_cells(release.source_notebook(release.find(1)))) == {"add", "norm"}


def test_a_written_answer_reaches_the_book_but_never_the_learner(demo_course):
    release.release()
    text = (demo_course / "chapters" / "01_demo.ipynb").read_text()
    for leak in ("MODEL-ANSWER-MARKER", "Rubric", "BEGIN SOLUTION"):
        assert leak not in text, f"student notebook leaks {leak!r}"
    nb = nbformat.reads(text, as_version=4)
    answer = next(c for c in nb.cells if c.get("id") == "written-why-positive")
    assert answer.cell_type == "markdown" and answer.source == markup.ANSWER_STUB
    assert answer.metadata.nbgrader == {"grade": True, "grade_id": "written-why-positive", "locked": False,
                                        "points": 2, "schema_version": 3, "solution": True, "task": False}
    assert markup.kind(answer) == "written" and markup.written_points(nb) == {"written-why-positive": 2}
    assert markup.max_score(nb) == 3  # the autograded points only: written answers are graded by hand
    page = release.book_page(release.find(1))
    written = page.split('+++ {"tags": ["written-answer"]}')[1].split("+++")[0]
    assert "MODEL-ANSWER-MARKER" in written and "BEGIN SOLUTION" not in written
    assert "````{admonition} A model answer and its rubric (2 points)\n:class: dropdown" in page


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace('"points": 2}', '"points": 0}'), "written answer 'why-positive' needs \"points\": N > 0"),
    (lambda s: s.replace("### END SOLUTION\n\n+++", "\n+++"), "is never closed"),
    (lambda s: s.replace("### BEGIN SOLUTION\n**Model", "**Model"), "needs a markdown cell with its model answer"),
])
def test_a_malformed_written_answer_is_one_clear_line(demo_course, edit, message):
    src = demo_course / "solutions" / "01_demo.md"
    src.write_text(edit(src.read_text()))
    with pytest.raises(release.BuildError) as err:
        release.source_notebook(release.find(1))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_real_chapters_ask_written_questions_without_giving_the_answers():
    for ch in release.chapters():
        nb = release.student_notebook(ch)
        written = [c for c in nb.cells if markup.is_written(c)]
        assert len(written) >= 2, f"{ch.slug}: two or three written questions after the experiments"
        assert all(c.source == markup.ANSWER_STUB for c in written), ch.slug
        text = nbformat.writes(nb)
        assert "Rubric" not in text and "Model answer" not in text, f"{ch.slug} leaks a model answer"
        page = release.book_page(ch)
        assert page.count("A model answer and its rubric") == len(written), ch.slug
