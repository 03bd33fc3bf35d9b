"""Load a learner's code without running it: the one loader of `course check`, of grading's
clean re-run (`autograder.verify`) and of the tamper scan (`autograder.tamper`).

The rule, the same everywhere: from each code cell keep only the top-level imports,
function and class definitions, and `NAME = literal` constants (parsed with `ast`, with
IPython magics and shell escapes blanked). Checks can then call the learner's code in
seconds without re-running training cells, and a top-level statement that patches
something never runs. `walk` goes through a notebook in order, loading the code cells and
handing each graded test cell to the caller with the definitions made before it, as the
notebook's kernel would have them. Any jupytext-readable file works: `.ipynb` or a MyST
source.
"""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jupytext
import nbformat

from course import markup
from course.errors import CourseError

DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
MAGIC = re.compile(r"^\s*[%!]")  # an IPython magic or shell escape: not Python
ERRORS = "__load_errors__"  # where load_definitions leaves what it could not load


class LoadError(CourseError):
    """The notebook cannot be read at all (missing, not a notebook), or (strict) a cell failed."""


def read(path_or_nb) -> nbformat.NotebookNode:
    """A notebook node from a path (.ipynb, .md, .py: what jupytext reads) or a node."""
    if isinstance(path_or_nb, nbformat.NotebookNode):
        return path_or_nb
    path = Path(path_or_nb)
    if not path.is_file():
        raise LoadError(f"{path}: no such notebook")
    try:
        return jupytext.read(path)
    except Exception as err:  # jupytext raises many types for unreadable files
        raise LoadError(f"{path}: not a readable notebook ({type(err).__name__}: {err})") from None


def parse(source: str) -> ast.Module:
    """A cell's source as Python, magics blanked so line numbers stay; raises SyntaxError."""
    return ast.parse("\n".join("" if MAGIC.match(line) else line for line in source.splitlines()))


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def kept(node: ast.stmt) -> bool:
    """Is this top-level statement one the loader runs? (imports, defs, classes, NAME = literal)"""
    if isinstance(node, DEFINITIONS):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(isinstance(t, ast.Name) for t in targets) and _literal(node.value)
    return False


def load_cell(source: str, namespace: dict, *, label: str,
              guard: Callable[[], contextlib.AbstractContextManager] | None = None) -> list[str]:
    """Run the kept statements of one cell in `namespace`; return what failed, a line each.

    A statement that fails (an import the machine lacks, a default argument naming a
    global that was not kept) is skipped. `guard()` wraps each statement (a time limit).
    """
    try:
        tree = parse(source)
    except SyntaxError as err:
        return [f"{label}: SyntaxError: {err.msg} (line {err.lineno})"]
    errors = []
    for node in tree.body:
        if not kept(node):
            continue
        code = compile(ast.Module(body=[node], type_ignores=[]), f"<{label}>", "exec")
        try:
            with guard() if guard else contextlib.nullcontext():
                exec(code, namespace)
        except Exception as err:  # learner code may raise anything; report, don't crash
            errors.append(f"{label}: {type(err).__name__}: {err}")
    return errors


def namespace() -> dict:
    """A fresh namespace for a learner's code, named as in the notebook's kernel."""
    return {"__name__": "__main__"}


def load_definitions(path_or_nb, *, strict: bool = False) -> dict:
    """Every code cell's kept statements, run in a fresh namespace, which is returned.

    What failed is reported under the key `__load_errors__` (with `strict`, it raises).
    """
    ns = namespace()
    errors: list[str] = []
    for index, cell in enumerate(read(path_or_nb).cells):
        if cell.cell_type == "code":
            errors += load_cell(cell.source, ns, label=f"cell {index}")
    if strict and errors:
        raise LoadError("; ".join(errors))
    ns[ERRORS] = errors
    return ns


def test_cells(path_or_nb) -> dict[str, str]:
    """Exercise id -> source of its graded test cell (nbgrader metadata or a source's `:check:`)."""
    return {exercise: cell["source"] for exercise, cell in markup.test_cells(read(path_or_nb)).items()}


# ---------------------------------------------------------------------------------------
# a notebook, in order


@dataclass(frozen=True)
class Cell:
    """A code cell as the walk sees it: the learner's code, or a graded test to run."""

    kind: str  # "code" | "test"
    source: str
    name: str = ""  # of a test cell: its exercise id (course check) or grade id (grading)
    index: int = -1  # its place in the notebook, for messages


def cells(path_or_nb, tests: Mapping[str, str] | None = None) -> list[Cell]:
    """The code cells of a learner's notebook, in order, ready for `walk`.

    With `tests` (exercise id -> source, from the released notebook), each graded test
    cell runs that source, not the learner's copy of it (an edited test cannot pass
    itself), and a test cell the learner deleted runs at the end.
    """
    nb = read(path_or_nb)
    found = {id(cell): exercise for exercise, cell in markup.test_cells(nb).items()}
    out: list[Cell] = []
    seen = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        exercise = found.get(id(cell))
        if exercise is None or (tests is not None and exercise not in tests):
            out.append(Cell("code", cell.source, index=index))
        else:
            source = tests[exercise] if tests is not None else cell.source
            out.append(Cell("test", source, exercise, index))
            seen.add(exercise)
    out += [Cell("test", source, exercise) for exercise, source in (tests or {}).items()
            if exercise not in seen]
    return out


def walk(notebook: Sequence[Cell], ns: dict, errors: list[str] | None = None, *,
         guard: Callable[[], contextlib.AbstractContextManager] | None = None) -> Iterator[Cell]:
    """Load the code cells into `ns` in order; yield each test cell when its turn comes.

    The caller runs the test in `ns` (as the kernel would: the definitions made so far).
    What failed to load is appended to `errors`.
    """
    for cell in notebook:
        if cell.kind == "test":
            yield cell
        else:
            failed = load_cell(cell.source, ns, label=f"cell {cell.index}", guard=guard)
            if errors is not None:
                errors += failed


def run_test(source: str, ns: dict[str, Any], label: str) -> None:
    """Run a graded test cell's source in `ns` (exceptions propagate to the caller)."""
    exec(compile(source, f"<{label}>", "exec"), ns)
