"""Feedback without hidden tests: the nbgrader preprocessor and the final HTML check.

nbgrader's ``ClearHiddenTests`` removes the hidden-test *source* from the feedback, but
the autograded notebook still holds what running that source produced: a failing hidden
test's traceback quotes its lines, and a student's later cell can print ``In``/``_ih``,
which hold every executed cell, hidden tests included. ``SanitizeFeedback`` runs before
``ClearHiddenTests`` in ``GenerateFeedback.preprocessors`` and, for every code cell:

- in a graded test cell with a hidden region, keeps an error only when it was raised on a
  visible line, reduced to ``ename: evalue`` and the visible line (the check's teaching
  message); an error raised in the hidden region becomes "a hidden test failed"; other
  outputs of such a cell are dropped (they may come from the hidden code);
- in any cell, replaces an output that quotes a hidden-test line (raw, repr- or
  JSON-escaped) or a hidden-test delimiter by a short notice, and records a "leak" note;
- replaces instructor paths (the grading directory, the course checkout, the Python
  prefix, the home folder) in every output by placeholders;
- truncates any single text output over ``max_chars``;
- neutralises the delimiter text in cells that are not graded test cells (a student who
  types it would otherwise make ``ClearHiddenTests`` refuse the whole notebook).

``check_html`` is the last line of defence, run on the written HTML: the visible text of
the page must contain no hidden-test line and no delimiter.
"""

from __future__ import annotations

import functools
import html as html_lib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Dict, Integer, Unicode

from course import markup

MIN_SECRET_LEN = 8  # shorter hidden lines ("else:", "pass") are not secrets
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CELL_FRAME = re.compile(r"Cell In\s*\[(\d+)\],\s*line (\d+)")
HIDDEN_FAILED = "A hidden test in this cell failed (its details are not shown).\n"
# errors that the grader itself puts in a cell (nbgrader's timeout, autograder.execute)
GRADER_ERRORS = ("CellTimeoutError", "KernelDied", "KernelUnresponsive", "NotRun")
LEAK_NOTICE = "[output removed by the grader: it showed hidden test code]\n"


def _hidden(source: str) -> tuple[set[int], list[str]]:
    """(line numbers, stripped lines) of a test cell's hidden tests; a malformed region
    (never closed) hides the whole cell: it is safer to show too little."""
    try:
        return markup.hidden_lines(source), markup.hidden_text(source)
    except markup.MarkupError:
        lines = source.split("\n")
        return set(range(1, len(lines) + 1)), [ln.strip() for ln in lines]


@functools.lru_cache(maxsize=1)
def public_text() -> str:
    """The course's own code (``course/``, ``autograder/``): public, and what tracebacks
    through the visible checks quote. A hidden-test line that also appears here (say,
    ``torch.manual_seed(0)``) is no secret."""
    root = Path(__file__).resolve().parent.parent
    parts = []
    for package in ("autograder", "course"):
        for path in sorted((root / package).rglob("*.py")):
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


def secret_lines(nb: NotebookNode) -> list[str]:
    """Hidden-test lines worth hiding: long enough, and not visible anywhere else (in the
    notebook's other sources, the student's included, or in the course's own code)."""
    hidden: list[str] = []
    visible: list[str] = []
    for cell in nb.cells:
        source = cell.get("source", "")
        if markup.is_test(cell) and markup.BEGIN_HIDDEN in source:
            numbers, text = _hidden(source)
            hidden.extend(text)
            visible.append("\n".join(line for n, line in enumerate(source.split("\n"), start=1)
                                     if n not in numbers))
        else:
            visible.append(source)
    seen = "\n".join(visible) + "\n" + public_text()
    out = []
    for line in hidden:
        if len(line) >= MIN_SECRET_LEN and line not in seen and line not in out:
            out.append(line)
    return out


def _forms(line: str) -> set[str]:
    """How a source line can show up in an output: raw, in a repr, in JSON."""
    forms = {line, repr(line)[1:-1], json.dumps(line)[1:-1]}
    return {f for f in forms if f}


def leaks(text: str, secrets: Iterable[str]) -> bool:
    if markup.names_a_delimiter(text):
        return True
    return any(form in text for line in secrets for form in _forms(line))


def scrub_text(text: str, scrub: dict[str, str]) -> str:
    for path in sorted(scrub, key=len, reverse=True):
        if path:
            text = text.replace(path, scrub[path])
    return text


def _map_strings(value, fn):
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return type(value)((k, _map_strings(v, fn)) for k, v in value.items())
    return value


def _output_text(output: NotebookNode) -> str:
    return json.dumps(output, ensure_ascii=False)


def _stream(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stderr", text=text)


def _error_frames(output: NotebookNode, execution_count) -> list[int] | None:
    """Line numbers of the frames of this cell in a traceback (None: cannot tell)."""
    text = ANSI.sub("", "\n".join(output.get("traceback", [])))
    lines = [int(m.group(2)) for m in CELL_FRAME.finditer(text)
             if execution_count is not None and int(m.group(1)) == int(execution_count)]
    return lines or None


def _frame_count(entry: str) -> int | None:
    """The execution count of the cell a traceback entry (one frame) belongs to."""
    m = CELL_FRAME.match(ANSI.sub("", entry).lstrip())
    return int(m.group(1)) if m else None


class SanitizeFeedback(NbGraderPreprocessor):
    """Strip hidden-test outputs, leaked hidden-test text and instructor paths."""

    notes_file = Unicode("", help="append what was removed here (JSON lines)").tag(config=True)
    scrub = Dict({}, help="text (paths) -> placeholder, applied to every output").tag(config=True)
    max_chars = Integer(100_000, help="longest text kept in one output").tag(config=True)

    def preprocess(self, nb, resources):
        self._notes: list[dict] = []
        self._secrets = secret_lines(nb)
        nb, resources = super().preprocess(nb, resources)
        if self.notes_file and self._notes:
            with open(self.notes_file, "a", encoding="utf-8") as fh:
                for note in self._notes:
                    fh.write(json.dumps(note) + "\n")
        return nb, resources

    def _note(self, kind: str, cell: NotebookNode, index: int) -> None:
        self._notes.append({"kind": kind, "cell": index, "grade_id": markup.grade_id(cell)})

    def preprocess_cell(self, cell, resources, index):
        test = markup.is_test(cell)
        if test and markup.BEGIN_HIDDEN in cell.source:
            region = _hidden(cell.source)[0] or None
        else:
            region = None
        if region is None and markup.names_a_delimiter(cell.source):
            cell.source = markup.neutralise_delimiters(cell.source)
        if cell.cell_type != "code":
            return cell, resources
        outputs = []
        for output in cell.get("outputs", []):
            if region is not None:
                output = self._test_cell_output(cell, region, output, index)
                if output is None:
                    continue
            if leaks(_output_text(output), self._secrets):
                self._note("leak", cell, index)
                output = _stream(LEAK_NOTICE)
            output = _map_strings(output, lambda s: scrub_text(s, self.scrub))
            outputs.append(self._truncate(output))
        cell.outputs = outputs
        return cell, resources

    def _test_cell_output(self, cell, region: set[int], output, index):
        if output.get("output_type") != "error":
            return None  # may come from the hidden code
        if output.get("ename") in GRADER_ERRORS:  # written by the grader, not by the tests
            return output
        frames = _error_frames(output, cell.get("execution_count"))
        if frames is None or any(line in region for line in frames):
            self._note("hidden-error", cell, index)
            return _stream(HIDDEN_FAILED)
        # Raised on a visible line. IPython prints a few lines around it, which can be
        # hidden ones: this cell's frames become one line naming the visible line; the
        # other frames (the student's functions, the visible checks) stay.
        line_no = frames[0]
        lines = cell.source.split("\n")
        where = lines[line_no - 1].strip() if 0 < line_no <= len(lines) else ""
        note = f"\x1b[36mthis cell, line {line_no}\x1b[39m: {where}"
        tb, noted = [], False
        for entry in output.get("traceback", []):
            if _frame_count(entry) == cell.get("execution_count"):
                if not noted:
                    tb.append(note)
                    noted = True
                continue
            tb.append(entry)
        ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
        return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=tb)

    def _truncate(self, output):
        limit = self.max_chars
        if output.get("output_type") == "stream" and len(output.get("text", "")) > limit:
            output["text"] = output["text"][:limit] + "\n... [output truncated by the grader]\n"
        data = output.get("data")
        if isinstance(data, dict):
            for mime in ("text/plain", "text/html"):
                value = data.get(mime)
                if isinstance(value, str) and len(value) > limit:
                    data[mime] = value[:limit] + "\n... [output truncated by the grader]"
        return output


def html_text(page: str) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", page))


def check_html(page: str, secrets: Iterable[str]) -> str | None:
    """Why this feedback page must not be published (None when it is clean)."""
    text = html_text(page)
    for marker in (markup.BEGIN_HIDDEN, markup.END_HIDDEN):
        if marker in text:
            return f"the page shows the text {marker!r}"
    for line in secrets:
        if line in text:
            return "the page shows a line of the hidden tests"
    return None
