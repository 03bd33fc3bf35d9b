"""The contract every chapter's visible checks keep, as tests a check-test module adopts.

A chapter's `tests/test_checks_<name>.py` defines its `CHECKS` table (exercise id ->
(check, names of the learner objects it takes, regex its messages start with)) and takes
the `solution` fixture and the generic tests with

    globals().update(contract_tests(CHECKS, MUTANTS, DIAGNOSES, module=checks,
                                    solution=SOLUTION))

pytest collects them in that module. Chapter-specific tests (half-done exercises, the
checks' references against a library) stay in the module.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import torch

from course import loader
from tests.mutants import StubModule, apply, stub_function


def run_check(checks: dict, exercise: str, namespace: dict) -> None:
    """Call the exercise's check on the objects of `namespace` it takes."""
    check, names, _ = checks[exercise]
    try:
        check(*[namespace[n] for n in names])
    finally:
        torch.set_grad_enabled(True)  # a mutant may switch autograd off globally


def contract_tests(checks: dict, mutants: list, diagnoses: dict, *, module: ModuleType,
                   solution: Path, min_mutants: int = 3, stubbable=None) -> dict:
    """The `solution` fixture and the generic tests, parametrised for one chapter, by name.

    `module`: the chapter's checks module. `solution`: the source whose definitions the
    checks must pass on. `diagnoses` maps a mutant id to text its message must contain (the
    likely bug named); `min_mutants`: how many mutants each exercise needs at least;
    `stubbable` limits the stub test to the exercises whose checks can be called with
    stand-ins (default: all)."""

    @pytest.fixture(scope="module", name="solution")
    def solution_fixture() -> dict:
        namespace = loader.load_definitions(solution)
        assert not namespace[loader.ERRORS], namespace[loader.ERRORS]
        return namespace

    def test_every_exercise_has_a_check_and_mutants():
        assert {m.exercise for m in mutants} == set(checks)
        for exercise in checks:
            assert sum(m.exercise == exercise for m in mutants) >= min_mutants, exercise
        ids = [m.id for m in mutants]
        assert len(ids) == len(set(ids)), "mutant names repeat"
        assert set(module.__all__) == {check.__name__ for check, _, _ in checks.values()}

    @pytest.mark.parametrize("exercise", list(checks))
    def test_check_passes_on_solution(solution, exercise):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(123)
            state = torch.get_rng_state()
            run_check(checks, exercise, solution)
            assert torch.equal(torch.get_rng_state(), state), "a check changed the global RNG"
        assert torch.is_grad_enabled(), "the check left autograd switched off"

    @pytest.mark.parametrize("exercise", list(checks))
    def test_check_is_deterministic(solution, exercise):
        for _ in range(2):  # the same outcome from any global RNG state
            torch.manual_seed(torch.randint(0, 10_000, ()).item())
            run_check(checks, exercise, solution)

    @pytest.mark.parametrize("mutant", mutants, ids=lambda m: m.id)
    def test_mutant_is_rejected(solution, mutant):
        _, _, names = checks[mutant.exercise]
        with pytest.raises(AssertionError, match=rf"^({names})") as info:
            run_check(checks, mutant.exercise, apply(mutant, solution))
        message = str(info.value)
        # what was expected and got, and the likely bug; or the learner's own exception
        assert ("\n" in message and "likely bug:" in message) or ": raised " in message, message

    @pytest.mark.parametrize("mutant_id", list(diagnoses))
    def test_message_names_the_likely_bug(solution, mutant_id):
        (mutant,) = [m for m in mutants if m.id == mutant_id]
        with pytest.raises(AssertionError) as info:
            run_check(checks, mutant.exercise, apply(mutant, solution))
        assert diagnoses[mutant_id] in str(info.value), str(info.value)

    @pytest.mark.parametrize("exercise", list(stubbable or checks))
    def test_stub_says_not_implemented(exercise):
        check, names, pattern = checks[exercise]
        stubs = [StubModule if n[0].isupper() else stub_function for n in names]
        with pytest.raises(AssertionError, match=rf"(?s)^({pattern}).*not implemented yet"):
            check(*stubs)

    return {f.__name__: f for f in (
        solution_fixture, test_every_exercise_has_a_check_and_mutants,
        test_check_passes_on_solution, test_check_is_deterministic, test_mutant_is_rejected,
        test_message_names_the_likely_bug, test_stub_says_not_implemented)}


def hidden_block_tests(checks: dict, *, solution: Path) -> dict:
    """A test that each exercise's hidden-test block passes on the solution on its own and
    leaves the global RNG as it found it (tests/test_chapters.py proves, for every chapter,
    that each block rejects a mutant)."""
    solution_path = solution

    @pytest.mark.parametrize("exercise", list(checks))
    def test_hidden_block_passes_and_keeps_the_rng(solution, exercise):
        block = hidden_blocks(solution_path)[exercise]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            state = torch.get_rng_state()
            try:
                exec(compile(block, f"<hidden tests of {exercise}>", "exec"), dict(solution))
            finally:
                torch.set_grad_enabled(True)
            assert torch.equal(torch.get_rng_state(), state), "a hidden block changed the global RNG"

    return {"test_hidden_block_passes_and_keeps_the_rng": test_hidden_block_passes_and_keeps_the_rng}


def hidden_blocks(source: Path) -> dict[str, str]:
    """Exercise id -> the code of its graded cell's hidden-test regions, as written in the
    chapter's source (padded with blank lines, so that a traceback's line numbers are the
    cell's)."""
    from course import markup

    blocks = {}
    for exercise, cell in loader.test_cells(source).items():
        found = markup.regions(cell, markup.BEGIN_HIDDEN, markup.END_HIDDEN)
        if found:
            lines = [""] * len(cell.split("\n"))
            for region in found:
                lines[region.begin:region.begin + len(region.lines)] = region.lines
            blocks[exercise] = "\n".join(lines)
    return blocks
