"""Where the course is published: the one setting every address the course prints comes from.

The instructor sets it in `pyproject.toml` (see GRADING.md, "Running a class"):

    [tool.course.publish]
    repository = "https://github.com/ORG/REPO"   # the book's launch and repository buttons
    branch = "main"
    install = "transfer-nlp-course[data] @ https://HOST/transfer_nlp_course-0.1.0-py3-none-any.whl"
    index_url = ""                               # an extra package index `install` needs

`install` is the pip requirement a notebook's first cell installs where the course is missing
(Colab): the student wheel of `course release --student`, uploaded as a release asset or to a
private index. Unset, it falls back to the repository (`... @ git+REPOSITORY@BRANCH`); with
neither set there are no launch buttons, and the install cell says how to install instead of
guessing an address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import tomllib

from course.errors import CourseError

INSTALL_TAG = "install"  # the source cell that `course release` fills with the install code


class PublishError(CourseError):
    """The publish setting is malformed."""


@dataclass(frozen=True)
class Publish:
    repository: str = ""
    branch: str = "main"
    install: str = ""
    index_url: str = ""

    @property
    def requirement(self) -> str:
        if self.install:
            return self.install
        if self.repository:
            return f"transfer-nlp-course[data] @ git+{self.repository}@{self.branch}"
        return ""


def settings(root: Path) -> Publish:
    """The `[tool.course.publish]` table of `root`/pyproject.toml (empty if absent)."""
    file = root / "pyproject.toml"
    if not file.is_file():
        return Publish()
    try:
        table = tomllib.loads(file.read_text()).get("tool", {}).get("course", {}).get("publish", {})
    except tomllib.TOMLDecodeError as err:
        raise PublishError(f"{file}: not valid TOML ({err})") from None
    unknown = sorted(set(table) - set(Publish.__dataclass_fields__))
    if unknown:
        raise PublishError(f"{file}: [tool.course.publish] has unknown keys {unknown}; "
                           f"known: {sorted(Publish.__dataclass_fields__)}")
    bad = [k for k, v in table.items() if not isinstance(v, str)]
    if bad:
        raise PublishError(f"{file}: [tool.course.publish] {bad[0]} must be a string")
    return Publish(**{k: v.strip() for k, v in table.items()})


def install_cell(pub: Publish) -> str:
    """The code of every notebook's first code cell: install the course where it is missing."""
    head = ("# On Colab, or any machine where the course is not installed yet, install it first.\n"
            "# (Written by `course release` from [tool.course.publish] in pyproject.toml.)\n"
            "import importlib.util\n")
    if not pub.requirement:
        return head + (
            "\n"
            "if importlib.util.find_spec(\"course\") is None:\n"
            "    raise ModuleNotFoundError(\n"
            "        \"the course package is not installed: pip install the student wheel your \"\n"
            "        \"instructor published, or from a clone of the course: pip install -e '.[data]'\")\n")
    args = ["-m", "pip", "install", "-q", pub.requirement]
    if pub.index_url:
        args += ["--extra-index-url", pub.index_url]
    return head + (
        "import subprocess\n"
        "import sys\n"
        "\n"
        "if importlib.util.find_spec(\"course\") is None:\n"
        f"    subprocess.run([sys.executable, {', '.join(json.dumps(a) for a in args)}], check=True)\n")


def pip_command(pub: Publish) -> str:
    """The shell command a reader types (the book's introduction)."""
    if not pub.requirement:
        return "pip install -e '.[data]'   # in a clone of the course"
    extra = f" --extra-index-url {pub.index_url}" if pub.index_url else ""
    return f'pip install "{pub.requirement}"{extra}'
