"""No number in a chapter's prose is typed by hand: the drift check behind tests/test_numbers.py.

A chapter's measured figures reach the reader through its code cells' printed output (the
run's own variables, formatted), never through its markdown. This module finds every
number in the markdown of a source (`solutions/NN_slug.md`) and says which of them are
neither a value of the chapter's results record nor declared, with where it comes from, in
the source's front matter:

    ---
    course:
      quoted:
        "4.6": Howard & Ruder 2018, IMDb test error
    jupytext: ...

What counts as a number: digits with an optional thousands separator, decimals and a
percent sign ("0.612", "1,916", "25%"). Ignored, because they are not measurements: single
digits; years (1950-2035, no separator); numbers inside a word or a name ("word2vec",
"CoNLL-2003", "bf16"), inside `$maths$`, `code`, links and fenced blocks; numbers that
follow Exercise/Chapter/Table/Figure/Section/Eq./§/Question/stage.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

_NUMBER = re.compile(r"(?<![\w.\-/@#:])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%|[MkB](?![\w\-]))?(?![\w\-]|[.,]\d)")
_UNIT = {"M": 1e6, "k": 1e3, "B": 1e9}
_REFERENCE = re.compile(r"(?:exercises?|chapters?|tables?|figures?|fig\.|sections?|eqs?\.|equations?|§|"
                        r"questions?|stages?)\s*(?:\d+(?:\.\d+)*\s*(?:,|and|or|to|–|-)\s*)*$", re.I)
_CODE_CELL = re.compile(r"^(`{3,})")
_STRIP = [
    re.compile(r"\$\$.*?\$\$", re.S),  # display maths
    re.compile(r"(?<!\\)\$[^$\n]+\$"),  # inline maths
    re.compile(r"`[^`\n]*`"),  # inline code and roles' targets
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"<!--.*?-->", re.S),  # comments
    re.compile(r"https?://\S+"),
]


@dataclass(frozen=True)
class Number:
    line: int  # 1-based line in the source file
    text: str  # as written: "1,916", "0.25", "25%"
    context: str  # the line it stands on, trimmed

    @property
    def body(self) -> str:
        """The digits as written, without separators, percent sign or unit ("22.7" of "22.7M")."""
        return self.text.rstrip("%MkB").replace(",", "")

    @property
    def unit(self) -> float:
        return _UNIT.get(self.text[-1], 1.0)

    @property
    def value(self) -> float:
        return float(self.body) * self.unit

    @property
    def decimals(self) -> int:
        return len(self.body.split(".", 1)[1]) if "." in self.body else 0


def front_matter(text: str) -> dict:
    """The YAML header of a MyST source ({} when it has none)."""
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    return (yaml.safe_load(text[4:end]) or {}) if end > 0 else {}


def quoted(text: str) -> dict[str, str]:
    """Declared numbers of a source: number as written (separators dropped) -> where it comes from."""
    table = (front_matter(text).get("course") or {}).get("quoted") or {}
    return {str(k).replace(",", ""): str(v) for k, v in table.items()}


def prose_lines(text: str) -> Iterable[tuple[int, str]]:
    """(line number, text) of the markdown lines: no front matter, code cells, fenced code,
    display maths or reference list (directives whose body is prose, such as admonitions,
    are kept)."""
    lines = text.split("\n")
    start = 0
    if lines and lines[0] == "---":
        start = next((i for i in range(1, len(lines)) if lines[i] == "---"), 0) + 1
    fence, maths = None, False
    for i in range(start, len(lines)):
        line = lines[i]
        if re.match(r"^#{1,3} References\s*$", line):
            return  # citations: years, volumes, pages, arXiv numbers
        if fence is None and line.count("$$") % 2 == 1:
            maths = not maths
            continue
        if maths:
            continue
        match = _CODE_CELL.match(line.strip())
        if fence is not None:
            if match and line.strip() == fence:
                fence = None
            continue
        if match:
            rest = line.strip()[len(match[1]):]
            if rest.startswith("{") and not rest.startswith(("{code-cell", "{code", "{literalinclude")):
                continue  # a prose directive: its body is scanned
            fence = match[1]
            continue
        if line.startswith("+++"):
            continue  # a cell break with metadata
        yield i + 1, line


def numbers(text: str) -> list[Number]:
    """Every number of the source's prose that could be a measurement."""
    found = []
    for line_no, line in prose_lines(text):
        clean = line
        for pattern in _STRIP:
            clean = pattern.sub(lambda m: " " * len(m.group(0)), clean)
        for m in _NUMBER.finditer(clean):
            whole, frac, pct = m.group(1), m.group(2), m.group(3)
            if frac is None and pct is None and "," not in whole:
                n = int(whole)
                if n < 10 or 1950 <= n <= 2035:
                    continue
            if _REFERENCE.search(clean[: m.start()].rstrip()):
                continue
            found.append(Number(line_no, m.group(0), line.strip()[:160]))
    return found


def _values(obj) -> Iterable[float]:
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        if math.isfinite(obj):
            yield float(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _values(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _values(v)
    elif isinstance(obj, str):  # verdict lines and notes carry formatted numbers too
        for m in _NUMBER.finditer(obj):
            yield float(m.group(1).replace(",", "") + (m.group(2) or ""))


def record_values(record: dict) -> list[float]:
    """Every number a results record holds (its metrics, nested lists and strings included)."""
    return list(_values(record.get("metrics") or {}))


def matches(number: Number, values: Iterable[float]) -> bool:
    """Is the written number one of the values, at the precision it is written with?
    ("0.25" matches 0.2504; "128" matches 128.4; "25%" matches 0.25 and 25; "5.4M" matches
    5,431,088)."""
    target, d = number.value, number.decimals
    tol = (0.5 * 10 ** -d + 1e-9) * number.unit
    scales = (1.0, 100.0) if number.text.endswith("%") else (1.0,)
    return any(abs(v * s - target) <= tol for v in values for s in scales)


def unsupported(source: Path, record: dict | None) -> list[Number]:
    """The numbers of `source`'s prose that neither its results record nor its declared
    quotations hold."""
    text = source.read_text()
    declared = quoted(text)
    values = record_values(record) if record else []
    return [n for n in numbers(text)
            if n.text.replace(",", "") not in declared and n.body not in declared
            and not matches(n, values)]
