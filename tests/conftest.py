import shutil
from pathlib import Path

import pytest

from course import release

pytest.register_assert_rewrite("tests.check_contract")  # plain asserts there explain themselves

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def demo_course(tmp_path, monkeypatch):
    """A scratch course root holding one small demo chapter (tests/fixtures/demo)."""
    root = tmp_path / "course"
    shutil.copytree(FIXTURES / "demo", root)
    monkeypatch.setattr(release, "ROOT", root)
    monkeypatch.setenv("COURSE_ROOT", str(root))  # for the subprocesses the CLI starts
    return root
