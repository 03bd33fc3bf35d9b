"""`course release --student OUT`: the student edition, what a class receives.

    OUT/notebooks/NN_slug.ipynb      the stub notebooks (as chapters/)
    OUT/wheel/transfer_nlp_course-<version>-py3-none-any.whl
                                     the runtime library (`course`), the visible checks
                                     (`autograder.checks`) with their stored expected values,
                                     and the released notebooks (for `course check NN`)
    OUT/FILES.txt                    every file above with its size and sha256

The wheel holds no solution, hidden test, rubric or grading pipeline: it is built from a
staged copy that takes only those packages, and the leak scanner (`course.leaks`) reads
every file of it and of the notebooks before the command reports success. Publish the
wheel where the class can install it (a release asset, a private index) and set
`[tool.course.publish] install` so that the notebooks' first cell installs it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import tomllib

from course import leaks, release
from course.errors import CourseError, Exit

MARK = "FILES.txt"  # an edition folder has it: the only non-empty folder we replace
# what the class needs to run the notebooks and `course check`; not the instructor's tools
_INSTRUCTOR_ONLY = ("nbgrader", "jupyter-book", "django-static-mathjax")


class EditionError(CourseError):
    """The student edition could not be written (or would overwrite something)."""


def _stage(stage: Path) -> None:
    import autograder

    library, grading = Path(__file__).resolve().parent, Path(autograder.__file__).resolve().parent
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "released")
    shutil.copytree(library, stage / "course", ignore=ignore)
    (stage / "autograder").mkdir()
    for name in ("__init__.py", "expected.py"):  # not the grading pipeline: only the checks
        shutil.copy2(grading / name, stage / "autograder" / name)
    shutil.copytree(grading / "checks", stage / "autograder" / "checks", ignore=ignore)
    if release.expected_store().is_dir():
        shutil.copytree(release.expected_store(), stage / "autograder" / "expected",
                        ignore=shutil.ignore_patterns("*.tmp"))
    released = stage / "course" / "released"
    released.mkdir()
    for ch in release.chapters():
        nbformat.write(release.student_notebook(ch), released / f"{ch.slug}.ipynb")
    (stage / "pyproject.toml").write_text(_pyproject())
    (stage / "README.md").write_text(
        "# Transfer Learning for NLP, built from scratch: the student edition\n\n"
        "The runtime library and the visible checks. Open a chapter's notebook and run it; "
        "`course check NN --notebook NN_slug.ipynb` checks your answers.\n")


def _pyproject() -> str:
    """The course's pyproject.toml, cut to the student edition's packages and dependencies."""
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    deps = [d for d in project["dependencies"]
            if not d.replace("_", "-").lower().startswith(_INSTRUCTOR_ONLY)]
    extras = project.get("optional-dependencies", {}).get("data", [])

    def strings(items) -> str:
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"

    return "\n".join([
        "[build-system]", 'requires = ["setuptools>=77"]', 'build-backend = "setuptools.build_meta"', "",
        "[project]", f'name = "{project["name"]}"', f'version = "{project["version"]}"',
        f'description = "{project["description"]} (student edition)"', 'readme = "README.md"',
        f'requires-python = "{project["requires-python"]}"', f'license = "{project["license"]}"',
        f"dependencies = {strings(deps)}", "",
        "[project.optional-dependencies]", f"data = {strings(extras)}", "",
        "[project.scripts]", 'course = "course.cli:main"', "",
        "[tool.setuptools.packages.find]", 'include = ["course*", "autograder*"]', "",
        "[tool.setuptools.package-data]",
        'course = ["py.typed", "checkpoints/*", "released/*.ipynb"]',
        'autograder = ["expected/*.safetensors"]', "",
    ])


def _wheel(stage: Path, into: Path) -> Path:
    into.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
           "-w", str(into), str(stage)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EditionError(f"building the student wheel failed: {last}")
    return wheels[0]


def _file_list(out: Path) -> list[tuple[str, int, str]]:
    rows = []
    for file in sorted(p for p in out.rglob("*") if p.is_file() and p.name != MARK):
        rows.append((file.relative_to(out).as_posix(), file.stat().st_size,
                     hashlib.sha256(file.read_bytes()).hexdigest()))
    return rows


def build(out: Path) -> int:
    """Write the student edition to `out` (a new or empty folder, or an earlier edition)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARK).is_file())):
        raise EditionError(f"{out} exists and is not an empty folder or an earlier student "
                           "edition: choose a new folder (nothing was written)")
    if not release.chapters():
        raise EditionError("no chapters in solutions/: nothing to release")
    with tempfile.TemporaryDirectory() as tmp:
        stage, fresh = Path(tmp) / "stage", Path(tmp) / "edition"
        _stage(stage)
        wheel = _wheel(stage, fresh / "wheel")
        (fresh / "notebooks").mkdir()
        for ch in release.chapters():
            shutil.copy2(stage / "course" / "released" / f"{ch.slug}.ipynb", fresh / "notebooks")
        found = leaks.scan([fresh], leaks.course_secrets(), relative_to=fresh)
        if found:
            for leak in found[:20]:
                print(leak, file=sys.stderr)
            print(f"student edition: {len(found)} line(s) of answers found; nothing was written "
                  f"to {out}", file=sys.stderr)
            return Exit.FAILED
        rows = _file_list(fresh)
        (fresh / MARK).write_text("".join(f"{size:>10}  {sha}  {name}\n" for name, size, sha in rows))
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(fresh, out)
    print(f"student edition: {out} (wheel {wheel.name}; leak scan: clean)")
    for name, size, _ in rows:
        print(f"  {size:>10,}  {name}")
    print(f"  {sum(r[1] for r in rows):>10,}  in {len(rows)} files")
    return Exit.OK
