"""The shared teaching assertions and the "checks as data" engine of autograder/checks/_common.py.

Each test makes the engine fail on purpose and reads the message it gives: where, expected,
got and the likely bug are what a learner sees.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autograder.checks import _common
from autograder.checks._common import FLOATS, Bug, Case, Holds, Out, build, run, which
from tests.mutants import StubModule, stub_function


def _message(*cases: Case) -> str:
    with pytest.raises(AssertionError) as info:
        run(*cases)
    return str(info.value)


def _double(x):
    return 2 * x


# ------------------------------------------------------------------------------ helpers

def test_fail_message_format():
    with pytest.raises(AssertionError) as info:
        _common.fail("build_vocab: counts for 'the'", 3, 2, "counting sentences")
    assert str(info.value) == (
        "build_vocab: counts for 'the'\n  expected: 3\n  got:      2\n"
        "  likely bug: counting sentences"
    )


def test_expect_close_reports_max_abs_diff():
    with pytest.raises(AssertionError, match=r"f \(max abs diff 0\.5.*index \(1,\)"):
        _common.expect_close(torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]), "f")
    _common.expect_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]), "f")
    with pytest.raises(AssertionError, match=r"f: shape"):
        _common.expect_close(torch.zeros(2), torch.zeros(3), "f")


def test_expect_shape_dtype_finite_tensor():
    _common.expect_shape(torch.zeros(2, 3), (None, 3), "f")
    with pytest.raises(AssertionError, match=r"f: shape\n  expected: \(any, 2\)\n  got:      \(2, 3\)"):
        _common.expect_shape(torch.zeros(2, 3), (None, 2), "f")
    with pytest.raises(AssertionError, match=r"f: dtype\n  expected: torch.int64"):
        _common.expect_dtype(torch.zeros(2), torch.long, "f")
    with pytest.raises(AssertionError, match=r"(?s)f: not finite.*inf at index \(1,\)"):
        _common.expect_finite(torch.tensor([0.0, float("inf")]), "f")
    with pytest.raises(AssertionError, match=r"expected: a torch.Tensor\n  got:      list"):
        _common.expect_tensor([1, 2], "f")


def test_call_wraps_exceptions():
    def broken(x):
        return x + "a"

    with pytest.raises(AssertionError, match=r"^broken\(1\): raised TypeError: ") as info:
        _common.call(broken, 1, where="broken(1)")
    assert isinstance(info.value.__cause__, TypeError)
    with pytest.raises(AssertionError, match=r"^f: not implemented yet"):
        _common.call(stub_function, where="f")
    assert _common.call(lambda x, y=0: x + y, 1, y=2, where="f") == 3
    with pytest.raises(KeyboardInterrupt):  # only Exception is wrapped
        _common.call(_raise_interrupt, where="f")


def _raise_interrupt():
    raise KeyboardInterrupt


def test_dense_grad_accepts_sparse_and_missing():
    emb = nn.Embedding(5, 2, sparse=True)
    assert torch.equal(_common.dense_grad(emb.weight), torch.zeros(5, 2))
    emb(torch.tensor([1, 1, 3])).sum().backward()
    grad = _common.dense_grad(emb.weight)
    assert torch.equal(grad[:, 0], torch.tensor([0.0, 2.0, 0.0, 1.0, 0.0]))


# ------------------------------------------------------------------------------- engine

def test_run_returns_the_outputs_in_order():
    assert run(Case("f(1)", _double, (1,)), Case("f(5)", _double, (5,), want=10, exact=True)) == [2, 10]


def test_keeps_catches_an_input_changed_in_place():
    def scale(x):
        return x.mul_(2)

    x = torch.ones(3)
    message = _message(Case("scale(x)", scale, (x,), keeps={"the input x": x}, keeps_hint="copy"))
    assert message.startswith("scale: the input x after the call\n  expected: tensor of shape (3,)")
    assert message.endswith("likely bug: copy")


@pytest.mark.parametrize("value, first_failure, hint", [
    ([1.0, 2.0], "f(x)\n  expected: a torch.Tensor\n  got:      list: [1.0, 2.0]", "T"),
    (torch.zeros(3, dtype=torch.long),
     "f(x): dtype\n  expected: torch.float32 or torch.float64\n  got:      torch.int64", "D"),
    (torch.zeros(3), "f(x): shape\n  expected: (2,)\n  got:      (3,)", "S"),
    (torch.tensor([0.0, float("nan")]), "f(x): not finite", "F"),
])
def test_out_checks_tensor_dtype_shape_finite_in_that_order(value, first_failure, hint):
    out = Out(dtype=FLOATS, shape=(2,), finite=True, hint="T", dtype_hint="D", shape_hint="S",
              finite_hint="F")
    message = _message(Case("f(x)", lambda: value, out=out))
    assert message.startswith(first_failure)
    assert message.endswith(f"likely bug: {hint}")


_BUGS = [Bug("doubled", like=_double), Bug("negative", when=lambda out, x: bool((out < 0).all())),
         Bug("also negative, never reached", when=lambda out, x: bool((out < 0).all()))]


@pytest.mark.parametrize("learner, hint", [
    (_double, "doubled"),                      # `like`: reproduces a wrong answer
    (lambda x: -x, "negative"),                # `when`: a predicate; the first match wins
    (lambda x: x + 1, "the case's own hint"),  # no row matches
])
def test_a_wrong_value_gets_the_first_matching_bug_else_the_case_hint(learner, hint):
    x = torch.tensor([1.0, 2.0])
    message = _message(Case("f(x)", learner, (x,), want=lambda x: x, bugs=_BUGS,
                            hint="the case's own hint"))
    assert message.startswith("f(x) (max abs diff")
    assert message.endswith(f"likely bug: {hint}")


def test_exact_compares_with_equality():
    x = torch.tensor([1.0], dtype=torch.float64)
    run(Case("f(x)", lambda: x + 1e-9, want=x))  # close enough
    assert _message(Case("f(x)", lambda: x + 1e-9, want=x, exact=True)).startswith(
        "f(x)\n  expected: 1.0 (tensor of shape (1,)")
    assert _message(Case("f()", lambda: [1, 2], want=[1, 3], exact=True)) == (
        "f()\n  expected: [1, 3]\n  got:      [1, 2]")


def test_view_and_what_shape_the_message():
    message = _message(Case("f()", lambda: ([1, 2], "rest"), view=lambda out: out[0],
                            what="the first part", want=[2, 1], exact=True, hint="reversed"))
    assert message == ("f(): the first part\n  expected: [2, 1]\n  got:      [1, 2]\n"
                       "  likely bug: reversed")


def test_a_failing_holds_names_what_expected_got_and_its_own_bug():
    positive = Holds("all positive", lambda out, *_: bool((out > 0).all()), "keep the sign",
                     expected="values > 0", got=lambda out, *_: f"min {float(out.min()):g}",
                     bugs=[Bug("negated", like=lambda x: -x)])
    x = torch.tensor([1.0, 2.0])
    assert _message(Case("f(x)", lambda x: x - 5, (x,), holds=[positive])) == (
        "f(x): all positive\n  expected: values > 0\n  got:      min -4\n  likely bug: keep the sign")
    assert _message(Case("f(x)", lambda x: -x, (x,), holds=[positive])).endswith(
        "likely bug: negated")


def test_holds_what_and_bug_hints_may_name_the_offending_entry():
    first_negative = lambda out, *_: int((out < 0).nonzero()[0])  # noqa: E731
    rule = Holds(lambda out, *_: f"entry {first_negative(out)}", lambda out, *_: bool((out >= 0).all()),
                 "unused", bugs=[Bug(lambda out, *_: f"entry {first_negative(out)} went negative",
                                     when=lambda *_: True)])
    assert _message(Case("f()", lambda: torch.tensor([1.0, -1.0]), holds=[rule])) == (
        "f(): entry 1\n  likely bug: entry 1 went negative")


def test_a_learner_exception_names_where_with_the_call_hint():
    def boom():
        raise ValueError("no")

    assert _message(Case("f()", boom, call_hint="check x")) == (
        "f(): raised ValueError: no\n  likely bug: check x")
    assert _message(Case("f()", stub_function)).startswith("f(): not implemented yet")


def test_build_checks_it_is_a_module_and_names_the_stub():
    with pytest.raises(AssertionError, match=r"^M\(2\)\n  expected: an nn.Module\n  got:      dict\n"
                                             r"  likely bug: subclass M"):
        build(dict, "M(2)", module_hint="subclass M")
    with pytest.raises(AssertionError, match=r"^M\(\): not implemented yet \(raised in `StubModule"):
        build(StubModule, "M()")
    assert isinstance(build(nn.Linear, "Linear(2, 3)", 2, 3), nn.Linear)


def test_which_matches_tensors_and_computes_thunks_only_when_needed():
    got = torch.tensor([2.0])
    assert which(got, [(torch.tensor([1.0]), "one"), (torch.tensor([2.0]), "two")], "none") == "two"
    assert which(got, [(torch.tensor([3.0]), "three")], "none") == "none"
    computed = []

    def thunk(value):
        return lambda: computed.append(value) or torch.tensor([value])

    assert which(got, [(thunk(2.0), "two"), (thunk(9.0), "nine")], "none") == "two"
    assert computed == [2.0]  # the second alternative was never computed
    assert which(got, [(torch.tensor([2.0 + 1e-3]), "near")], "none", atol=1e-2) == "near"


def test_examine_checks_a_value_already_in_hand():
    assert _common.examine("loss", torch.tensor(1.0), want=1.0, out=Out(shape=())) == 1.0
    with pytest.raises(AssertionError, match=r"(?s)^rows with a gradient\n.*likely bug: only the "):
        _common.examine("rows with a gradient", [1, 2, 3], want=[1, 2], exact=True,
                        bugs=[Bug("only the centers", when=lambda rows: 3 in rows)])
