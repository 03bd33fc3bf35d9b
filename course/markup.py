"""The notebook markup that the course's sources, nbgrader and the grader share.

One module says what every kind of cell is and where the regions inside a cell begin and
end, for `course` (release, check, book) and `autograder` (intake, grading, feedback)
alike, as `nbgrader.utils` does for nbgrader.

Cells (nbgrader's metadata, schema version 3; `course.release` writes it from the
terse authoring markup of a source):
- ``:exercise: ID`` -> grade id ``exercise-ID``: a solution cell the learner writes;
- ``:check: ID`` and ``:points: N`` -> grade id ``check-ID``: a graded, locked test cell;
- a markdown cell with metadata ``{"written": ID, "points": N}`` -> grade id ``written-ID``:
  a written answer, graded by hand (nbgrader's "manually graded answer"); its model answer
  and rubric sit in a solution region, so they never reach the learner.

Regions inside a cell's source, by nbgrader's own rule (a line *containing* the
delimiter opens or closes a region; see ``nbgrader.preprocessors.ClearSolutions`` and
``ClearHiddenTests``): ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` and
``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``.

Cells may be nbformat nodes or plain dicts; nothing here imports nbformat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from course.errors import CourseError

EXERCISE = "exercise-"  # grade-id prefix of an exercise (solution) cell
CHECK = "check-"  # grade-id prefix of a graded test cell
WRITTEN = "written-"  # grade-id prefix of a written answer, graded by hand
SCHEMA_VERSION = 3  # nbgrader refuses cell metadata without it
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"  # what a released solution becomes
ANSWER_STUB = "YOUR ANSWER HERE"  # what a released written answer becomes (nbgrader's text)
# A narrative cell tagged so holds an answer in another form (an exercise rebuilt from
# library parts, a comparison that needs it): it appears in the instructor's source and the
# self-study book only, never in the student notebook or the student book.
ANSWER_KEY = "answer-key"
# Tags the book page gives an exercise cell (its solution markers kept) and a written answer's
# model answer, so that `course book` can show them (self-study) or stub them (student).
EXERCISE_TAG, WRITTEN_TAG = "exercise", "written-answer"


class MarkupError(CourseError):
    """A region that is never closed, or opened twice."""


# ---------------------------------------------------------------------------------------
# cells


def grader_meta(cell: Mapping[str, Any]) -> Mapping[str, Any]:
    """The cell's nbgrader metadata ({} when it has none, or something that is not a dict)."""
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    return meta if isinstance(meta, Mapping) else {}


def grade_id(cell: Mapping[str, Any]) -> str | None:
    gid = grader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def is_test(cell: Mapping[str, Any]) -> bool:
    """A graded test cell: code, graded, and not an answer."""
    meta = grader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_exercise(cell: Mapping[str, Any]) -> bool:
    """A cell the learner writes (nbgrader's solution cell)."""
    return bool(grader_meta(cell).get("solution"))


def is_written(cell: Mapping[str, Any]) -> bool:
    """A written answer: a markdown answer cell that is graded (by hand)."""
    meta = grader_meta(cell)
    return cell.get("cell_type") == "markdown" and bool(meta.get("grade")) and bool(meta.get("solution"))


def has_tag(cell: Mapping[str, Any], tag: str) -> bool:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return isinstance(tags, list) and tag in tags


def is_answer_key(cell: Mapping[str, Any]) -> bool:
    return has_tag(cell, ANSWER_KEY)


def kind(cell: Mapping[str, Any]) -> str | None:
    """"test", "exercise", "written", or None for a cell the grader does not track."""
    if grade_id(cell) is None:
        return None
    meta = grader_meta(cell)
    if meta.get("grade") and not meta.get("solution"):
        return "test"
    if is_written(cell):
        return "written"
    return "exercise" if meta.get("solution") else None


def points(cell: Mapping[str, Any]) -> float:
    """The points a graded cell is worth (0 for any other cell)."""
    meta = grader_meta(cell)
    return float(meta.get("points") or 0) if meta.get("grade") else 0.0


def exercise_of(gid: str) -> str:
    """The exercise a grade id belongs to: "check-vocab" and "exercise-vocab" -> "vocab"."""
    return gid.removeprefix(CHECK).removeprefix(EXERCISE)


def cell_meta(role: str, exercise: str, *, points: int | None = None) -> dict[str, Any]:
    """nbgrader metadata for an exercise cell (role "exercise"), a test cell ("test") or a
    written answer ("written": graded and a solution, so nbgrader asks for a human)."""
    if role == "written":
        return {"grade": True, "grade_id": f"{WRITTEN}{exercise}", "locked": False,
                "points": points, "schema_version": SCHEMA_VERSION, "solution": True, "task": False}
    test = role == "test"
    meta = {"grade": test, "grade_id": f"{CHECK if test else EXERCISE}{exercise}",
            "locked": test, "schema_version": SCHEMA_VERSION, "solution": not test,
            "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def grade_ids(nb: Mapping[str, Any]) -> dict[str, str]:
    """grade id -> "test" | "exercise" for the tracked cells of a notebook."""
    return {grade_id(c): k for c in nb.get("cells", []) if (k := kind(c)) is not None}


def max_score(nb: Mapping[str, Any]) -> float:
    """The points the autograder gives (graded test cells; written answers are graded by hand)."""
    return sum(points(c) for c in nb.get("cells", []) if not is_written(c))


def written_points(nb: Mapping[str, Any]) -> dict[str, float]:
    """grade id -> points of each written answer (graded by hand, outside max_score)."""
    return {grade_id(c): points(c) for c in nb.get("cells", []) if is_written(c) and grade_id(c)}


def test_cells(nb: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Exercise id -> its graded test cell, from nbgrader metadata or a source's `:check:`."""
    found = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source_check = (cell.get("metadata") or {}).get("check")
        if source_check is not None:
            found[str(source_check)] = cell
        elif is_test(cell) and (grade_id(cell) or "").startswith(CHECK):
            found[exercise_of(grade_id(cell))] = cell
    return found


def test_points(nb: Mapping[str, Any]) -> dict[str, float]:
    """Exercise id -> points of its graded test cell (an nbgrader notebook)."""
    return {exercise_of(grade_id(c)): points(c) for c in nb.get("cells", [])
            if is_test(c) and (grade_id(c) or "").startswith(CHECK)}


# ---------------------------------------------------------------------------------------
# regions inside a cell


@dataclass
class Region:
    """One delimited region: 1-based line numbers of its delimiters, and the lines between."""

    begin: int
    end: int
    lines: list[str] = field(default_factory=list)

    @property
    def numbers(self) -> set[int]:
        """Every line number of the region, delimiters included."""
        return set(range(self.begin, self.end + 1))


def regions(source: str, begin: str, end: str, *, where: str = "cell") -> list[Region]:
    """The regions of `source` between lines containing `begin` and `end`.

    Raises MarkupError (one line, naming `where`) for a nested or unclosed region, as
    nbgrader would refuse it.
    """
    found: list[Region] = []
    current: Region | None = None
    for number, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            if current is not None:
                raise MarkupError(f"{where}: line {number} opens {begin!r} inside another")
            current = Region(number, number)
        elif end in line and current is not None:
            current.end = number
            found.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
    if current is not None:
        raise MarkupError(f"{where}: {begin!r} on line {current.begin} is never closed by {end!r}")
    return found


def _outside(source: str, begin: str, end: str, where: str, stub: str | None = None) -> str:
    """`source` without its regions (each replaced by `stub`, indented as its opening line)."""
    lines = source.split("\n")
    drop: set[int] = set()
    stubs: dict[int, list[str]] = {}
    for region in regions(source, begin, end, where=where):
        drop |= region.numbers
        if stub is not None:
            opening = lines[region.begin - 1]
            indent = opening[: len(opening) - len(opening.lstrip())]
            stubs[region.begin] = [indent + line for line in stub.split("\n")]
    kept: list[str] = []
    for number, line in enumerate(lines, start=1):
        kept += stubs.get(number, [])
        if number not in drop:
            kept.append(line)
    return "\n".join(kept)


def strip_hidden_tests(source: str, *, where: str = "cell") -> str:
    """The cell as a learner sees it: hidden-test regions removed, trailing blank lines too."""
    if BEGIN_HIDDEN not in source:
        return source
    text = _outside(source, BEGIN_HIDDEN, END_HIDDEN, where)
    return text.rstrip() + ("\n" if source.endswith("\n") else "")


def hidden_lines(source: str) -> set[int]:
    """Line numbers (1-based) of the hidden-test regions of a test cell, delimiters included."""
    return {n for r in regions(source, BEGIN_HIDDEN, END_HIDDEN) for n in r.numbers}


def hidden_text(source: str) -> list[str]:
    """The lines inside the hidden-test regions, stripped."""
    return [line.strip() for r in regions(source, BEGIN_HIDDEN, END_HIDDEN) for line in r.lines]


def stub_solutions(source: str, *, where: str = "cell") -> str:
    """Every solution region replaced by the stub, at the indentation of its BEGIN line."""
    if BEGIN_SOLUTION not in source:
        return source
    return _outside(source, BEGIN_SOLUTION, END_SOLUTION, where, stub=STUB)


def strip_solution_markers(source: str, *, where: str = "cell") -> str:
    """The solution shown whole (the book): only the delimiter lines removed."""
    if BEGIN_SOLUTION not in source:
        return source
    marks = {n for r in regions(source, BEGIN_SOLUTION, END_SOLUTION, where=where)
             for n in (r.begin, r.end)}
    lines = source.split("\n")  # each delimiter line goes with its own newline
    ends = ["\n"] * (len(lines) - 1) + [""]
    return "".join(line + end for n, (line, end) in enumerate(zip(lines, ends), start=1)
                   if n not in marks)


def names_a_delimiter(text: str) -> bool:
    """Does the text show a hidden-test delimiter (a sign that hidden tests leaked)?"""
    return BEGIN_HIDDEN in text or END_HIDDEN in text


def neutralise_delimiters(source: str) -> str:
    """A student's text that merely mentions the delimiter, made harmless for nbgrader."""
    return source.replace("HIDDEN TESTS", "HIDDEN_TESTS")
