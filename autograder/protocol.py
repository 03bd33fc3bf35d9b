"""What `course grade` and its grading processes say to each other, typed, on disk as JSON.

    autograder.grade ──JobSpec (job.json)──▶ autograder.worker ──JobResult (result.json)──▶
    autograder.grade ──Row──▶ gradebook.csv, progress.jsonl

Every file carries `version`; a reader refuses another version with one line (a worker
from another install of the course, or a progress file from an older run). `time_budget`
is the one place that says how long a job may take: the parent computes it once, puts it
in the JobSpec, and both the runner's deadline and the worker's clean re-run use it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from course.errors import CourseError

VERSION = 1
STATUSES = ("graded", "flagged", "failed")  # of a gradebook row
KERNEL_START = 120.0  # seconds nbgrader waits for a kernel (SandboxedExecute.startup_timeout)


class ProtocolError(CourseError):
    """A job or result file this version of the grader cannot read."""


@dataclass(frozen=True)
class Budget:
    """Seconds one job may take: the notebook at the cell limit, the clean re-run, in all."""

    notebook: float
    rerun: float
    total: float


def time_budget(timeout: int, code_cells: int, tests: int) -> Budget:
    """The budget of a notebook of `code_cells` code cells and `tests` graded test cells when
    each cell may run `timeout` seconds: it never stops a notebook whose cells keep to the
    limit (nbgrader stops each cell at `timeout`; this only catches what it cannot stop)."""
    notebook = KERNEL_START + timeout * (code_cells + 1)
    rerun = 30.0 + timeout * (tests + 2)  # interpreter start, imports, then every test
    return Budget(notebook, rerun, total=notebook + rerun + 30.0)  # + feedback


@dataclass
class JobSpec:
    """One student's one assignment, as the parent hands it to a worker (``job.json``)."""

    student: str  # the id inside nbgrader (safe in globs and paths), not the folder name
    assignment: str  # e.g. "01_word2vec"; the notebook has the same name
    timeout: int  # seconds per cell
    budget: Budget
    sandbox: dict  # autograder.sandbox.Spec as a dict: how the student's code is isolated
    scrub: dict[str, str] = field(default_factory=dict)  # instructor path -> placeholder
    version: int = VERSION


@dataclass
class CellGrade:
    grade_id: str
    score: float
    max_score: float
    needs_manual_grade: bool = False
    notebook: str = ""


@dataclass
class Stopped:
    """Where the kernel died or stopped answering (autograder.execute)."""

    cell: int
    reason: str
    grade_id: str | None = None


@dataclass
class Withheld:
    """Points that passed in the notebook but not in the clean re-run."""

    grade_id: str
    error: str


@dataclass
class Integrity:
    """What the tamper scan and the clean re-run found (autograder.worker.check_integrity)."""

    tamper: list[str] = field(default_factory=list)  # static scan: patches the grading
    suspect: list[str] = field(default_factory=list)  # static scan: reaches around it
    tamper_dynamic: list[str] = field(default_factory=list)  # clean re-run: a binding changed
    withheld: list[Withheld] = field(default_factory=list)
    verify_problem: str = ""  # the clean re-run did not finish

    @property
    def tampered(self) -> list[str]:
        return self.tamper + self.tamper_dynamic


@dataclass
class Note:
    """Something the feedback sanitiser removed (autograder.feedback)."""

    kind: str  # "leak" | "hidden-error"
    cell: int
    grade_id: str | None = None


@dataclass
class Seconds:
    autograde: float = 0.0
    verify: float = 0.0
    feedback: float = 0.0


@dataclass
class JobResult:
    """What a worker found (``result.json``); `ok` means nbgrader graded it and scores were read."""

    ok: bool = False
    reason: str = ""  # why it could not be graded (ok False)
    score: float = 0.0
    max_score: float = 0.0
    cells: list[CellGrade] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)  # cells stopped at the time limit
    stopped: Stopped | None = None
    integrity: Integrity = field(default_factory=Integrity)
    notes: list[Note] = field(default_factory=list)
    feedback: str | None = None  # the feedback page, relative to the job folder
    feedback_error: str = ""
    seconds: Seconds = field(default_factory=Seconds)
    version: int = VERSION


@dataclass
class Row:
    """One line of the gradebook: a (student, assignment) and what became of it."""

    student: str
    assignment: str
    score: float | None
    max_score: float | None
    status: str  # one of STATUSES
    reason: str = ""

    COLUMNS: typing.ClassVar[tuple[str, ...]] = ("student", "assignment", "score", "max_score",
                                                 "status", "reason")

    @property
    def key(self) -> tuple[str, str]:
        return self.student, self.assignment

    def cells(self) -> list[str]:
        """The CSV cells: numbers as %g, a missing number as ""."""
        return [self.student, self.assignment, _number(self.score), _number(self.max_score),
                self.status, self.reason]


def _number(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


# ---------------------------------------------------------------------------------------
# JSON


def dumps(obj: Any) -> str:
    return json.dumps(asdict(obj), indent=1)


def loads(cls: type, text: str, *, what: str = "") -> Any:
    """`cls` (a dataclass above) from JSON text; ProtocolError for another version or shape."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ProtocolError(f"{what or cls.__name__}: not JSON ({err})") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        found = data.get("version") if isinstance(data, dict) else None
        raise ProtocolError(f"{what or cls.__name__}: protocol version {found!r}, this grader "
                            f"speaks {VERSION} (regrade with one install of the course)")
    try:
        return decode(cls, data)
    except (TypeError, KeyError, ValueError) as err:
        raise ProtocolError(f"{what or cls.__name__}: malformed ({err})") from None


def write(path: Path, obj: Any) -> None:
    """Write atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(obj))
    tmp.replace(path)


def read(cls: type, path: Path) -> Any:
    return loads(cls, path.read_text(), what=str(path))


def decode(tp: Any, value: Any) -> Any:
    """A value of type `tp` (dataclass, list[...], dict[...], X | None, plain) from JSON data."""
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = set(value) - names
        if unknown:
            raise KeyError(f"unknown field(s) {sorted(unknown)} for {tp.__name__}")
        return tp(**{k: decode(hints[k], v) for k, v in value.items()})
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return decode(inner, value)
    if origin is list:
        return [decode(args[0], v) for v in value]
    if origin is dict:
        return {k: decode(args[1], v) for k, v in value.items()}
    if tp is float and isinstance(value, int):
        return float(value)
    return value
