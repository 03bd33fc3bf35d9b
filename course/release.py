"""`course release`: the one-way build `solutions/NN_slug.md` → student notebook,
nbgrader source, book page.

Authoring markup (terse, expanded here into nbgrader metadata; `course.markup` says what
each cell and region is):
- `:exercise: <id>` on a code cell: the learner writes it; `### BEGIN/END SOLUTION`
  regions become `raise NotImplementedError()` stubs (as nbgrader's ClearSolutions does).
- `:check: <id>` and `:points: N` on a code cell: a locked, graded test cell;
  `### BEGIN/END HIDDEN TESTS` blocks in it exist only in the instructor's source.
- a code cell tagged `install`: its code is written here from `[tool.course.publish]`
  (`course.publish`): what installs the course where it is missing (Colab).
- a cell tagged `answer-key`: an answer in another form (an exercise rebuilt from library
  parts): in the source and the self-study book only, never in the student notebook.
- `+++ {"written": "<id>", "points": N}` before a markdown cell: a written answer, graded
  by hand. Its model answer and rubric sit between `### BEGIN/END SOLUTION`: the learner
  gets "YOUR ANSWER HERE", the book shows them behind a toggle.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

from course import markup, publish
from course.errors import CourseError, Exit

# COURSE_ROOT lets tests (and the checker subprocess they start) point at a scratch course.
ROOT = Path(os.environ.get("COURSE_ROOT") or Path(__file__).resolve().parents[1])
_NAME = re.compile(r"^(\d\d)_([a-z0-9_]+)\.md$")
_JUPYTEXT_VERSION = re.compile(r"^    jupytext_version: .*\n", re.M)


class BuildError(CourseError):
    """A malformed source or an unknown chapter."""


@dataclass(frozen=True)
class Chapter:
    number: int
    slug: str  # e.g. "01_word2vec"
    source: Path

    @property
    def student_path(self) -> Path:
        return ROOT / "chapters" / f"{self.slug}.ipynb"

    @property
    def book_path(self) -> Path:
        return ROOT / "book" / "chapters" / f"{self.slug}.md"

    @property
    def name(self) -> str:  # "word2vec": also the module name of its checks
        return self.slug.split("_", 1)[1]

    def matches(self, key: str | int) -> bool:
        """Is `key` this chapter's number (1, "1", "01"), slug or name?"""
        return str(key) in (self.slug, str(self.number), f"{self.number:02d}", self.name)


# The student edition's wheel carries the released notebooks here (no solutions/ beside it):
# `course check` reads a chapter's test cells and points from them.
RELEASED = Path(__file__).resolve().parent / "released"


def has_sources() -> bool:
    """Is this the instructor's course tree (solutions/ present), not the student edition?"""
    return (ROOT / "solutions").is_dir()


def released(key: str | int) -> tuple[Chapter, nbformat.NotebookNode]:
    """A chapter and the notebook its class received (stubs, visible tests, points): built from
    solutions/ in the course tree, read from the package in the student edition."""
    if has_sources():
        ch = find(key)
        return ch, student_notebook(ch)
    found = []
    for path in sorted(RELEASED.glob("*.ipynb")):
        match = _NAME.match(f"{path.stem}.md")
        if match:
            ch = Chapter(int(match[1]), path.stem, path)
            found.append(ch)
            if ch.matches(key):
                return ch, nbformat.read(path, as_version=4)
    known = ", ".join(ch.slug for ch in found) or "none"
    raise BuildError(f"no chapter {key!r} in this edition; chapters are: {known}")


def chapters() -> list[Chapter]:
    found = []
    for path in sorted((ROOT / "solutions").glob("*.md")):
        match = _NAME.match(path.name)
        if match:
            found.append(Chapter(int(match[1]), path.stem, path))
    return found


def find(key: str | int) -> Chapter:
    """A chapter by number (1, "1", "01") or slug ("01_word2vec")."""
    for ch in chapters():
        if ch.matches(key):
            return ch
    known = ", ".join(ch.slug for ch in chapters()) or "none"
    raise BuildError(f"no chapter {key!r}; chapters are: {known}")


def _generated_note(ch: Chapter) -> str:
    rel = ch.source.relative_to(ROOT) if ch.source.is_relative_to(ROOT) else ch.source
    return f"<!-- generated from {rel.as_posix()} by `course release`: edit the source, not this file -->"


def source_notebook(ch: Chapter) -> nbformat.NotebookNode:
    """The instructor's nbgrader source: solutions, hidden tests, nbgrader metadata."""
    text = ch.source.read_text()
    try:
        nb = jupytext.reads(text, fmt="md:myst")
    except Exception as err:  # jupytext raises many types on malformed text
        raise BuildError(f"{ch.source.name}: not a readable MyST notebook "
                         f"({type(err).__name__}: {err})") from None
    seen: set[str] = set()
    install = publish.install_cell(publish.settings(ROOT))
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata
        if cell.cell_type == "code" and publish.INSTALL_TAG in (meta.get("tags") or []):
            cell.source = install.rstrip("\n")
        exercise, check = meta.pop("exercise", None), meta.pop("check", None)
        written, points = meta.pop("written", None), meta.pop("points", None)
        cell.id = f"cell-{index:03d}"
        if sum(x is not None for x in (exercise, check, written)) > 1:
            raise BuildError(f"{ch.source.name}: cell {index} is more than one of an exercise, "
                             "a check and a written answer")
        if written is not None:
            if cell.cell_type != "markdown" or markup.BEGIN_SOLUTION not in cell.source:
                raise BuildError(f"{ch.source.name}: written answer {written!r} needs a markdown cell "
                                 f"with its model answer and rubric inside ### {markup.BEGIN_SOLUTION}")
            if not isinstance(points, int) or points <= 0:
                raise BuildError(f"{ch.source.name}: written answer {written!r} needs \"points\": N > 0")
            try:
                markup.regions(cell.source, markup.BEGIN_SOLUTION, markup.END_SOLUTION,
                               where=f"{ch.source.name}: written answer {written!r}")
            except markup.MarkupError as err:
                raise BuildError(str(err)) from None
            meta["nbgrader"] = markup.cell_meta("written", str(written), points=points)
        elif exercise is not None:
            if cell.cell_type != "code" or markup.BEGIN_SOLUTION not in cell.source:
                raise BuildError(f"{ch.source.name}: exercise {exercise!r} needs a code cell with "
                                 f"### {markup.BEGIN_SOLUTION}")
            meta["nbgrader"] = markup.cell_meta("exercise", str(exercise))
        elif check is not None:
            if not isinstance(points, int) or points <= 0:
                raise BuildError(f"{ch.source.name}: check {check!r} needs ':points: N' with N > 0")
            meta["nbgrader"] = markup.cell_meta("test", str(check), points=points)
        else:
            continue
        grade_id = meta["nbgrader"]["grade_id"]
        if grade_id in seen:
            raise BuildError(f"{ch.source.name}: {grade_id} appears twice")
        seen.add(grade_id)
        cell.id = grade_id
    nb.metadata.pop("jupytext", None)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["course"] = {
        "chapter": ch.slug,
        "generated_from": f"solutions/{ch.source.name}",
        "source_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def student_notebook(ch: Chapter) -> nbformat.NotebookNode:
    """What a learner gets: stubs for solutions, no hidden tests, no outputs."""
    nb = source_notebook(ch)
    nb.cells = [cell for cell in nb.cells if not markup.is_answer_key(cell)]
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            where = f"{ch.source.name}: cell {index}"
            cell.source = markup.stub_solutions(markup.strip_hidden_tests(cell.source, where=where),
                                                where=where)
            cell.outputs, cell.execution_count = [], None
        elif markup.is_written(cell):
            cell.source = markup.ANSWER_STUB  # the model answer and the rubric stay behind
    _mark_generated(nb, ch)
    return nb


def book_page(ch: Chapter) -> str:
    """The chapter's book page: the full narrative without hidden tests. Exercise cells keep
    their solution markers and written answers their model answer, each tagged, so that
    `course book` can show them behind a toggle (self-study) or as stubs (student edition)."""
    nb = source_notebook(ch)
    for index, cell in enumerate(nb.cells):
        answer = markup.is_exercise(cell)
        tags = cell.metadata.setdefault("tags", [])
        if markup.is_written(cell):
            where = f"{ch.source.name}: cell {index}"
            body = markup.strip_solution_markers(cell.source, where=where).strip()
            points = markup.points(cell)
            cell.source = (f"````{{admonition}} A model answer and its rubric ({points:g} points)\n"
                           f":class: dropdown\n\n{body}\n````")
            tags.append(markup.WRITTEN_TAG)
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "code":
            where = f"{ch.source.name}: cell {index}"
            cell.source = markup.strip_hidden_tests(cell.source, where=where)
            if answer:
                tags += [t for t in ("hide-input", markup.EXERCISE_TAG) if t not in tags]
        if not tags:
            del cell.metadata["tags"]
    nb.metadata.pop("course", None)
    nb.metadata.pop("language_info", None)
    _mark_generated(nb, ch)
    # the jupytext version in the header would make every upgrade look like a stale page
    return _JUPYTEXT_VERSION.sub("", jupytext.writes(nb, fmt="md:myst"))


def _mark_generated(nb: nbformat.NotebookNode, ch: Chapter) -> None:
    note = _generated_note(ch)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = f"{note}\n{cell.source}"
            return
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))


def _targets(ch: Chapter) -> dict[Path, str]:
    return {
        ch.student_path: nbformat.writes(student_notebook(ch)) + "\n",
        ch.book_path: book_page(ch),
    }


def _checks_code(ch: Chapter) -> Path | None:
    """The chapter's visible checks in this course tree (a module or a package), if any."""
    base = ROOT / "autograder" / "checks"
    for candidate in (base / f"{ch.name}.py", base / ch.name):
        if candidate.exists():
            return candidate
    return None


def _probes(ch: Chapter) -> dict:
    import importlib

    if _checks_code(ch) is None:
        return {}
    try:
        module = importlib.import_module(f"autograder.checks.{ch.name}")
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith(f"autograder.checks.{ch.name}"):
            return {}
        raise BuildError(f"autograder.checks.{ch.name} does not import: {err}") from None
    except Exception as err:  # instructor code: one line naming the module
        raise BuildError(f"autograder.checks.{ch.name} does not import: "
                         f"{type(err).__name__}: {err}") from None
    return dict(getattr(module, "PROBES", {}))


def expected_store() -> Path:
    return ROOT / "autograder" / "expected"


def _stale_expected() -> tuple[list[tuple[Chapter, dict, str]], list[Path]]:
    """Chapters whose stored expected values are older than their source or checks, and
    stored files no chapter's checks ask for."""
    from autograder import expected

    stale, wanted = [], set()
    for ch in chapters():
        probes = _probes(ch)
        if not probes:
            continue
        wanted.add(expected_store() / f"{ch.name}.safetensors")
        fp = expected.fingerprint(ch.source, _checks_code(ch))
        if expected.stored_fingerprint(ch.name, expected_store()) != fp:
            stale.append((ch, probes, fp))
    orphans = sorted(set(expected_store().glob("*.safetensors")) - wanted)
    return stale, orphans


def _write_expected(ch: Chapter, probes: dict, fp: str) -> Path:
    """Run the checks' probes on the chapter's solution and store what they return."""
    from autograder import expected
    from course import loader

    solution = loader.load_definitions(source_notebook(ch))
    if solution[loader.ERRORS]:
        raise BuildError(f"{ch.source.name}: the solution does not load: "
                         f"{'; '.join(solution[loader.ERRORS])}")
    try:
        tensors = expected.generate(probes, solution)
    except Exception as err:  # a probe is instructor code run on the solution: name it
        raise BuildError(f"{ch.source.name}: making the checks' expected values failed: "
                         f"{type(err).__name__}: {err}") from err
    return expected.write(ch.name, tensors, fp, f"solutions/{ch.source.name}", expected_store())


def release(check: bool = False) -> int:
    """Regenerate chapters/, book/chapters/ and the checks' expected values; with `check`,
    only report what is stale."""
    wanted: dict[Path, str] = {}
    for ch in chapters():
        wanted.update(_targets(ch))
    generated = set((ROOT / "chapters").glob("*.ipynb")) | set((ROOT / "book" / "chapters").glob("*.md"))
    orphans = sorted(generated - set(wanted))
    stale = [p for p, text in wanted.items() if not p.is_file() or p.read_text() != text]
    stale_expected, orphan_expected = _stale_expected()
    if check:
        late = stale + [expected_store() / f"{ch.name}.safetensors" for ch, _, _ in stale_expected]
        for path in late:
            print(f"stale: {path.relative_to(ROOT)} (run `course release`)", file=sys.stderr)
        for path in orphans + orphan_expected:
            print(f"orphan: {path.relative_to(ROOT)} has no source in solutions/", file=sys.stderr)
        if not late and not orphans and not orphan_expected:
            print(f"up to date: {len(wanted)} generated files")
        return Exit.FAILED if late or orphans or orphan_expected else Exit.OK
    for path in stale:
        _keep_copy(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    for ch, probes, fp in stale_expected:
        print(f"wrote {_write_expected(ch, probes, fp).relative_to(ROOT)}")
    for path in orphans + orphan_expected:
        _keep_copy(path)
        path.unlink()
        print(f"removed {path.relative_to(ROOT)} (its source is gone)")
    print(f"release: {len(wanted)} generated files, {len(stale) + len(stale_expected)} rewritten")
    return Exit.OK


def _learner_work(path: Path) -> bool:
    """Does this generated notebook hold a learner's work (outputs, or a stub filled in)?"""
    if path.suffix != ".ipynb":
        return False
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # unreadable: keep it, someone may want it
        return True
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count"):
            return True
        if markup.is_exercise(cell) and "raise NotImplementedError()" not in cell.source:
            return True
    return False


def _keep_copy(path: Path) -> None:
    """Before a release replaces or removes a notebook a learner worked in, copy it aside."""
    if path.is_file() and _learner_work(path):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = path.parent / ".backup" / f"{path.stem}-{stamp}{path.suffix}"
        backup.parent.mkdir(exist_ok=True)
        shutil.copy2(path, backup)
        print(f"kept your work: {path.relative_to(ROOT)} → {backup.relative_to(ROOT)}")
