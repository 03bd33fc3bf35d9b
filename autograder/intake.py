"""Find and vet the submissions in ``SUBMISSIONS_DIR/<student>/<NN_slug>.ipynb``.

Nothing here runs student code. Every file becomes either a notebook to grade or a
row with a status and a reason (unrecognised name, empty, binary, invalid JSON, not a
notebook, ...), so one bad file never stops the others.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course import markup

MAX_BYTES = 100 * 1024 * 1024
TEXT_FORMATS = (".py", ".md")  # a notebook saved as text (jupytext) is converted
IGNORED = {".ipynb_checkpoints", "__pycache__", "__MACOSX", "Thumbs.db", "desktop.ini"}
# "01_word2vec (1).ipynb", "01_word2vec-Copy1.ipynb", "01_Word2Vec.ipynb": a renamed copy
COPY_SUFFIX = re.compile(r"^[\s._-]*(\(\d+\)|copy\s*\d*|\d+)?$", re.IGNORECASE)


@dataclass
class Item:
    """One (student, assignment) cell of the gradebook, or one file that is not."""

    student: str
    assignment: str  # the slug, or the file name when it is not a known notebook
    path: Path | None = None
    status: str = "pending"  # pending (to grade) | failed
    reason: str = ""
    flags: list[str] = field(default_factory=list)  # graded but worth a human look
    missing: list[str] = field(default_factory=list)  # grade ids not in the submission
    notebook: nbformat.NotebookNode | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.student, self.assignment


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in IGNORED


def match_assignment(filename: str, slugs: list[str]) -> tuple[str | None, bool]:
    """(slug, exact) for a file name; slug None when it names no known notebook."""
    if not filename.lower().endswith(".ipynb"):
        return None, False
    stem = filename[: -len(".ipynb")]
    if stem in slugs:
        return stem, True
    for slug in sorted(slugs, key=len, reverse=True):
        if stem.lower().startswith(slug.lower()) and COPY_SUFFIX.match(stem[len(slug):]):
            return slug, False
    return None, False


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """(notebook, "") or (None, why it cannot be graded)."""
    try:
        size = path.stat().st_size
        if size == 0:
            return None, "empty file"
        if size > MAX_BYTES:
            return None, f"file too large ({size / 2**20:.0f} MB)"
        raw = path.read_bytes()
    except OSError as e:
        return None, f"cannot read the file: {e.strerror or e}"
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # saved as UTF-16 (some Windows editors)
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return None, "not a notebook: not UTF-8 text"
    if b"\x00" in raw[:8192]:
        return None, "not a notebook: binary file"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "not a notebook: not UTF-8 text"
    if path.suffix.lower() in TEXT_FORMATS:
        return _read_text_notebook(text, path.suffix.lower())
    if not text.strip():
        return None, "empty file"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return None, "not a Jupyter notebook (JSON without cells)"
    try:
        nb = nbformat.reads(text, as_version=4, capture_validation_error={})
    except Exception as e:  # nbformat raises many types on malformed notebooks
        return None, f"not a Jupyter notebook ({type(e).__name__}: {str(e)[:120]})"
    if not isinstance(nb.get("cells"), list):
        return None, "not a Jupyter notebook (no cell list)"
    for cell in nb.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            return None, "not a Jupyter notebook (malformed cell)"
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
        if not isinstance(cell.get("source", ""), str):
            return None, "not a Jupyter notebook (malformed cell source)"
    return nb, ""


def _read_text_notebook(text: str, ext: str) -> tuple[nbformat.NotebookNode | None, str]:
    """A notebook saved as jupytext (percent .py, MyST or plain .md): converted."""
    import jupytext

    try:
        nb = jupytext.reads(text, fmt=ext.lstrip("."))
    except Exception as e:  # jupytext raises many types on odd text
        return None, f"cannot convert the {ext} file to a notebook ({type(e).__name__})"
    if not any(c.cell_type == "code" for c in nb.cells):
        return None, f"the {ext} file holds no code cells"
    nb.metadata["orig_nbformat"] = ext
    return nb, ""


def scan(submissions: Path, slugs: list[str]) -> tuple[list[str], list[Item]]:
    """Student folders and one Item per file (status pending or failed)."""
    students: list[str] = []
    items: list[Item] = []
    for entry in sorted(submissions.iterdir(), key=lambda p: p.name):
        if _hidden(entry.name):
            continue
        if entry.is_dir():
            students.append(entry.name)
            items.extend(_scan_student(entry, slugs))
        else:
            items.append(Item("", entry.name, entry, "failed",
                              "not inside a student folder (expected <student>/<file>.ipynb)"))
    return students, items


def _scan_student(folder: Path, slugs: list[str]) -> list[Item]:
    student = folder.name
    found: dict[str, list[tuple[Path, bool]]] = {}
    items = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if _hidden(entry.name):
            continue
        if entry.is_dir():
            items.append(Item(student, entry.name + "/", entry, "failed",
                              "unexpected folder (notebooks go directly in the student folder)"))
            continue
        slug, exact = match_assignment(entry.name, slugs)
        rank = 0 if exact else 1
        if slug is None and entry.suffix.lower() in TEXT_FORMATS and entry.stem in slugs:
            slug, rank = entry.stem, 2
        if slug is None:
            expected = ", ".join(f"{s}.ipynb" for s in slugs) or "none"
            items.append(Item(student, entry.name, entry, "failed",
                              f"unrecognised file name (expected one of: {expected})"))
            continue
        found.setdefault(slug, []).append((entry, rank))
    for slug, files in sorted(found.items()):
        files.sort(key=lambda f: (f[1], f[0].name))
        (path, rank), extra = files[0], files[1:]
        item = Item(student, slug, path)
        if rank == 1:
            item.flags.append(f"graded the file named {path.name!r} as {slug}.ipynb")
        elif rank == 2:
            item.flags.append(f"converted {path.name!r} (a text notebook) to {slug}.ipynb")
        items.append(item)
        for other, _ in extra:
            items.append(Item(student, other.name, other, "failed",
                              f"another file was graded as {slug}.ipynb: {path.name}"))
    return items


def _norm(source: str) -> list[str]:
    try:
        visible = markup.strip_hidden_tests(source)
    except markup.MarkupError:  # a region the student broke: compare the cell as written
        visible = source
    return [ln.strip() for ln in visible.splitlines() if ln.strip()]


def restore_tests(nb: nbformat.NotebookNode, source: nbformat.NotebookNode) -> list[str]:
    """Put every graded test cell of ``source`` back into ``nb``, as the instructor wrote it.

    nbgrader replaces a locked cell only while it still carries its grade id: a deleted
    cell, or one whose metadata was stripped or changed, would otherwise score 0 (or
    nothing) silently. Returns what was restored, for the flag.
    """
    restored = []
    index_of = {}
    for i, cell in enumerate(nb.cells):
        gid = markup.grade_id(cell)
        if gid is not None and gid not in index_of:
            index_of[gid] = i
    previous_id = None
    inserted_after: dict[int, int] = {}
    for src in source.cells:
        gid = markup.grade_id(src)
        if not markup.is_test(src):
            if gid is not None:
                previous_id = gid
            continue
        clean = nbformat.from_dict(copy.deepcopy(dict(src)))
        if clean.cell_type == "code":
            clean.outputs, clean.execution_count = [], None
        if gid in index_of:
            cell = nb.cells[index_of[gid]]
            how = []
            if cell.cell_type != "code":
                how.append("type")
            elif _norm(cell.source) != _norm(src.source):
                how.append("code")
            if not markup.is_test(cell) or markup.points(cell) != markup.points(src):
                how.append("metadata")
            if how:
                nb.cells[index_of[gid]] = clean
                restored.append(f"{gid} (edited: {', '.join(how)})")
            previous_id = gid
            continue
        target = _norm(src.source)
        twin = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                     and not markup.grader_meta(c) and target
                     and _norm(c.source) == target), None)
        if twin is not None:
            nb.cells[twin] = clean
            index_of[gid] = twin
            restored.append(f"{gid} (unmarked)")
        else:
            at = index_of.get(previous_id, -1) if previous_id else -1
            pos = at + 1 + inserted_after.get(at, 0) if at >= 0 else len(nb.cells)
            inserted_after[at] = inserted_after.get(at, 0) + 1
            nb.cells.insert(pos, clean)
            for k, v in list(index_of.items()):
                if v >= pos:
                    index_of[k] = v + 1
            index_of[gid] = pos
            restored.append(f"{gid} (deleted)")
        previous_id = gid
    return restored


GRADER_FLAGS = ("grade", "solution", "locked", "task")  # what makes nbgrader track a cell
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _stub_lines(src: nbformat.NotebookNode) -> set[str]:
    """The lines of what the learner was given for a source cell (its released stub)."""
    try:
        given = markup.stub_solutions(src.source)
    except markup.MarkupError:
        given = src.source
    if markup.is_written(src):
        given += "\n" + markup.ANSWER_STUB
    return set(_norm(given))


def _is_stub(cell: nbformat.NotebookNode, src: nbformat.NotebookNode) -> bool:
    """Does the learner's copy of an exercise hold nothing beyond what was released?"""
    given = _stub_lines(src)
    return not [ln for ln in _norm(cell.get("source", "")) if ln not in given]


def _order_agreement(nb: nbformat.NotebookNode, at: int, gid: str, place: dict[str, int],
                     unique: dict[str, int]) -> int:
    """How many of the other tracked cells stand on the same side of cell `at` as they do of
    `gid` in the source (the best place for a cell is where its neighbours say it is)."""
    return sum((place[other] < place[gid]) == (i < at) for other, i in unique.items()
               if other != gid and other in place)


def neutralise(nb: nbformat.NotebookNode, source: nbformat.NotebookNode) -> list[str]:
    """Make the nbgrader cells of ``nb`` those of ``source``, one cell per grade id.

    A copy-pasted cell (Jupyter copies the metadata, so two cells share a grade id) or an
    extra cell with nbgrader metadata makes nbgrader refuse the whole notebook with a
    schema error. Of the cells sharing a source grade id, the one that matches the source
    best is kept (its cell type and kind; for an exercise or written answer, a copy the
    learner wrote in rather than the untouched stub; for a test, the source's code; then its
    place among the other graded cells, then the first); the others, and every cell whose
    grade id the source does not have, lose their nbgrader metadata and stay as ordinary
    cells, so nothing the learner wrote is lost. Returns what was done, for the flags
    (cells numbered as in the submitted notebook, from 1).
    """
    by_id = {markup.grade_id(c): c for c in source.cells if markup.grade_id(c) is not None}
    place = {gid: i for i, gid in enumerate(by_id)}
    cells_of: dict[str, list[int]] = {}
    found = []
    for i, cell in enumerate(nb.cells):
        meta = (cell.get("metadata") or {}).get("nbgrader")
        if meta is None:
            continue
        gid = markup.grade_id(cell)
        if gid is None:
            if not isinstance(meta, dict) or any(meta.get(k) for k in GRADER_FLAGS):
                del cell.metadata["nbgrader"]
                found.append(f"cell {i + 1} had nbgrader metadata without a grade id: "
                             "treated as an ordinary cell")
            continue
        if gid not in by_id:
            del cell.metadata["nbgrader"]
            found.append(f"cell {i + 1} had unknown grade id {gid}: treated as an ordinary cell")
            continue
        cells_of.setdefault(gid, []).append(i)
    unique = {gid: idx[0] for gid, idx in cells_of.items() if len(idx) == 1}
    for gid, idx in cells_of.items():
        if len(idx) < 2:
            continue
        src = by_id[gid]
        answer = markup.is_exercise(src)

        def rank(i: int, src=src, gid=gid, answer=answer) -> tuple:
            cell = nb.cells[i]
            own = not _is_stub(cell, src) if answer else _norm(cell.source) == _norm(src.source)
            return (cell.cell_type == src.cell_type, markup.kind(cell) == markup.kind(src), own,
                    _order_agreement(nb, i, gid, place, unique), -i)

        ranked = sorted(idx, key=rank, reverse=True)
        keep, drop = ranked[0], sorted(ranked[1:])
        best, runner_up = rank(keep)[:4], rank(ranked[1])[:4]
        why = next((w for w, a, b in zip(
            ("its cell type", "its kind", "not the stub" if answer else "the source's code",
             "its place among the graded cells"), best, runner_up) if a != b), "the first copy")
        for i in drop:
            del nb.cells[i].metadata["nbgrader"]
        count = NUMBERS.get(len(idx), str(len(idx)))
        others = ", ".join(str(i + 1) for i in drop)
        found.append(f"{count} cells had grade id {gid}: kept cell {keep + 1} ({why}); "
                     f"cell{'s' if len(drop) > 1 else ''} {others} "
                     f"treated as {'ordinary cells' if len(drop) > 1 else 'an ordinary cell'}")
    return found


def vet(item: Item, source: nbformat.NotebookNode) -> None:
    """Read a pending item's notebook; fail it, or restore and flag what nbgrader would hide."""
    if item.notebook is None:
        nb, why = read_notebook(item.path)
        if nb is None:
            item.status, item.reason = "failed", why
            return
        item.notebook = nb
    nb = item.notebook
    orig = nb.metadata.pop("orig_nbformat", None)
    if orig is not None and orig != 4 and not str(orig).startswith("."):
        item.flags.append(f"converted from nbformat {orig}")
    item.flags += neutralise(nb, source)
    source_ids = markup.grade_ids(source)
    have = markup.grade_ids(nb)
    missing_tests = [g for g, kind in source_ids.items() if kind == "test" and g not in have]
    missing_ex = [g for g, kind in source_ids.items() if kind in ("exercise", "written") and g not in have]
    item.missing = missing_ex
    restored = restore_tests(nb, source)
    if missing_tests and len(missing_tests) == sum(k == "test" for k in source_ids.values()) \
            and not any("unmarked" in r for r in restored):
        item.flags.append("no graded test cells found (wrong notebook, or cell metadata lost?); "
                          "restored from the source")
    elif restored:
        item.flags.append("test cells restored from the source: " + ", ".join(restored))
    if missing_ex:
        item.flags.append("exercise cells missing or unmarked: " + ", ".join(missing_ex))
