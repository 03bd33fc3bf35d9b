"""autograder.protocol: the typed, versioned files between `course grade` and its workers,
and the one time budget both sides use."""

import json
from dataclasses import asdict

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder import grade, protocol, worker
from autograder.intake import Item
from autograder.protocol import (
    Budget,
    CellGrade,
    Integrity,
    JobResult,
    JobSpec,
    Row,
    Stopped,
    Withheld,
    time_budget,
)
from tests.demo_notebooks import released, two_exercises


def _result() -> JobResult:
    return JobResult(ok=True, score=3.0, max_score=5, cells=[CellGrade("check-add", 3.0, 3.0)],
                     stopped=Stopped(4, "the kernel died", "check-square"),
                     integrity=Integrity(suspect=["calls exec()"],
                                         withheld=[Withheld("check-add", "AssertionError")]))


def test_round_trip_keeps_every_field_and_type(tmp_path):
    result = _result()
    protocol.write(tmp_path / "result.json", result)
    back = protocol.read(JobResult, tmp_path / "result.json")
    assert back == result and isinstance(back.max_score, float)
    assert isinstance(back.integrity.withheld[0], Withheld) and back.stopped.cell == 4
    spec = JobSpec("s0001", "01_demo", 30, time_budget(30, 6, 2), {"mode": "none"}, {"/x": "<x>"})
    assert protocol.loads(JobSpec, protocol.dumps(spec)) == spec


@pytest.mark.parametrize("edit, why", [
    (lambda d: d.update(version=0), "protocol version 0"),
    (lambda d: d.pop("version"), "protocol version None"),
    (lambda d: d.update(surprise=1), "unknown field"),
])
def test_another_version_or_shape_is_refused_in_one_line(edit, why):
    data = asdict(_result())
    edit(data)
    with pytest.raises(protocol.ProtocolError, match=why) as info:
        protocol.loads(JobResult, json.dumps(data), what="result.json")
    assert "\n" not in str(info.value)


def test_integrity_names_both_kinds_of_tampering():
    assert Integrity(tamper=["a"], tamper_dynamic=["b"]).tampered == ["a", "b"]


def test_row_cells_are_the_gradebook_columns():
    assert list(Row.COLUMNS) == grade.COLUMNS
    assert Row("ann", "01_demo", 2.5, 5.0, "graded").cells() == ["ann", "01_demo", "2.5", "5",
                                                                 "graded", ""]
    assert Row("", "x.txt", None, None, "failed", "why").cells()[2:4] == ["", ""]


def test_time_budget_covers_every_cell_at_the_limit_and_the_rerun():
    b = time_budget(timeout=10, code_cells=20, tests=5)
    assert b.notebook >= 10 * 20 + protocol.KERNEL_START
    assert b.rerun >= 10 * 5 and b.total >= b.notebook + b.rerun
    assert time_budget(10, 21, 5).total > b.total and time_budget(10, 20, 6).rerun > b.rerun


def test_the_parent_writes_the_budget_the_runner_and_the_sandbox_use(tmp_path):
    source = two_exercises("demo", {"add": ("assert add(1, 1) == 2", "pass"),
                                    "square": ("assert square(2) == 4", "pass")})
    root = tmp_path / "root"
    (root / "source" / "01_demo").mkdir(parents=True)
    (root / "gradebook.db").write_bytes(b"")
    item = Item("ann", "01_demo", notebook=released(source))
    jobs = grade._make_jobs(root, [item], 7, {"01_demo": source}, "none", tmp_path / "s")
    job = jobs[("ann", "01_demo")]
    spec = protocol.read(JobSpec, job.jobdir / "job.json")
    assert spec.budget == time_budget(7, code_cells=5, tests=2)
    assert job.deadline == spec.budget.total
    assert spec.sandbox["limits"]["cpu_seconds"] == int(spec.budget.total)


def test_the_worker_gives_the_clean_rerun_its_share_of_the_budget(tmp_path, monkeypatch):
    nb = new_notebook()
    nb.cells = [new_code_cell("def f():\n    return 1")]
    autograded = tmp_path / "autograded.ipynb"
    nbformat.write(nb, autograded)
    seen = {}

    def fake_verify(cells, timeout, deadline):
        seen.update(timeout=timeout, deadline=deadline)
        return {"tests": {"check-add": (True, "")}, "tamper": [], "complete": True, "problem": ""}

    monkeypatch.setattr(worker, "verify", fake_verify)
    spec = JobSpec("s0001", "01_demo", 9, Budget(100.0, 42.0, 150.0), {"mode": "none"})
    result = JobResult(ok=True, cells=[CellGrade("check-add", 2.0, 2.0)])
    worker.check_integrity(tmp_path, spec, autograded, result)
    assert seen == {"timeout": 9, "deadline": 42.0}
    assert result.integrity == Integrity()


def test_a_check_that_builds_the_first_optimizer_is_not_taken_for_tampering():
    """torch imports torch._dynamo when the first optimizer is built, which rebinds
    torch.manual_seed: the clean re-run must not flag that as the learner's doing (chapter 5's
    checks build optimizers). A fresh process, since this one may have imported it already."""
    import subprocess
    import sys

    script = (
        "import json, sys, torch\n"
        "assert 'torch._dynamo' not in sys.modules\n"
        "from autograder import verify\n"
        "cells = [{'kind': 'code', 'source': 'import torch'},\n"
        "         {'kind': 'test', 'grade_id': 'check-opt', 'source':\n"
        "          'import torch\\nopt = torch.optim.Adam([torch.zeros(1, requires_grad=True)])\\n'\n"
        "          'assert opt is not None'}]\n"
        "print(json.dumps([e['event'] for e in verify.rerun(cells, 60)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    events = out.stdout.strip().splitlines()[-1]
    assert "tamper" not in events, events
