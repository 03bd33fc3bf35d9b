"""The leak scanner: no line of an answer reaches a student.

A chapter's secrets are the lines of its solution regions (exercise code, and the model
answers and rubrics of written questions), of its hidden-test regions and of its
`answer-key` cells, minus the lines its source also shows elsewhere (an import, a line the
narrative prints anyway). Lines are compared with all whitespace removed; a line counts when
at least `MIN_CHARS` characters are left (so `return x` never counts) and it is not a generic
idiom (`_TRIVIAL`: imports, seeding, `with torch.no_grad():`, shape unpacking ...).

`scan(paths, secrets)` reads what a student gets — notebooks (sources and outputs), Python
and text files, HTML pages (as text), and the files inside a wheel — and returns every line
that is a secret, with where it is and where it came from. `course release --student` runs it
on the edition it writes; the tests run it on the student edition, the student book and
grading feedback, and plant a marker to prove it finds one.
"""

from __future__ import annotations

import html
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from course import markup

MIN_CHARS = 12
# Lines that say nothing about an answer however long they are: imports, seeding and RNG or
# autograd contexts, shape unpacking, None tests, bare signatures, generic loops over
# parameters. (They recur in hidden tests and in the checks alike.)
_TRIVIAL = re.compile("|".join([
    r"(from \S+ )?import .*",
    r"(torch\.)?manual_seed\(\w*\)",
    r"with (torch\.random\.fork_rng\([^)]*\)|torch\.no_grad\(\)|torch\.enable_grad\(\))(, (torch\.random\.fork_rng\([^)]*\)|torch\.no_grad\(\)))*:",
    r"\w+(, \w+)* = \w+\.shape",
    r"(el)?if \w+ is (not )?None:",
    r"def __init__\(self\):",
    r"except \w+( as \w+)?:",
    r"\w+\.(train|eval)\(\)",
    r"for \w+ in \w+\.(named_)?parameters\(\):",
    r"if \w+\.requires_grad:",
]))
_TAG = re.compile(r"<[^>]+>")
_SKIP_SUFFIXES = {".safetensors", ".png", ".jpg", ".gif", ".woff", ".woff2", ".ttf", ".pyc",
                  ".bin", ".pt", ".gz", ".bz2", ".zip", ".ico", ".eot", ".pdf"}


def norm(line: str) -> str:
    return "".join(line.split())


def counts(line: str) -> bool:
    """Is this line specific enough that finding it is a leak?"""
    return len(norm(line)) >= MIN_CHARS and not _TRIVIAL.fullmatch(line.strip())


@dataclass(frozen=True)
class Leak:
    place: str  # "dist/x.whl!autograder/checks/word2vec.py:12"
    origin: str  # "solutions/01_word2vec.md: exercise sgns"
    line: str

    def __str__(self) -> str:
        return f"LEAK {self.place}: a line of {self.origin}: {self.line.strip()[:100]}"


def secrets(notebooks: Mapping[str, Mapping]) -> dict[str, str]:
    """{normalised line: where it comes from} for instructor source notebooks ({label: nb}).

    A line that any of them shows outside a secret place is public (`with torch.no_grad():`
    in one chapter's hidden test and another's narrative)."""
    hidden: dict[str, str] = {}
    public: set[str] = set()
    for label, nb in notebooks.items():
        for index, cell in enumerate(nb["cells"]):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            lines = source.split("\n")
            secret_lines: set[int] = set()
            where = f"{label}: {markup.grade_id(cell) or f'cell {index}'}"
            if markup.is_answer_key(cell):
                secret_lines = set(range(1, len(lines) + 1))
                where = f"{label}: answer-key cell {index}"
            else:
                for begin, end in ((markup.BEGIN_SOLUTION, markup.END_SOLUTION),
                                   (markup.BEGIN_HIDDEN, markup.END_HIDDEN)):
                    for region in markup.regions(source, begin, end, where=where):
                        secret_lines.update(region.numbers)
            for number, line in enumerate(lines, 1):
                key = norm(line)
                if not counts(line):
                    continue
                if number in secret_lines:
                    hidden.setdefault(key, where)
                else:
                    public.add(key)
    return {k: v for k, v in hidden.items() if k not in public}


def course_secrets() -> dict[str, str]:
    """The secrets of every chapter of this course tree."""
    from course import release

    return secrets({f"solutions/{ch.source.name}": release.source_notebook(ch)
                    for ch in release.chapters()})


def _notebook_lines(text: str) -> Iterator[tuple[str, str]]:
    try:
        nb = json.loads(text)
    except ValueError:
        yield from _plain_lines(text)
        return
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        yield from _plain_lines(text)
        return
    for index, cell in enumerate(nb["cells"]):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        for n, line in enumerate(source.split("\n"), 1):
            yield f"cell {index} line {n}", line
        for output in cell.get("outputs", []) or []:
            chunks = [output.get("text", "")] + list((output.get("data") or {}).values())
            chunks += output.get("traceback", []) or []
            for chunk in chunks:
                chunk = "".join(chunk) if isinstance(chunk, list) else chunk
                if isinstance(chunk, str):
                    for line in chunk.split("\n"):
                        yield f"cell {index} output", _TAG.sub("", html.unescape(line))


def _plain_lines(text: str) -> Iterator[tuple[str, str]]:
    for n, line in enumerate(text.split("\n"), 1):
        yield f"line {n}", line


def _html_lines(text: str) -> Iterator[tuple[str, str]]:
    # tags out, entities decoded: the text a reader sees, line by line (code keeps its lines)
    yield from _plain_lines(html.unescape(_TAG.sub("", text)))


def _member_lines(name: str, data: bytes) -> Iterator[tuple[str, str]]:
    suffix = Path(name).suffix.lower()
    if suffix in _SKIP_SUFFIXES:
        return
    text = data.decode("utf-8", errors="replace")
    if suffix == ".ipynb":
        yield from _notebook_lines(text)
    elif suffix in (".html", ".htm"):
        yield from _html_lines(text)
    elif "\x00" not in text:  # any text file; binaries we do not know are skipped
        yield from _plain_lines(text)


def _files(paths: Iterable[Path], relative_to: Path | None) -> Iterator[tuple[str, bytes]]:
    for root in paths:
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            label = file.relative_to(relative_to).as_posix() if relative_to else str(file)
            if file.suffix in (".whl", ".zip"):
                with zipfile.ZipFile(file) as archive:
                    for member in archive.namelist():
                        if not member.endswith("/"):
                            yield f"{label}!{member}", archive.read(member)
            else:
                yield label, file.read_bytes()


def scan(paths: Iterable[Path], secret: Mapping[str, str], *,
         relative_to: Path | None = None) -> list[Leak]:
    """Every line in `paths` (files, folders, wheels) that is one of the `secret` lines
    (places named relative to `relative_to` when given)."""
    leaks = []
    for label, data in _files(paths, relative_to):
        for where, line in _member_lines(label.split("!")[-1], data):
            key = norm(line)
            if key in secret and counts(line):
                leaks.append(Leak(f"{label}:{where}", secret[key], line))
    return leaks
