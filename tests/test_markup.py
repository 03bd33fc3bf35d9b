"""course.markup: the one place that says what a cell is and where its regions are."""

import subprocess
import sys

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course import markup, release

TEST_CELL = ('assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(2) == 3\nassert f(0) == 1\n'
             '### END HIDDEN TESTS\nprint("visible again")\n')


def _nb():
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# title"),
        new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION",
                      metadata={"nbgrader": markup.cell_meta("exercise", "f")}),
        new_code_cell(TEST_CELL, metadata={"nbgrader": markup.cell_meta("test", "f", points=2)}),
        new_code_cell("x = 1"),
        new_code_cell("assert True", metadata={"nbgrader": markup.cell_meta("test", "g", points=1)}),
    ]
    return nb


def test_cell_kinds_ids_and_points():
    nb = _nb()
    assert [markup.kind(c) for c in nb.cells] == [None, "exercise", "test", None, "test"]
    assert markup.grade_ids(nb) == {"exercise-f": "exercise", "check-f": "test", "check-g": "test"}
    assert markup.max_score(nb) == 3.0 and markup.test_points(nb) == {"f": 2.0, "g": 1.0}
    assert set(markup.test_cells(nb)) == {"f", "g"}
    assert markup.exercise_of("check-f") == markup.exercise_of("exercise-f") == "f"
    assert markup.grader_meta({"metadata": {"nbgrader": "junk"}}) == {}


def test_hidden_regions():
    assert markup.hidden_lines(TEST_CELL) == {2, 3, 4, 5}
    assert markup.hidden_text(TEST_CELL) == ["assert f(2) == 3", "assert f(0) == 1"]
    visible = markup.strip_hidden_tests(TEST_CELL)
    assert visible == 'assert f(1) == 2\nprint("visible again")\n'
    assert not markup.names_a_delimiter(visible) and markup.names_a_delimiter(TEST_CELL)


def test_solution_regions():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION"
    assert markup.stub_solutions(src) == ("def f(x):\n    y = 1\n    # YOUR CODE HERE\n"
                                          "    raise NotImplementedError()")
    assert markup.strip_solution_markers(src) == "def f(x):\n    y = 1\n    return x + y\n"


@pytest.mark.parametrize("source, why", [
    ("### BEGIN HIDDEN TESTS\nassert 1\n", "never closed"),
    ("### BEGIN HIDDEN TESTS\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n", "inside another"),
])
def test_a_broken_region_is_one_clear_error(source, why):
    with pytest.raises(markup.MarkupError, match=why):
        markup.strip_hidden_tests(source, where="ch.md: cell 3")


def test_a_broken_source_region_stops_the_release_with_one_line(demo_course):
    src = demo_course / "solutions" / "01_demo.md"
    src.write_text(src.read_text().replace("### END HIDDEN TESTS\n", "", 1))
    with pytest.raises(markup.MarkupError, match=r"01_demo.md: cell \d+: 'BEGIN HIDDEN TESTS'"):
        release.student_notebook(release.find(1))
    cli = subprocess.run([sys.executable, "-m", "course.cli", "release"], capture_output=True,
                         text=True)
    assert cli.returncode == 2 and len(cli.stderr.strip().splitlines()) == 1, cli.stderr
    assert "never closed" in cli.stderr and "Traceback" not in cli.stderr
