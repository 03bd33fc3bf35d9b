"""Teaching assertions shared by every chapter's visible checks.

Each helper raises `AssertionError` with a message in the style of CS224N's sanity
checks: where it went wrong, what was expected, what was got, and the likely bug::

    build_vocab: counts for 'the'
      expected: 3
      got:      2
      likely bug: ...

A check is written as data (see "Checks as data" below): a list of `Case`s, each one
call of the learner's code on fixed inputs with what must hold of its result, and
diagnosis tables of `Bug`s (a symptom of the output -> the likely bug), run by `run`.

The checks run inside the learner's kernel, so this module imports only `torch`
and the standard library. It never prints and passes, and never swallows errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import torch
from torch import nn

__all__ = [
    "FLOATS",
    "Bug",
    "Verdict",
    "Case",
    "Holds",
    "Out",
    "build",
    "call",
    "close",
    "diagnose",
    "examine",
    "gen",
    "run",
    "which",
    "dense_grad",
    "expect_close",
    "expect_dtype",
    "expect_equal",
    "expect_finite",
    "expect_shape",
    "expect_tensor",
    "expect_true",
    "fail",
    "forbid",
    "one_thread",
    "show",
]

_MAX_ITEMS = 8
FLOATS = (torch.float32, torch.float64)


def show(value: Any) -> str:
    """A short, readable rendering of a value for a feedback message."""
    if isinstance(value, torch.Tensor):
        head = f"tensor of shape {tuple(value.shape)}, dtype {value.dtype}"
        if value.is_sparse:
            return head + " (sparse)"
        if value.numel() == 0:
            return head + " (empty)"
        if value.numel() == 1:
            return f"{value.item()!r} ({head})"
        flat = value.detach().reshape(-1)
        items = ", ".join(_num(v) for v in flat[:_MAX_ITEMS].tolist())
        more = ", ..." if flat.numel() > _MAX_ITEMS else ""
        return f"{head}: [{items}{more}]"
    if isinstance(value, torch.Size):
        return str(tuple(value))
    if isinstance(value, (list, tuple)) and len(value) > _MAX_ITEMS:
        items = ", ".join(repr(v) for v in value[:_MAX_ITEMS])
        close = "]" if isinstance(value, list) else ")"
        return f"{'[' if isinstance(value, list) else '('}{items}, ... ({len(value)} items){close}"
    if isinstance(value, float):
        return _num(value)
    return repr(value)


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def fail(where: str, expected: Any, got: Any, hint: str | None = None) -> NoReturn:
    """Raise the teaching `AssertionError`: where, expected, got, and the likely bug.

    `expected` and `got` are rendered with `show` unless they are already strings.
    """
    lines = [where]
    if expected is not None or got is not None:
        lines.append(f"  expected: {expected if isinstance(expected, str) else show(expected)}")
        lines.append(f"  got:      {got if isinstance(got, str) else show(got)}")
    if hint:
        lines.append(f"  likely bug: {hint}")
    raise AssertionError("\n".join(lines))


def expect_true(
    cond: bool,
    where: str,
    hint: str | None = None,
    *,
    expected: Any = None,
    got: Any = None,
) -> None:
    """Fail with `where`, optional expected/got and `hint` unless `cond` holds."""
    if not cond:
        fail(where, expected, got, hint)


def expect_tensor(value: Any, where: str, hint: str | None = None) -> torch.Tensor:
    """`value` must be a torch.Tensor; returns it."""
    if not isinstance(value, torch.Tensor):
        fail(where, "a torch.Tensor", f"{type(value).__name__}: {show(value)}",
             hint or "return a torch tensor (e.g. build it with torch.tensor), not a Python "
             "list or NumPy array")
    return value


def expect_shape(value: Any, shape: Sequence[int | None], where: str,
                 hint: str | None = None) -> torch.Tensor:
    """`value` is a tensor of `shape` (None in `shape` matches any size); returns it."""
    tensor = expect_tensor(value, where, hint)
    got = tuple(tensor.shape)
    want = tuple(shape)
    ok = len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want))
    if not ok:
        pretty = "(" + ", ".join("any" if w is None else str(w) for w in want)
        pretty += ",)" if len(want) == 1 else ")"
        fail(f"{where}: shape", pretty, str(got), hint)
    return tensor


def expect_dtype(value: Any, dtype: torch.dtype | Sequence[torch.dtype], where: str,
                 hint: str | None = None) -> torch.Tensor:
    """`value` is a tensor whose dtype is `dtype` (or one of them); returns it."""
    tensor = expect_tensor(value, where, hint)
    allowed = (dtype,) if isinstance(dtype, torch.dtype) else tuple(dtype)
    if tensor.dtype not in allowed:
        want = " or ".join(str(d) for d in allowed)
        fail(f"{where}: dtype", want, str(tensor.dtype), hint)
    return tensor


def expect_equal(got: Any, expected: Any, where: str, hint: str | None = None) -> None:
    """Exact equality; tensors are compared element-wise (shape included)."""
    if isinstance(expected, torch.Tensor) or isinstance(got, torch.Tensor):
        ok = (
            isinstance(got, torch.Tensor)
            and isinstance(expected, torch.Tensor)
            and got.shape == expected.shape
            and bool(torch.equal(got.detach().cpu().to(expected.dtype), expected.cpu()))
        )
    else:
        ok = got == expected
    if not ok:
        fail(where, expected, got, hint)


def expect_finite(value: Any, where: str, hint: str | None = None) -> torch.Tensor:
    """Every entry of the tensor is finite (no inf, no nan); returns it."""
    tensor = expect_tensor(value, where, hint)
    finite = torch.isfinite(tensor.detach())
    if not bool(finite.all()):
        bad = (~finite).nonzero()
        first = tuple(bad[0].tolist())
        value_at = tensor.detach()[first].item() if first else tensor.detach().item()
        fail(f"{where}: not finite", "finite values (no inf, no nan)",
             f"{value_at} at index {first} ({len(bad)} of {tensor.numel()} entries not finite)",
             hint)
    return tensor


def expect_close(got: Any, expected: Any, where: str, hint: str | None = None, *,
                 atol: float = 1e-6, rtol: float = 1e-5) -> torch.Tensor:
    """`got` equals `expected` within atol + rtol*|expected|; reports the max abs diff.

    `expected` may be a tensor or a number; `got` must be a tensor of its shape.
    """
    if not isinstance(expected, torch.Tensor):
        expected = torch.tensor(expected, dtype=torch.float64)
    tensor = expect_tensor(got, where, hint)
    if tuple(tensor.shape) != tuple(expected.shape):
        fail(f"{where}: shape", str(tuple(expected.shape)), str(tuple(tensor.shape)), hint)
    a = tensor.detach().cpu().to(torch.float64)
    b = expected.detach().cpu().to(torch.float64)
    if a.is_sparse:
        a = a.to_dense()
    nan_a, nan_b = torch.isnan(a), torch.isnan(b)
    if not bool(torch.equal(nan_a, nan_b)):
        fail(where, b if b.numel() > 1 else b.item(), a if a.numel() > 1 else a.item(), hint)
    ok = torch.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    if bool(ok.all()):
        return tensor
    diff = (a - b).abs().nan_to_num(nan=0.0, posinf=math.inf)
    index = tuple(torch.nonzero(~ok)[0].tolist())
    if a.numel() == 1:
        fail(where, b.item(), a.item(), hint)
    at = f" at index {index}" if index else ""
    fail(
        f"{where} (max abs diff {diff.max().item():.3g}; first mismatch{at}: "
        f"expected {b[index].item():.6g}, got {a[index].item():.6g})",
        b, a, hint,
    )


def dense_grad(param: torch.Tensor) -> torch.Tensor:
    """The gradient of `param` as a dense tensor (zeros if it has none); sparse-safe."""
    grad = param.grad
    if grad is None:
        return torch.zeros_like(param, dtype=param.dtype).detach()
    if grad.is_sparse:
        grad = grad.coalesce().to_dense()
    return grad.detach()


class Verdict(AssertionError):
    """A check's own finding raised from inside the learner's call (by a guard the check put
    there, such as "your code calls the library it is checked against"): `call` passes it on
    unchanged instead of reporting it as the learner's own failed assertion."""


class Shortcut(BaseException):
    """Raised when the learner's code calls the implementation its exercise asks for. A
    BaseException, so that neither `call`'s error report nor a learner's `except Exception`
    swallows it; `forbid` turns it into the check's `Verdict`."""


def _refusal(where: str, asks: str, target: str, original: object):
    def raiser(*args, **kwargs):
        raise Shortcut(
            f"{where}: your code calls {target}, the implementation this exercise asks for\n"
            f"  likely bug: the exercise asks you to {asks} yourself; calling a library "
            "that does it proves nothing about your code")
    return property(raiser) if isinstance(original, property) else raiser


@contextmanager
def forbid(targets: Sequence[tuple[Any, str]], where: str, asks: str) -> Iterator[None]:
    """Inside: each `owner.name` in `targets` raises when the learner's code calls it, naming
    what the exercise asks (`asks`: "compute attention"); on the way out that becomes a
    `Verdict`. Everything is restored whatever happens."""
    patched = []
    for owner, name in targets:
        original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        if original is None:
            continue  # inherited: patching the defining class covers it
        patched.append((owner, name, original))
        label = f"{getattr(owner, '__name__', owner)}.{name}"
        setattr(owner, name, _refusal(where, asks, label, original))
    try:
        yield
    except Shortcut as err:
        raise Verdict(str(err)) from None
    finally:
        for owner, name, original in reversed(patched):
            setattr(owner, name, original)


def call(fn: Callable[..., Any], *args: Any, where: str, hint: str | None = None,
         **kwargs: Any) -> Any:
    """Call learner code, turning its exceptions into teaching `AssertionError`s.

    `NotImplementedError` (the stub) becomes "<where>: not implemented yet"; any other
    exception becomes "<where>: raised TypeError: ..." (plus `hint` as the likely bug)
    chained to the original, so the traceback still points at the learner's line.
    Other keyword arguments go to `fn`.
    """
    if not callable(fn):
        fail(where, "a function or class", f"{type(fn).__name__}: {show(fn)}",
             "pass the function (or class) itself, not the result of calling it")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        inner = _innermost_function(err)
        # name the function only when it is not the one called (a stubbed helper)
        raised_in = f" (raised in `{inner}`)" if inner and inner.split(".")[0] not in where else ""
        raise AssertionError(
            f"{where}: not implemented yet{raised_in}\n"
            "  the stub still raises NotImplementedError: replace `raise NotImplementedError()` "
            "with your code and run the cell again"
        ) from None
    except Verdict:
        raise
    except AssertionError as err:
        raise AssertionError(f"{where}: an assertion in your code failed: {err}"
                             + (f"\n  likely bug: {hint}" if hint else "")) from err
    except Exception as err:  # learner code may raise anything; report it, naming where
        raise AssertionError(f"{where}: raised {type(err).__name__}: {err}"
                             + (f"\n  likely bug: {hint}" if hint else "")) from err


def _innermost_function(err: BaseException) -> str | None:
    """Name of the function in which `err` was raised (the last traceback frame)."""
    tb = err.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return getattr(code, "co_qualname", code.co_name)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run on one intra-op torch thread, restoring the learner's setting afterwards.

    Checks work on tiny tensors, where thread start-up and hand-offs cost far more than
    the arithmetic: on a busy machine a tiny LSTM took 100x longer on 2 threads than on 1.
    Usable as a decorator (`@one_thread()`) or a `with` block.
    """
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads > 1:
            torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------
# Checks as data
#
# A `Case` calls the learner's code once on fixed inputs and says what must hold of what
# it returns: the kind of value (`Out`: a tensor of this dtype and shape), the value itself
# (`want`: the real library's answer, the paper's formula on these inputs, or a stored
# expected value) and invariances (`Holds`). When the value is wrong, the case's diagnosis
# table (`Bug` rows, first match wins) names the likely bug. `run(*cases)` runs them in
# order and fails at the first thing that does not hold, with where/expected/got/likely bug.


def gen(seed: int) -> torch.Generator:
    """A private seeded generator: checks never touch the global random state."""
    return torch.Generator().manual_seed(seed)


def close(a: Any, b: Any, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Are two tensors of one shape equal within atol + rtol*|b| (in float64)? False otherwise."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return False
    a, b = a.detach().to(torch.float64), b.detach().to(torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=atol, rtol=rtol))


def build(cls: Callable[..., Any], where: str, *args: Any, seed: int = 0,
          hint: str | None = None,
          module_hint: str = "subclass nn.Module and call super().__init__() first",
          **kwargs: Any) -> nn.Module:
    """Instantiate the learner's module under a fixed seed, leaving the global RNG alone.

    `hint` is the likely bug when the constructor raises, `module_hint` when what it builds
    is not an nn.Module; other keyword arguments go to `cls`.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = call(cls, *args, where=where, hint=hint, **kwargs)
    expect_true(isinstance(model, nn.Module), where, module_hint,
                expected="an nn.Module", got=type(model).__name__)
    return model


@dataclass(frozen=True)
class Bug:
    """A row of a diagnosis table: when the output shows this symptom, `hint` is the likely bug.

    The symptom is `like`, a wrong answer that the output reproduces (a function of the
    case's inputs, computed only when it is needed), or `when`, a predicate of
    (output, *inputs). `hint` is text, or a function of (output, *inputs) that gives it
    (a hint that names the offending entry).
    """

    hint: str | Callable[..., str]
    like: Callable[..., Any] | None = None
    when: Callable[..., Any] | None = None
    atol: float = 1e-5
    rtol: float = 1e-4

    def seen_in(self, out: Any, args: Sequence[Any]) -> bool:
        if self.like is not None:
            return close(out, self.like(*args), atol=self.atol, rtol=self.rtol)
        return bool(self.when(out, *args))


def diagnose(bugs: Sequence[Bug], out: Any, args: Sequence[Any] = (),
             default: str | None = None) -> str | None:
    """The hint of the first row of the table whose symptom the output shows, else `default`."""
    return next((_text(bug.hint, out, args) for bug in bugs if bug.seen_in(out, args)), default)


def which(got: Any, alternatives: Sequence[tuple[Any, str]], default: str,
          atol: float = 1e-5) -> str:
    """The hint of the first wrong alternative that `got` reproduces, else `default`.

    Each alternative is a tensor, or a function of no arguments that computes it, called
    only when the alternatives before it did not match.
    """
    bugs = [Bug(hint, like=alt if callable(alt) else (lambda alt=alt: alt), atol=atol)
            for alt, hint in alternatives]
    return diagnose(bugs, got, (), default)


@dataclass(frozen=True)
class Out:
    """What a case must return: a tensor, of one of these dtypes, of this shape (None: any size)."""

    dtype: torch.dtype | tuple[torch.dtype, ...] | None = None
    shape: tuple[int | None, ...] | None = None
    finite: bool = False
    hint: str | None = None  # when it is not a tensor at all
    dtype_hint: str | None = None
    shape_hint: str | None = None
    finite_hint: str | None = None

    def verify(self, value: Any, where: str) -> None:
        expect_tensor(value, where, self.hint)
        if self.dtype is not None:
            expect_dtype(value, self.dtype, where, self.dtype_hint)
        if self.shape is not None:
            expect_shape(value, self.shape, where, self.shape_hint)
        if self.finite:
            expect_finite(value, where, self.finite_hint)


@dataclass(frozen=True)
class Holds:
    """An invariance: `test(output, *inputs)` must be true. When it is not, the message says
    `what` was tested, `expected` and `got` (each text, or a function of (output, *inputs)
    that gives it) and the hint of the first row of `bugs` whose symptom the output shows,
    else `hint`."""

    what: str | Callable[..., str]  # appended to the case's `where`: "calling twice with ..."
    test: Callable[..., Any]
    hint: str
    expected: Any = None
    got: Any = None
    bugs: Sequence[Bug] = ()


@dataclass(frozen=True)
class Case:
    """One call of the learner's code on fixed inputs, and what must hold of its result."""

    where: str  # the call as the message shows it: "keep_probability(counts, sample=0.001)"
    fn: Callable[..., Any]  # the learner's function or class
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    call_hint: str | None = None  # the likely bug when the call raises
    # inputs it must not modify, by the name the message gives them: "the input counts"
    keeps: Mapping[str, torch.Tensor] = field(default_factory=dict)
    keeps_hint: str = "don't modify the input in place; compute a new tensor"
    out: Out | None = None
    want: Any = None  # the expected value, or a function of the inputs that gives it
    what: str = ""  # what of the output `want` describes: "neighbour ids"
    view: Callable[[Any], Any] | None = None  # the part of the output compared with `want`
    exact: bool = False  # equality, not closeness within atol/rtol
    atol: float = 1e-6
    rtol: float = 1e-5
    bugs: Sequence[Bug] = ()  # the diagnosis table for a wrong value
    hint: str | None = None  # the likely bug when no row of the table matches
    holds: Sequence[Holds] = ()

    @property
    def name(self) -> str:
        return self.where.split("(", 1)[0]


def run(*cases: Case) -> list[Any]:
    """Run the cases in order; return their outputs. Fails at the first thing that does not hold."""
    return [_run_case(case) for case in cases]


def examine(where: str, value: Any, **rules: Any) -> Any:
    """A case's rules (`out`, `want`, `bugs`, `holds`...) for a value already in hand: a built
    model, a loss to backpropagate, the rows a gradient reached."""
    return _run_case(Case(where, lambda: value, **rules))


def _run_case(case: Case) -> Any:
    before = {name: tensor.clone() for name, tensor in case.keeps.items()}
    out = call(case.fn, *case.args, where=case.where, hint=case.call_hint, **case.kwargs)
    for name, tensor in case.keeps.items():
        expect_equal(tensor, before[name], f"{case.name}: {name} after the call", case.keeps_hint)
    if case.out is not None:
        case.out.verify(out, case.where)
    if case.want is not None:
        want = case.want(*case.args, **case.kwargs) if callable(case.want) else case.want
        got = case.view(out) if case.view is not None else out
        where = f"{case.where}: {case.what}" if case.what else case.where
        if case.exact:
            if not _equal(got, want):
                fail(where, want, got, diagnose(case.bugs, out, case.args, case.hint))
        elif not close(got, want if isinstance(want, torch.Tensor) else torch.tensor(want),
                       atol=case.atol, rtol=case.rtol):
            expect_close(got, want, where, diagnose(case.bugs, out, case.args, case.hint),
                         atol=case.atol, rtol=case.rtol)
    for rule in case.holds:
        if not rule.test(out, *case.args):
            fail(f"{case.where}: {_text(rule.what, out, case.args)}",
                 _text(rule.expected, out, case.args),
                 _text(rule.got, out, case.args), diagnose(rule.bugs, out, case.args, rule.hint))
    return out


def _equal(got: Any, want: Any) -> bool:
    if isinstance(want, torch.Tensor) or isinstance(got, torch.Tensor):
        return (isinstance(got, torch.Tensor) and isinstance(want, torch.Tensor)
                and got.shape == want.shape
                and bool(torch.equal(got.detach().cpu().to(want.dtype), want.cpu())))
    return got == want


def _text(value: Any, out: Any, args: Sequence[Any]) -> Any:
    return value(out, *args) if callable(value) else value
