"""Load a learner's notebook without running it.

`load_definitions` keeps only the imports, function and class definitions of the code
cells (parsed with `ast`), so checks can call the learner's code in seconds without
re-running training cells. Any jupytext-readable file works: `.ipynb` or the MyST source.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import nbformat

_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MAGIC = re.compile(r"^\s*[%!]")


class LoadError(ValueError):
    """The notebook cannot be read at all (missing, not a notebook)."""


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


def _code(cell) -> str:
    # IPython magics and shell escapes are not Python; blank them, keeping line numbers.
    return "\n".join("" if _MAGIC.match(line) else line for line in cell.source.splitlines())


def definitions(path_or_nb) -> tuple[list[tuple[int, ast.stmt]], list[str]]:
    """(cell index, statement) for every top-level import/def/class, and per-cell syntax errors."""
    nb = read(path_or_nb)
    keep, errors = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_code(cell))
        except SyntaxError as err:
            errors.append(f"cell {index}: SyntaxError: {err.msg} (line {err.lineno})")
            continue
        keep += [(index, node) for node in tree.body if isinstance(node, _KEEP)]
    return keep, errors


def load_definitions(path_or_nb, *, strict: bool = False) -> dict:
    """Execute the notebook's imports/defs/classes in a fresh namespace and return it.

    A statement that fails (an import the machine lacks, a default argument naming a
    global) is skipped and reported under the key `__load_errors__`; with `strict`, it raises.
    """
    keep, errors = definitions(path_or_nb)
    namespace: dict = {"__name__": "__learner__"}
    for index, node in keep:
        code = compile(ast.Module(body=[node], type_ignores=[]), f"<cell {index}>", "exec")
        try:
            exec(code, namespace)
        except Exception as err:  # learner code may raise anything; report, don't crash
            errors.append(f"cell {index}: {type(err).__name__}: {err}")
    if strict and errors:
        raise LoadError("; ".join(errors))
    namespace["__load_errors__"] = errors
    return namespace


def test_cells(path_or_nb) -> dict[str, str]:
    """Exercise id -> source of its graded test cell, from `:check:` (source) or nbgrader metadata."""
    cells = {}
    for cell in read(path_or_nb).cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata
        grade_id = meta.get("nbgrader", {}).get("grade_id", "")
        if "check" in meta:
            cells[str(meta["check"])] = cell.source
        elif meta.get("nbgrader", {}).get("grade") and grade_id.startswith("check-"):
            cells[grade_id.removeprefix("check-")] = cell.source
    return cells
