"""The nbgrader configuration that ``course grade`` runs with.

One function builds it as a traitlets ``Config`` (the grading worker passes it to
``nbgrader.apps.NbGraderAPI``, so no ``nbgrader_config.py`` of the instructor's or in
``~/.jupyter`` can change how submissions are graded); ``config_file_text`` renders
the same settings as an ``nbgrader_config.py`` for an instructor who wants to rerun
nbgrader by hand in a kept grading directory.

Settings that matter (see DESIGN.md, "Facts checked on this machine"):
- ``Execute.timeout`` is the per-cell limit nbgrader honours; ``interrupt_on_timeout``
  lets the rest of the notebook run after a cell times out.
- ``Execute.kernel_name`` names a kernelspec that the grader writes itself, pointing at
  the grader's own Python, so the submission runs with the course's environment whatever
  kernel the student's notebook names and whatever ``python`` is first on PATH.
- ``GenerateFeedback.preprocessors`` adds ``autograder.feedback.SanitizeFeedback``
  (hidden-test outputs and tracebacks, leaked hidden-test text, instructor paths) and
  nbgrader's ``ClearHiddenTests`` (hidden-test source) before the HTML is made.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from traitlets.config import Config

KERNEL_NAME = "course-grader"

# nbgrader's list with its Execute replaced (a dead kernel keeps the points earned
# before it; outputs are capped as they arrive)
AUTOGRADE_PREPROCESSORS = [
    "autograder.execute.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.SanitizeFeedback",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


def write_kernelspec(jupyter_dir: Path, python: str | None = None) -> Path:
    """Write ``<jupyter_dir>/kernels/course-grader/kernel.json`` for ``python``.

    The kernel starts through ``autograder.sandbox`` (isolated as ``$COURSE_SANDBOX``
    says; it refuses to start without it) and is interrupted by a message on its control
    channel (a signal would reach the sandbox, not the kernel). Put ``jupyter_dir`` on
    ``JUPYTER_PATH`` for the grading process to find it.
    """
    python = python or sys.executable
    kdir = Path(jupyter_dir) / "kernels" / KERNEL_NAME
    kdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [python, "-m", "autograder.sandbox", "run", "--",
                 python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (course grader)",
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }
    (kdir / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
    return kdir


def _settings(
    root: Path,
    *,
    timeout: int,
    notes_file: Path | None = None,
    scrub: dict[str, str] | None = None,
    kernel_dir: Path | None = None,
) -> dict[str, dict[str, object]]:
    root = Path(root)
    kernel_manager: dict[str, object] = {}
    if kernel_dir is not None:  # sandboxed: Unix sockets in the folder shared with it
        kernel_manager.update(transport="ipc",
                              connection_file=str(Path(kernel_dir) / "kernel.json"),
                              ip=str(Path(kernel_dir) / "k"))
    return {
        "CourseDirectory": {
            "root": str(root),
            "db_url": f"sqlite:///{root / 'gradebook.db'}",
            "course_id": "course",
        },
        # the kernel runs in its own network namespace: Unix sockets, not TCP, in a folder
        # that the sandbox shares with it (one per job, see autograder.grade)
        "KernelManager": kernel_manager,
        "AsyncKernelManager": kernel_manager,
        "Autograde": {"create_student": True,
                      "autograde_preprocessors": list(AUTOGRADE_PREPROCESSORS)},
        "SandboxedExecute": {
            "timeout": int(timeout),
            "interrupt_on_timeout": True,
            "kernel_name": KERNEL_NAME,
            "startup_timeout": 120,
            "execute_retries": 0,
        },
        "ClearHiddenTests": {"enforce_metadata": True},
        "GenerateFeedback": {"preprocessors": list(FEEDBACK_PREPROCESSORS)},
        "SanitizeFeedback": {
            "notes_file": str(notes_file) if notes_file else "",
            "scrub": dict(scrub or {}),
        },
    }


def build_config(
    root: Path,
    *,
    timeout: int,
    notes_file: Path | None = None,
    scrub: dict[str, str] | None = None,
    kernel_dir: Path | None = None,
) -> Config:
    """nbgrader config for the course directory ``root``.

    ``timeout``: seconds per cell. ``notes_file``: where ``SanitizeFeedback`` appends
    what it removed (JSON lines). ``scrub``: path -> placeholder replacements for the
    feedback. ``kernel_dir``: the folder for the kernel's connection file and sockets.
    """
    c = Config()
    settings = _settings(root, timeout=timeout, notes_file=notes_file, scrub=scrub,
                         kernel_dir=kernel_dir)
    for section, values in settings.items():
        for key, value in values.items():
            setattr(c[section], key, value)
    return c


def config_file_text(root: Path, *, timeout: int) -> str:
    """The same settings as an ``nbgrader_config.py`` (for rerunning nbgrader by hand)."""
    lines = ["# generated by autograder.grade (course grade); safe to delete",
             "c = get_config()  # noqa"]
    for section, values in _settings(root, timeout=timeout).items():
        for key, value in values.items():
            lines.append(f"c.{section}.{key} = {value!r}")
    return "\n".join(lines) + "\n"
