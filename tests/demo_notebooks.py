"""Small instructor source notebooks for the grading tests, in the shape `course release` makes.

`two_exercises(...)`: exercises `add` (2 points) and `square` (3 points), each followed by
its graded test cell, visible tests then hidden ones. `released`/`stubs` are what nbgrader
gives students (hidden tests removed; solutions stubbed too).
"""

from __future__ import annotations

import copy

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course import markup


def exercise_cell(name: str, source: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"nbgrader": markup.cell_meta("exercise", name)})


def test_cell(name: str, source: str, points: int) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"nbgrader": markup.cell_meta("test", name,
                                                                          points=points)})


def two_exercises(title: str, tests: dict[str, tuple[str, str]], prelude: str = ""
                  ) -> nbformat.NotebookNode:
    """`tests`: "add" and "square" -> (visible lines, hidden lines) of its test cell;
    `prelude` opens each test cell (an import of the checks...)."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    answers = {"add": ("a, b", "a + b"), "square": ("x", "x * x")}
    nb.cells = [new_markdown_cell(f"# {title}"), new_code_cell("import math")]
    for (name, (args, body)), points in zip(answers.items(), (2, 3)):
        visible, hidden = tests[name]
        nb.cells.append(exercise_cell(name, f"def {name}({args}):\n    ### BEGIN SOLUTION\n"
                                            f"    return {body}\n    ### END SOLUTION"))
        nb.cells.append(test_cell(name, f"{prelude}{visible}\n### BEGIN HIDDEN TESTS\n{hidden}\n"
                                        "### END HIDDEN TESTS", points))
    return nb


def released(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without its hidden tests (solutions kept: a student who solved it)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.source = markup.strip_hidden_tests(cell.source)
    return nb


def stubs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What nbgrader releases: hidden tests removed, solutions replaced by the stub."""
    nb = released(nb)
    for cell in nb.cells:
        cell.source = markup.stub_solutions(cell.source)
    return nb
