"""Visible checks for Chapter 5, "ULMFiT", the fine-tuning side (exercises 4-8).

One check per exercise. Each calls the learner's code on small, seeded inputs and raises
`AssertionError` naming the function, what was expected, what was got, and the likely bug.
No check holds an answer: the expected values are the solution's outputs on the same fixed
inputs (and weights), stored by `course release` (`PROBES`, autograder/expected/
ulmfit.safetensors), torch.optim's behaviour, or properties that pin the answer down. A
passing check returns None.

    check_stlr(stlr)
        the multiplier at t = 0..T+3 of four runs (one with T * cut_frac < 1, one where it is
        not a whole number) against the properties of Eq. 3 of Howard & Ruder (2018): 1/ratio
        at t = 0, 1 at the peak (where the stored schedule peaks), 1/ratio at t = T and after,
        linear on [0, cut] and on [cut, T] (zero second differences); the defaults. An answer
        that runs torch's OneCycleLR or CyclicLR is refused (CyclicLR is Eq. 3 itself)
    check_discriminative(discriminative_groups)
        the groups of a small tied language model made of torch.nn layers (an nn.Embedding
        shared with the decoder, a frozen parameter, a group given as a list): every parameter
        exactly once, in the group and with the lr the solution gives it (the lowest group
        that holds it; lr on top, a ratio of `factor` between neighbours); accepted by
        torch.optim.Adam
    check_unfreezing(freeze_to, train_mode)
        torch.optim.Adam, then AdamW with weight decay: steps with every group trainable (so
        the optimiser has momentum), freeze_to, more steps: the frozen parameters bit-identical
        (torch.equal), the trainable ones moved; requires_grad over a sequence of freeze_to
        calls (the groups the solution leaves trainable); train_mode's module modes (the
        solution's), and the BatchNorm running statistics of the frozen groups unchanged by a
        training forward
    check_concat_pool(concat_pool)
        unpadded and padded rows (right, left, both kinds in one batch; garbage in the pads)
        vs the solution's features; the diagnoses are wrong poolings or the stored features'
        blocks in another order
    check_classifier(ClassifierHead, TextClassifier)
        the head's layers vs the solution's, its logits with the stored weights in eval and
        (same seed) train mode; TextClassifier on a stand-in encoder made of nn.Embedding +
        nn.LSTM (not the learner's AWDLSTM), with the stored weights: logits (whole and padded
        rows, eval and train) and the encoder's gradient vs the solution's, the chunks fed to
        the encoder and the states carried between them

The checks leave the global random state and the autograd mode as they found them.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ... import expected
from ...expected import Probe
from .._common import (
    FLOATS,
    Bug,
    Case,
    Holds,
    Out,
    build,
    call,
    close,
    dense_grad,
    examine,
    expect_close,
    expect_true,
    fail,
    forbid,
    gen,
    one_thread,
    run,
    show,
)

__all__ = [
    "check_stlr",
    "check_discriminative",
    "check_unfreezing",
    "check_concat_pool",
    "check_classifier",
]


def _seeded(fn: Callable[..., Any], seed: int) -> Callable[..., Any]:
    """`fn` run under a fixed global seed, leaving the learner's global RNG as it was."""
    def seeded(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return fn(*args, **kwargs)
    return seeded


# ---------------------------------------------------------------------------- 4. stlr
#
# Eq. 3 is pinned down by five properties, checked instead of re-typing it: the multiplier is
# 1/ratio at t = 0, 1 at t = cut, 1/ratio at t = T (and after), and linear in between (zero
# second differences on [0, cut] and on [cut, T]). Where the peak is (cut) is read off the
# solution's schedule, stored by `course release` (`PROBES`), not computed here.

_TOL = 1e-9
# (T, cut_frac, ratio): the paper's setting; T * cut_frac < 1 (cut = 1); not whole (7.5);
# 1 / cut_frac != ratio everywhere, so a swapped ratio shows
_STLR_RUNS = ((100, 0.1, 32), (7, 0.1, 32), (25, 0.3, 8), (40, 0.25, 5))
_ASKS_STLR = "compute the slanted triangular multiplier"


def _stlr_shortcuts() -> list[tuple[Any, str]]:
    """torch's one-cycle and cyclic schedules: an answer that runs one of them to read its
    rate off does not write Eq. 3."""
    from torch.optim import lr_scheduler

    return [(lr_scheduler.OneCycleLR, "__init__"), (lr_scheduler.CyclicLR, "__init__")]


def _probe_stlr(stlr) -> dict[str, Any]:
    return {f"run{k}": torch.tensor([float(stlr(t, T, cut_frac, ratio)) for t in range(T + 4)],
                                    dtype=torch.float64)
            for k, (T, cut_frac, ratio) in enumerate(_STLR_RUNS)}


def _stored_stlr(k: int) -> torch.Tensor:
    return expected.case("ulmfit", "stlr")[f"run{k}"]


def _peak(values: torch.Tensor) -> int:
    """Where a stored schedule peaks (its one multiplier of 1)."""
    return int(values.argmax())


def _multiplier(stlr, t: int, T: int, cut_frac: float, ratio: float, *,
                defaults: bool = False) -> float:
    where = f"stlr({t}, {T})" if defaults else f"stlr({t}, {T}, {cut_frac}, {ratio})"
    args = (t, T) if defaults else (t, T, cut_frac, ratio)
    short = math.floor(T * cut_frac) == 0
    with forbid(_stlr_shortcuts(), where, _ASKS_STLR):
        value = call(stlr, *args, where=where,
                     hint=f"T * cut_frac = {T * cut_frac:.3g} < 1 here, so floor(T * cut_frac) is "
                     "0: cut = 0 for T * cut_frac < 1 divides by zero; use cut = max(1, floor(T "
                     "* cut_frac))" if short else None)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    expect_true(isinstance(value, numbers.Real) and not isinstance(value, bool), where,
                "return the multiplier as a Python float (LambdaLR multiplies the peak rate "
                "by it)", expected="a float", got=f"{type(value).__name__}: {show(value)}")
    return float(value)


def _second_differences(v: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """|v[t-1] - 2 v[t] + v[t+1]| for a < t < b (empty if b - a < 2)."""
    d = v[a:b + 1]
    return (d[2:] - 2 * d[1:-1] + d[:-2]).abs()


def _kink(v: torch.Tensor, a: int, b: int) -> str:
    d = _second_differences(v, a, b)
    t = int(d.argmax()) + a + 1
    return (f"|v[t-1] - 2 v[t] + v[t+1]| = {float(d.max()):.3g} at t = {t} (v[{t - 1}..{t + 1}] "
            f"= {', '.join(f'{float(x):.6g}' for x in v[t - 1:t + 2])})")


def _stlr_bugs(T: int, cut_frac: float, ratio: float, cut: int) -> list[Bug]:
    low = 1 / ratio
    fall = 1 - low  # the multiplier falls by this much over the decay

    def decays_over(v, steps: float) -> bool:  # the first step of the decay is fall / steps
        return steps > 0 and abs(float(v[cut] - v[cut + 1]) - fall / steps) < _TOL

    paper = cut * (1 / cut_frac - 1)
    return [
        Bug("returned p, not the multiplier: p runs 0 -> 1 -> 0; return (1 + p * (ratio - 1)) / "
            "ratio, which runs 1/ratio -> 1 -> 1/ratio",
            when=lambda v, *_: abs(float(v[0])) < _TOL and abs(float(v[cut]) - 1) < _TOL),
        Bug(f"the multiplier at t = 0 is 1/cut_frac = {1 / cut_frac:.6g}: cut_frac and ratio "
            "swapped; the signature is stlr(t, T, cut_frac=0.1, ratio=32), in that order",
            when=lambda v, *_: abs(float(v[0]) - 1 / cut_frac) < _TOL),
        Bug(f"cut = 0 for T * cut_frac < 1 (here {T * cut_frac:.3g}): the first step is at the "
            "peak, and t / cut would divide by zero; use cut = max(1, floor(T * cut_frac))",
            when=lambda v, *_: math.floor(T * cut_frac) == 0 and abs(float(v[0]) - 1) < _TOL),
        Bug("ratio in the denominator: the schedule does not return to 1/ratio at T; the decay "
            "is p = 1 - (t - cut) / (T - cut) (the paper writes T - cut as cut * (1 / cut_frac "
            "- 1)), not cut * (ratio - 1)",
            when=lambda v, *_: decays_over(v, cut * (ratio - 1))),
        Bug(f"the paper's cut * (1 / cut_frac - 1) = {paper:.6g} equals T - cut only when T * "
            f"cut_frac is a whole number (here {T * cut_frac:.6g}): decay over T - cut = "
            f"{T - cut} steps, so that the schedule ends at t = T",
            when=lambda v, *_: abs(paper - (T - cut)) > 1e-6 and decays_over(v, paper)),
        Bug("not clamped after T: p = 1 - (t - cut) / (T - cut) goes negative past t = T, and "
            "the multiplier below 1/ratio (a negative learning rate once below 0); clamp p at 0",
            when=lambda v, *_: float(v.min()) < low - _TOL),
        Bug(lambda v, *_: f"the peak (multiplier 1) is at t = {int(v.argmax())}, not at cut = "
            f"max(1, floor(T * cut_frac)) = {cut}: floor T * cut_frac (not round, not ceil)",
            when=lambda v, *_: int(v.argmax()) != cut),
    ]


def _stlr_rules(T: int, cut_frac: float, ratio: float, cut: int) -> list[Holds]:
    """The five properties of the schedule of one run whose peak is at `cut`."""
    low = 1 / ratio
    bugs = _stlr_bugs(T, cut_frac, ratio, cut)
    return [
        Holds("at t = 0", lambda v, *_: abs(float(v[0]) - low) < _TOL,
              "the schedule starts at eta_max / ratio: p = 0 at t = 0, and the multiplier is "
              "(1 + p * (ratio - 1)) / ratio", expected=f"1/ratio = {low:.6g}",
              got=lambda v, *_: f"{float(v[0]):.6g}", bugs=bugs),
        Holds(f"at t = cut = max(1, floor(T * cut_frac)) = {cut}",
              lambda v, *_: abs(float(v[cut]) - 1) < _TOL,
              "the peak: p = 1 at t = cut, so the multiplier is 1 (eta_max itself)",
              expected="1.0", got=lambda v, *_: f"{float(v[cut]):.6g}", bugs=bugs),
        Holds(f"at t = T = {T} and after (t = {T + 1}..{T + 3})",
              lambda v, *_: bool(((v[T:] - low).abs() < _TOL).all()),
              "the schedule ends at 1/ratio at t = T and stays there: p = max(0, 1 - (t - cut) "
              "/ (T - cut))", expected=f"{low:.6g} at every t >= T",
              got=lambda v, *_: ", ".join(f"{float(x):.6g}" for x in v[T:]), bugs=bugs),
        Holds(f"on 0 <= t <= cut = {cut}: a straight line",
              lambda v, *_: not bool((_second_differences(v, 0, cut) > _TOL).any()),
              "the warm-up is linear: p = t / cut for t < cut",
              expected="zero second differences", got=lambda v, *_: _kink(v, 0, cut), bugs=bugs),
        Holds(f"on cut = {cut} <= t <= T = {T}: a straight line",
              lambda v, *_: not bool((_second_differences(v, cut, T) > _TOL).any()),
              "the decay is linear from t = cut to t = T: p = 1 - (t - cut) / (T - cut)",
              expected="zero second differences", got=lambda v, *_: _kink(v, cut, T), bugs=bugs),
    ]


@one_thread()
def check_stlr(stlr) -> None:
    """The slanted triangular multiplier of four runs against the properties of Eq. 3 (the
    peak where the solution's is), and the defaults cut_frac=0.1, ratio=32."""
    for k, (T, cut_frac, ratio) in enumerate(_STLR_RUNS):
        cut = _peak(_stored_stlr(k))
        values = torch.tensor([_multiplier(stlr, t, T, cut_frac, ratio) for t in range(T + 4)],
                              dtype=torch.float64)
        examine(f"stlr(t, {T}, {cut_frac}, {ratio}) for t = 0..{T + 3} (arguments t, T, "
                f"cut_frac, ratio; cut = {cut})", values,
                holds=_stlr_rules(T, cut_frac, ratio, cut))
    steps = (0, 5, 10, 55, 100)
    given = [_multiplier(stlr, t, 100, 0.1, 32) for t in steps]
    default = [_multiplier(stlr, t, 100, 0.1, 32, defaults=True) for t in steps]
    expect_true(all(abs(a - b) < _TOL for a, b in zip(given, default)),
                f"stlr(t, 100) for t = {', '.join(map(str, steps))}: the defaults",
                "keep the paper's defaults in the signature: stlr(t, T, cut_frac=0.1, ratio=32)",
                expected=f"as stlr(t, 100, 0.1, 32): {', '.join(f'{v:.6g}' for v in given)}",
                got=", ".join(f"{v:.6g}" for v in default))


# -------------------------------------------------------------------- 5. discriminative

class _TiedLM(nn.Module):
    """An embedding, two LSTM layers, and a decoder whose weight IS the embedding's."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(12, 4)
        self.rnn1 = nn.LSTM(4, 6, batch_first=True)
        self.rnn2 = nn.LSTM(6, 4, batch_first=True)
        self.decoder = nn.Linear(4, 12)
        self.decoder.weight = self.embed.weight
        self.rnn1.weight_hh_l0.requires_grad_(False)


@dataclass(frozen=True)
class _GroupsCase:
    where: str
    model: nn.Module
    groups: list
    lr: float
    factor: float | None  # None: called without it (the default, 2.6)
    tied: str  # the name of the parameter two input groups share
    labels: dict[str, str]  # how a name is shown


def _groups_cases() -> list[_GroupsCase]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        lm = _TiedLM()
        mlp = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 5), nn.Linear(5, 2))
    mlp[2].bias.requires_grad_(False)
    return [
        _GroupsCase("discriminative_groups([model.embed, model.rnn1, list(model.rnn2."
                    "parameters()), model.decoder], lr=0.01, factor=2.6)  (model: an "
                    "nn.Embedding(12, 4) whose weight the nn.Linear decoder shares, two nn.LSTM "
                    "layers; rnn1.weight_hh_l0 frozen)", lm,
                    [lm.embed, lm.rnn1, list(lm.rnn2.parameters()), lm.decoder], 0.01, 2.6,
                    "embed.weight", {"embed.weight": "embed.weight (= decoder.weight)"}),
        _GroupsCase("discriminative_groups([[mlp[0].weight, mlp[0].bias], mlp[2], [mlp[3]."
                    "weight, mlp[3].bias, mlp[0].weight]], lr=0.003)  (the default factor; "
                    "mlp[0].weight listed twice; mlp[2].bias frozen)", mlp,
                    [[mlp[0].weight, mlp[0].bias], mlp[2],
                     [mlp[3].weight, mlp[3].bias, mlp[0].weight]], 0.003, None,
                    "0.weight", {}),
    ]


def _probe_discriminative(discriminative_groups) -> dict[str, Any]:
    """The solution's groups of each case: the group of each parameter (in the order of
    model.named_parameters()) and the lr of each group."""
    out = {}
    for k, case in enumerate(_groups_cases()):
        kwargs = {} if case.factor is None else {"factor": case.factor}
        groups = discriminative_groups(case.groups, case.lr, **kwargs)
        held = {id(p): g for g, group in enumerate(groups) for p in group["params"]}
        out[f"case{k}.group_of"] = torch.tensor([held[id(p)] for _, p
                                                 in case.model.named_parameters()])
        out[f"case{k}.lrs"] = torch.tensor([float(g["lr"]) for g in groups], dtype=torch.float64)
    return out


def _stored_groups(k: int, case: _GroupsCase) -> tuple[list[set[str]], list[float]]:
    """The solution's parameter names of each group of case k, and its lrs."""
    stored = expected.case("ulmfit", "discriminative")
    names = [n for n, _ in case.model.named_parameters()]
    group_of = stored[f"case{k}.group_of"].tolist()
    want = [{n for n, g in zip(names, group_of) if g == j} for j in range(len(case.groups))]
    return want, stored[f"case{k}.lrs"].tolist()


def _as_groups(out: Any) -> list[tuple[list[Any], Any]] | None:
    """[(params, lr)] from what discriminative_groups returned; None if not a list of dicts."""
    if not isinstance(out, (list, tuple)):
        return None
    groups = []
    for group in out:
        if not isinstance(group, dict) or "params" not in group:
            return None
        params = group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        groups.append((params, group.get("lr")))
    return groups


def _group_rules(case: _GroupsCase, want: list[set[str]], want_lrs: list[float]) -> list[Holds]:
    by_id = {id(p): n for n, p in case.model.named_parameters()}
    label = lambda n: case.labels.get(n, n)  # noqa: E731
    names = lambda params: [by_id.get(id(p), f"(not a parameter of the model: {show(p)})")  # noqa: E731
                            for p in params]
    listed = lambda gs: [n for params, _ in gs for n in names(params)]  # noqa: E731
    where_is = lambda gs, name: [k for k, (params, _) in enumerate(gs) if name in names(params)]  # noqa: E731
    frozen = {n for n, p in case.model.named_parameters() if not p.requires_grad}
    every = set(by_id.values())
    missing = lambda gs: sorted(every - set(listed(gs)))  # noqa: E731
    twice = lambda gs: sorted({n for n in listed(gs) if listed(gs).count(n) > 1})  # noqa: E731
    n, lr, factor = len(case.groups), case.lr, case.factor or 2.6
    lrs = lambda gs: [g[1] for g in gs]  # noqa: E731
    is_num = lambda x: isinstance(x, numbers.Real) and not isinstance(x, bool)  # noqa: E731
    near = lambda a, b: abs(a - b) <= 1e-12 * abs(b)  # noqa: E731
    contents = lambda gs: "; ".join(f"group {k}: {sorted(label(x) for x in names(params))}"  # noqa: E731
                                    for k, (params, _) in enumerate(gs))
    return [
        Holds("the number of groups", lambda gs, *_: len(gs) == n,
              "return one dict per entry of `groups`, in the same order (bottom first)",
              expected=f"{n} groups", got=lambda gs, *_: f"{len(gs)} groups"),
        Holds("parameters in more than one group", lambda gs, *_: not twice(gs),
              "every parameter goes in exactly one group (torch.optim refuses a parameter in two "
              "groups): skip a parameter already placed (keep a set of id(param))",
              expected="each parameter once",
              got=lambda gs, *_: f"{[label(x) for x in twice(gs)]} more than once ({contents(gs)})",
              bugs=[Bug(f"the tied embedding in two groups: {label(case.tied)} is in the "
                        "bottom group and again in a group above it; a parameter that several "
                        "groups hold goes in the lowest one only (de-duplicate by id)",
                        when=lambda gs, *_: case.tied in twice(gs))]),
        Holds("parameters in no group", lambda gs, *_: not missing(gs),
              "every parameter of the groups must be in the output, or the optimiser never "
              "updates it", expected="all of them",
              got=lambda gs, *_: f"missing: {[label(x) for x in missing(gs)]}",
              bugs=[Bug(f"frozen parameters dropped ({sorted(frozen)}, requires_grad=False): keep "
                        "them; freezing is freeze_to's business, which switches them back on "
                        "later, and an optimiser only ever updates the parameters it was given",
                        when=lambda gs, *_: set(missing(gs)) <= frozen)]),
        Holds("the parameters of each group",
              lambda gs, *_: [set(names(params)) for params, _ in gs] == want,
              "group k holds the parameters of groups[k] that no group below it holds",
              expected="; ".join(f"group {k}: {sorted(label(x) for x in w)}"
                                 for k, w in enumerate(want)),
              got=lambda gs, *_: contents(gs),
              bugs=[Bug("the groups come out top first: return them in the order of `groups`, "
                        "bottom (the embedding) first, top (the head) last",
                        when=lambda gs, *_: [set(names(params)) - {case.tied}
                                             for params, _ in gs][::-1]
                        == [w - {case.tied} for w in want]),
                    Bug(f"{label(case.tied)} went to the top group that shares it: a parameter "
                        "that several groups hold goes in the LOWEST one only (the first seen, "
                        "going bottom to top)",
                        when=lambda gs, *_: where_is(gs, case.tied) == [n - 1])]),
        Holds("'lr' of each group", lambda gs, *_: all(is_num(x) for x in lrs(gs)),
              "give every group its own 'lr' (a float): {'params': [...], 'lr': ...}",
              expected="a number in every group", got=lambda gs, *_: str(lrs(gs))),
        Holds("'lr' of each group, bottom to top",
              lambda gs, *_: all(near(a, b) for a, b in zip(lrs(gs), want_lrs)),
              "the top group (the last) gets lr and each group below it lr / factor of the one "
              "above (Howard & Ruder 2018, Eq. 2)",
              expected=f"{', '.join(f'{x:.6g}' for x in want_lrs)}  (lr = {lr} on top, each "
              f"below 1/{factor} of the one above)",
              got=lambda gs, *_: ", ".join(f"{x:.6g}" for x in lrs(gs)),
              bugs=[Bug(f"groups reversed: the bottom group got lr, and the top gets lr/{factor}"
                        "**k; the TOP group (last in the list, the head) gets lr, group k of n "
                        "gets lr / factor ** (n - 1 - k)",
                        when=lambda gs, *_: near(lrs(gs)[0], lr)),
                    Bug(f"factor multiplied instead of divided: the lower groups got LARGER rates "
                        f"(each {factor} times the one above); each group below gets lr / factor of "
                        "the one above", when=lambda gs, *_: all(near(a, b * factor)
                                                         for a, b in zip(lrs(gs), lrs(gs)[1:]))),
                    Bug(f"off by one: the top group got lr/{factor}; it gets lr itself (exponent "
                        "n - 1 - k for group k of n)",
                        when=lambda gs, *_: near(lrs(gs)[-1], lr / factor)),
                    Bug("the default factor is 2.6 (the paper's): def discriminative_groups("
                        "groups, lr, factor=2.6)", when=lambda gs, *_: case.factor is None)]),
    ]


def _check_groups_case(discriminative_groups, k: int, case: _GroupsCase) -> None:
    want, want_lrs = _stored_groups(k, case)
    kwargs = {} if case.factor is None else {"factor": case.factor}
    out = call(discriminative_groups, case.groups, case.lr, where=case.where,
               hint="an entry of `groups` is an nn.Module (take its .parameters()) or a list of "
               "parameters (take it as it is); remember the placed parameters by id(param) in a "
               "set (`param in a_list` compares tensors by value, with ==)", **kwargs)
    groups = _as_groups(out)
    expect_true(groups is not None, case.where,
                "return a list of dicts, one per group: [{'params': [...], 'lr': ...}, ...]",
                expected="a list of {'params': ..., 'lr': ...} dicts",
                got=f"{type(out).__name__}: {show(out)}")
    examine(case.where, groups, holds=_group_rules(case, want, want_lrs))
    opt = call(torch.optim.Adam, [{"params": p, "lr": lr} for p, lr in groups], lr=1.0,
               where=f"{case.where}: torch.optim.Adam(groups)",
               hint="torch.optim must accept the groups as they are")
    expect_true([g["lr"] for g in opt.param_groups] == [lr for _, lr in groups],
                f"{case.where}: torch.optim.Adam(groups).param_groups",
                "each group's own 'lr' must override the optimiser's default",
                expected=str([lr for _, lr in groups]),
                got=str([g["lr"] for g in opt.param_groups]))


@one_thread()
def check_discriminative(discriminative_groups) -> None:
    """Each parameter once, in the lowest group that has it, frozen ones kept; lr on top and
    lr / factor per group below; torch.optim.Adam accepts the groups."""
    for k, case in enumerate(_groups_cases()):
        _check_groups_case(discriminative_groups, k, case)


# ----------------------------------------------------------------------- 6. unfreezing

class _Net(nn.Module):
    """Four groups, bottom to top: an embedding, two Linear + BatchNorm1d blocks (the first with
    dropout), a head with dropout."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(16, 6)
        self.block1 = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.1))
        self.block2 = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(8, 3))

    def groups(self) -> list[nn.Module]:
        return [self.embed, self.block1, self.block2, self.head]

    def forward(self, ids):
        return self.head(self.block2(self.block1(self.embed(ids).mean(1))))  # (B, 3)


_GROUP_NAMES = ("embed", "block1", "block2", "head")
_L = len(_GROUP_NAMES)
_GROUPS_TEXT = "groups = [model.embed, model.block1, model.block2, model.head]"


def _net() -> _Net:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return _Net()


def _net_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(7)
    return torch.randint(0, 16, (8, 5), generator=g), torch.randint(0, 3, (8,), generator=g)


@dataclass
class _State:
    """What freeze_to left: requires_grad of each group's parameters; after training, which
    parameters moved and which of the ones that should be frozen got an all-zero gradient."""

    flags: list[list[bool]]
    moved: dict[str, bool] | None = None
    zeroed: bool = False  # a should-be-frozen parameter requires grad and got a zero gradient

    @property
    def trainable(self) -> set[int]:
        return {k for k, f in enumerate(self.flags) if f and all(f)}

    def text(self) -> str:
        def one(f):
            return "requires_grad True" if all(f) else "False" if not any(f) else f"mixed {f}"
        return "; ".join(f"{_GROUP_NAMES[k]}: {one(f)}" for k, f in enumerate(self.flags))


def _flags(model: _Net) -> list[list[bool]]:
    return [[p.requires_grad for p in g.parameters()] for g in model.groups()]


def _top(n: int) -> set[int]:
    """The groups the solution's freeze_to(groups, n) leaves trainable, stored by `course
    release` (`PROBES`)."""
    flags = expected.case("ulmfit", "unfreezing")[f"trainable{n}"]
    return {k for k, trainable in enumerate(flags.tolist()) if trainable}


def _probe_unfreezing(freeze_to, train_mode) -> dict[str, Any]:
    """On a fresh model for each n: which groups freeze_to(groups, n) leaves trainable; and
    the module modes train_mode leaves after model.eval() and freeze_to."""
    out = {}
    for n in sorted({*_FREEZE_SEQUENCE, 1, 3}):
        groups = _net().groups()
        freeze_to(groups, n)
        out[f"trainable{n}"] = torch.tensor([all(p.requires_grad for p in g.parameters())
                                             for g in groups])
    for n in (1, 3):
        model = _net().eval()
        groups = model.groups()
        freeze_to(groups, n)
        train_mode(model, groups, n)
        out[f"modes{n}"] = torch.tensor(list(_modes(model).values()))
    return out


def _flag_bugs(n: int, earlier: Sequence[int] = ()) -> list[Bug]:
    top = _top(n)
    bottom_first, off_by_one = set(range(min(n, _L))), set(range(min(n, _L), _L))
    stale = _top(min((*earlier, n)))  # what stays trainable if freeze_to never unfreezes
    return [
        Bug("frozen by zeroing grads: Adam still moved the frozen weights (its momentum from the "
            "earlier steps, and AdamW's weight decay, move a parameter whose gradient is zero); "
            "set requires_grad=False, so that a frozen parameter gets no gradient at all and the "
            "optimiser skips it", when=lambda s, *_: s.zeroed),
        Bug("n = 0 must freeze every group: groups[-0:] is the whole list, not an empty one "
            "(slice at len(groups) - n instead)",
            when=lambda s, *_: n == 0 and s.trainable == set(range(_L))),
        Bug("freeze_to must also set requires_grad=True on the top n: a group frozen by an "
            f"earlier call (n = {', '.join(map(str, earlier))} before) stays frozen",
            when=lambda s, *_: bool(earlier) and s.trainable == stale != top),
        Bug(lambda s, *_: f"the bottom groups unfrozen first: freeze_to(groups, {n}) trains the "
            f"TOP {n} (the groups run bottom to top, and ULMFiT unfreezes from the head down); "
            f"here {sorted(_GROUP_NAMES[k] for k in s.trainable)} train",
            when=lambda s, *_: s.trainable == bottom_first != top),
        Bug(f"off by one: {n} groups frozen instead of {n} trainable; the top n train and the "
            "other len(groups) - n are frozen",
            when=lambda s, *_: s.trainable == off_by_one != top),
        Bug("the frozen groups still have requires_grad=True: freeze_to must set requires_grad="
            "False on every parameter of the other groups (their gradients are then None and no "
            "optimiser moves them)",
            when=lambda s, *_: any(any(s.flags[k]) for k in set(range(_L)) - top)),
    ]


def _frozen_stay(freeze_to, n: int, opt_name: str, make_opt: Callable[..., Any]) -> None:
    """Three optimiser steps with every group trainable, freeze_to(groups, n), three more: the
    frozen groups' parameters bit-identical, the trainable ones moved."""
    where = (f"freeze_to(groups, {n}) between training steps: {opt_name} on a model with "
             f"{_GROUPS_TEXT} (an nn.Embedding, two nn.Linear + nn.BatchNorm1d blocks, an "
             "nn.Linear head; eval mode), 3 steps with all 4 groups trainable, then "
             f"freeze_to(groups, {n}) and 3 more steps")
    model = _net().eval()
    ids, labels = _net_data()
    opt = make_opt(model.parameters())
    with torch.enable_grad():
        _train_and_freeze(freeze_to, n, model, ids, labels, opt, where)


def _train_and_freeze(freeze_to, n: int, model: _Net, ids, labels, opt, where: str) -> None:

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(ids), labels)
        call(loss.backward, where=f"{where}: loss.backward()",
             hint="no parameter requires a gradient after freeze_to: the top n groups must keep "
             "requires_grad=True")
        opt.step()

    for _ in range(3):
        step()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    call(freeze_to, model.groups(), n, where=f"freeze_to(groups, {n})")
    for _ in range(3):
        step()
    frozen = set(range(_L)) - _top(n)
    names = {k: [f"{_GROUP_NAMES[k]}.{x}" for x, _ in g.named_parameters()]
             for k, g in enumerate(model.groups())}
    params = dict(model.named_parameters())
    moved = {name: not torch.equal(params[name].detach(), before[name]) for name in params}
    zeroed = any(params[x].requires_grad and params[x].grad is not None
                 and not bool(params[x].grad.any()) for k in frozen for x in names[k])
    state = _State(_flags(model), moved, zeroed)
    stuck = [x for k in frozen for x in names[k] if moved[x]]
    still = [x for k in _top(n) for x in names[k] if not moved[x]]
    examine(where, state, holds=[
        Holds(f"the parameters of the frozen groups {[_GROUP_NAMES[k] for k in sorted(frozen)]}",
              lambda s, *_: not stuck,
              "a frozen parameter must not move at all: requires_grad=False gives it no gradient, "
              "and the optimiser skips a parameter without one",
              expected="bit-identical (torch.equal) to their values at freeze_to",
              got=lambda s, *_: f"moved: {stuck} (max |change| "
              f"{max(float((params[x].detach() - before[x]).abs().max()) for x in stuck):.3g}); "
              f"{s.text()}", bugs=_flag_bugs(n)),
        Holds(f"the parameters of the top {n} groups "
              f"{[_GROUP_NAMES[k] for k in sorted(_top(n))]}",
              lambda s, *_: not still, f"the top {n} groups keep training: requires_grad=True",
              expected="changed by the 3 steps after freeze_to",
              got=lambda s, *_: f"unchanged: {still}; {s.text()}", bugs=_flag_bugs(n)),
    ])


_FREEZE_SEQUENCE = (1, 3, 0, 4, 6, 2)


def _check_flags(freeze_to) -> None:
    model = _net()
    groups = model.groups()
    for i, n in enumerate(_FREEZE_SEQUENCE):
        earlier = _FREEZE_SEQUENCE[:i]
        where = (f"freeze_to(groups, {n}) (a model with {_GROUPS_TEXT}; freeze_to called in turn "
                 f"with n = {', '.join(map(str, _FREEZE_SEQUENCE))})")
        call(freeze_to, groups, n, where=where)
        top = _top(n)
        want = [[k in top] * len(f) for k, f in enumerate(_flags(model))]
        examine(where, _State(_flags(model)), holds=[
            Holds("requires_grad of each group's parameters", lambda s, *_, want=want: s.flags == want,
                  f"the top {n} groups train (requires_grad=True), all the others are frozen "
                  "(requires_grad=False); n = 0 freezes all, n >= len(groups) unfreezes all",
                  expected=_State(want).text(), got=lambda s, *_: s.text(),
                  bugs=_flag_bugs(n, earlier))])


def _bn_names(model: _Net, groups: Sequence[int]) -> list[str]:
    return [f"{_GROUP_NAMES[k]}.{name}" for k in groups
            for name, m in model.groups()[k].named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _modes(model: _Net) -> dict[str, bool]:
    out = {"model": model.training}
    for k, group in enumerate(model.groups()):
        for name, m in group.named_modules():
            if name:
                out[f"{_GROUP_NAMES[k]}.{name}"] = m.training
            elif not isinstance(group, nn.Sequential):
                out[_GROUP_NAMES[k]] = m.training
    return out


def _check_train_mode(freeze_to, train_mode, n: int) -> None:
    where = (f"train_mode(model, groups, {n}) (a model with {_GROUPS_TEXT}; BatchNorm1d in "
             f"block1 and block2; after model.eval() and freeze_to(groups, {n}))")
    model = _net().eval()
    groups = model.groups()
    call(freeze_to, groups, n, where=f"freeze_to(groups, {n})")
    call(train_mode, model, groups, n, where=where)
    frozen = sorted(set(range(_L)) - _top(n))
    frozen_bn = set(_bn_names(model, frozen))
    want = dict(zip(_modes(model), expected.case("ulmfit", "unfreezing")[f"modes{n}"].tolist()))
    bn_all = set(_bn_names(model, range(_L)))
    wrong = lambda modes: sorted(x for x in want if modes[x] != want[x])  # noqa: E731
    examine(where, _modes(model), holds=[
        Holds("the mode (.training) of the model and of each module",
              lambda modes, *_: not wrong(modes),
              "model.train(), then .eval() on the BatchNorm layers of the frozen groups "
              "(groups[:len(groups) - n]) only",
              expected=f"all training except {sorted(frozen_bn) or 'none'} (eval)",
              got=lambda modes, *_: "wrong: " + ", ".join(
                  f"{x} {'training' if modes[x] else 'eval'}" for x in wrong(modes)),
              bugs=[Bug("train_mode left the whole model in eval: call model.train() first (a "
                        "model comes back from evaluation in eval mode), then put only the frozen "
                        "groups' BatchNorm layers in eval",
                        when=lambda modes, *_: not modes["model"]),
                    Bug("BatchNorm of the frozen groups left in train mode: their running "
                        "statistics (running_mean, running_var) move at every training forward "
                        "although the group is frozen; call .eval() on each BatchNorm of "
                        "groups[:len(groups) - n]",
                        when=lambda modes, *_: any(modes[x] for x in frozen_bn)),
                    Bug("the whole frozen groups were put in eval: only their BatchNorm layers "
                        "stay in eval; dropout in a frozen group still applies",
                        when=lambda modes, *_: any(not modes[x] for x in want
                                                   if want[x] and x not in bn_all)),
                    Bug("a BatchNorm of a trainable group (the top n) is in eval: only the frozen "
                        "groups (all but the top n) keep their BatchNorm in eval",
                        when=lambda modes, *_: any(not modes[x] for x in bn_all - frozen_bn))])])
    bns = {name: m for name, m in zip(_bn_names(model, range(_L)),
                                      [m for g in groups for m in g.modules()
                                       if isinstance(m, nn.modules.batchnorm._BatchNorm)])}
    before = {name: m.running_mean.clone() for name, m in bns.items()}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model(_net_data()[0])
    moved = {name: not torch.equal(m.running_mean, before[name]) for name, m in bns.items()}
    expect_true(all(moved[x] != (x in frozen_bn) for x in bns),
                f"{where}: running_mean of each BatchNorm1d after a training forward",
                "the frozen groups' BatchNorm layers keep their statistics; the trainable ones "
                "update theirs", expected=f"unchanged: {sorted(frozen_bn)}, moved: "
                f"{sorted(set(bns) - frozen_bn)}",
                got=f"moved: {sorted(x for x in bns if moved[x])}")


@one_thread()
def check_unfreezing(freeze_to, train_mode) -> None:
    """Frozen parameters bit-identical through Adam and AdamW steps (momentum, weight decay);
    requires_grad over a sequence of calls; train_mode's modes and BatchNorm statistics."""
    _frozen_stay(freeze_to, 1, "torch.optim.Adam(lr=0.01)",
                 lambda ps: torch.optim.Adam(ps, lr=0.01))
    _frozen_stay(freeze_to, 3, "torch.optim.AdamW(lr=0.01, weight_decay=0.1)",
                 lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1))
    _check_flags(freeze_to)
    for n in (1, 3):
        _check_train_mode(freeze_to, train_mode, n)


# ---------------------------------------------------------------------- 7. concat_pool
#
# The expected features are the solution's on the same inputs, stored by `course release`
# (`PROBES`); the diagnoses are wrong poolings written as such, or relations to the stored
# features (the three blocks in another order).

_BLOCKS = ("h_last", "max", "mean")
_PAD_VALUE = 9.0  # garbage in the pads: larger than any real output, so it shows in max and mean


def _padded(seed: int, lengths: Sequence[int], sides: str, T: int, C: int):
    """outputs (B, T, C) with `_PAD_VALUE` in the pads, mask (B, T); sides[b] is 'r' (padding on
    the right) or 'l'; row 1's real outputs are all negative."""
    x = torch.randn(len(lengths), T, C, generator=gen(seed))
    x[1] = -x[1].abs() - 0.1
    pos = torch.arange(T)
    mask = torch.stack([pos < n if side == "r" else pos >= T - n
                        for n, side in zip(lengths, sides)])
    return x.masked_fill(~mask.unsqueeze(-1), _PAD_VALUE), mask


_PADS = f"(pads hold {_PAD_VALUE}; row 1's real outputs all negative)"


def _pool_inputs() -> list[tuple[str, torch.Tensor, torch.Tensor, str]]:
    """(name, outputs, mask, how the message describes the mask) of each case."""
    g = gen(1)
    full = torch.randn(3, 5, 4, generator=g)
    square = torch.randn(4, 4, 3, generator=g)
    return [
        ("square", square, torch.ones(4, 4, dtype=torch.bool), "all True"),
        ("full", full, torch.ones(3, 5, dtype=torch.bool), "all True"),
        ("right", *_padded(2, (6, 4, 2), "rrr", 6, 4),
         f"with 6, 4, 2 real tokens, padding on the right {_PADS}"),
        ("left", *_padded(3, (6, 3, 1), "lll", 6, 4),
         f"with 6, 3, 1 real tokens, padding on the left {_PADS}"),
        ("mixed", *_padded(4, (3, 5, 2, 7), "rllr", 7, 3),
         f"with 3, 5, 2, 7 real tokens, rows 0 and 3 padded on the right, rows 1 and 2 on the "
         f"left {_PADS}"),
    ]


def _probe_concat_pool(concat_pool) -> dict[str, Any]:
    out = {}
    for name, x, mask, _ in _pool_inputs():
        out.update({f"{name}.outputs": x, f"{name}.mask": mask,
                    f"{name}.features": concat_pool(x.clone(), mask.clone())})
    return out


def _full_bugs(x: torch.Tensor, want: torch.Tensor) -> list[Bug]:
    C = x.shape[2]
    blocks = [want[:, k * C:(k + 1) * C] for k in range(3)]
    bugs = [Bug(f"the three are in the order [{', '.join(_BLOCKS[k] for k in order)}]: "
                "concatenate [h_last, max, mean] (Howard & Ruder 2018, §3.3), in that order",
                like=lambda *_, order=order: torch.cat([blocks[k] for k in order], 1))
            for order in itertools.permutations(range(3)) if order != (0, 1, 2)]
    if x.shape[0] == x.shape[1]:
        bugs += [Bug("mean over the batch axis (dim 0): pool over time, dim 1 of (B, T, C)",
                     like=lambda *_: torch.cat([blocks[0], blocks[1], x.mean(0)], 1)),
                 Bug("max over the batch axis (dim 0): pool over time, dim 1 of (B, T, C)",
                     like=lambda *_: torch.cat([blocks[0], x.amax(0), blocks[2]], 1))]
    return bugs


def _padded_bugs(x: torch.Tensor, mask: torch.Tensor, want: torch.Tensor) -> list[Bug]:
    C, T = x.shape[2], x.shape[1]
    m = mask.unsqueeze(-1)
    block = lambda out, k: out[:, k * C:(k + 1) * C]  # noqa: E731

    def wrong_like(k: int, like: torch.Tensor) -> Callable[..., bool]:
        """Block k is wrong, and equals `like`."""
        return lambda out, *_: not close(block(out, k), block(want, k)) and close(block(out, k),
                                                                                   like)

    return [
        Bug("h_last taken at position -1, a pad in the padded rows: take the output at each "
            "row's last REAL position (its last True in mask)", when=wrong_like(0, x[:, -1])),
        Bug("h_last taken at mask.sum(1) - 1: that is the last real position only with right "
            "padding; with left padding the last real token is at T - 1 (find the last True of "
            "the mask)", when=wrong_like(0, x[torch.arange(x.shape[0]), mask.sum(1) - 1])),
        Bug("pads inside max: the result changes with extra padding; fill the pads with -inf "
            "before the max: outputs.masked_fill(~mask[..., None], float('-inf'))",
            when=wrong_like(1, x.amax(1))),
        Bug("the pads were filled with 0 inside max: a row whose real outputs are all negative "
            "gets max 0; fill them with -inf", when=wrong_like(1, x.masked_fill(~m, 0.0).amax(1))),
        Bug("pads inside mean: the result changes with extra padding; average over the real "
            "tokens only, (outputs * mask[..., None]).sum(1) / mask.sum(1)[:, None]",
            when=wrong_like(2, x.mean(1))),
        Bug("the mean divides by T: the pads are zeroed but counted; divide by each row's number "
            "of real tokens, mask.sum(1)", when=wrong_like(2, (x * m).sum(1) / T)),
    ]


def _pool_case(concat_pool, x: torch.Tensor, mask: torch.Tensor, want: torch.Tensor,
               described: str) -> Case:
    B, T, C = x.shape
    padded = not bool(mask.all())
    return Case(f"concat_pool(outputs {tuple(x.shape)}, mask {described})", concat_pool,
                (x, mask), keeps={"outputs": x, "mask": mask},
                out=Out(dtype=FLOATS, shape=(B, 3 * C), finite=True,
                        shape_hint="(B, 3 * C): torch.cat([h_last, max, mean], dim=1), not "
                        "torch.stack",
                        finite_hint="-inf leaked out of the max: fill the pads with -inf, but "
                        "take the max over each row's real tokens"),
                want=want,
                what="vs [h_last, max, mean] over each row's real positions" if padded
                else "vs [h_last, max, mean] over time",
                atol=1e-5, rtol=1e-4,
                bugs=_padded_bugs(x, mask, want) if padded else _full_bugs(x, want),
                hint="[h at the last real position, max over the real positions, mean over the "
                "real positions], concatenated along dim 1")


@one_thread()
def check_concat_pool(concat_pool) -> None:
    """Unpadded rows, right-, left- and mixed-padded rows (garbage in the pads) vs the
    solution's features on the same inputs."""
    stored = expected.case("ulmfit", "concat_pool")
    run(*[_pool_case(concat_pool, stored[f"{name}.outputs"], stored[f"{name}.mask"],
                     stored[f"{name}.features"], described)
          for name, _, _, described in _pool_inputs()])


# ----------------------------------------------------------------------- 8. classifier
#
# The head and the classifier are compared with the solution's outputs on the same inputs
# and weights, stored by `course release` (`PROBES`): the check loads the stored weights into
# the learner's modules by the names the exercise prescribes and runs them on the stored
# inputs.

_IN, _HIDDEN, _CLASSES, _P = 12, 7, 3, (0.2, 0.1)
_HEAD_WHERE = f"ClassifierHead({_IN}, {_CLASSES}, hidden={_HIDDEN}, p={_P})"


def _describe(module: nn.Module) -> tuple:
    if isinstance(module, nn.BatchNorm1d):
        return ("BatchNorm1d", module.num_features)
    if isinstance(module, nn.Dropout):
        return ("Dropout", module.p)
    if isinstance(module, nn.Linear):
        return ("Linear", module.in_features, module.out_features)
    return (type(module).__name__,)


def _text(layers: Sequence[tuple]) -> str:
    return " -> ".join(f"{d[0]}({', '.join(map(str, d[1:]))})" for d in layers)


def _encode_layers(layers: Sequence[tuple]) -> torch.Tensor:
    """A layer description as a stored field (its JSON text as bytes)."""
    return torch.tensor(list(json.dumps([list(d) for d in layers]).encode()), dtype=torch.uint8)


def _decode_layers(field: torch.Tensor) -> list[tuple]:
    return [tuple(d) for d in json.loads(bytes(field.tolist()).decode())]


def _weights_for(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Deterministic values for a module's state, by name and shape: non-trivial BatchNorm
    statistics and affine weights (so that the order of the layers shows in the output) and
    random weights; integer buffers kept."""
    g = gen(seed)
    out = {}
    for name in sorted(state):
        t = state[name]
        if not t.is_floating_point():
            out[name] = t.clone()
        elif name.endswith("running_var") or (t.ndim == 1 and name.endswith("weight")):
            out[name] = (torch.rand(t.shape, generator=g) + 0.5).to(t.dtype)
        else:
            out[name] = (0.5 * torch.randn(t.shape, generator=g)).to(t.dtype)
    return out


def _weights_fields(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"w.{k}": v for k, v in weights.items()}


def _load_stored(module: nn.Module, stored: dict[str, torch.Tensor], where: str,
                 hint: str) -> None:
    """Load the stored weights (fields `w.<name>`) into the learner's module, by name."""
    state = {k[2:]: v for k, v in stored.items() if k.startswith("w.")}
    keys = set(module.state_dict())
    if keys != set(state):
        fail(f"{where}: state_dict() keys", show(sorted(state)),
             f"missing {show(sorted(set(state) - keys))}, extra {show(sorted(keys - set(state)))}",
             hint)
    with torch.no_grad():
        module.load_state_dict(state)


def _probe_head(ClassifierHead) -> dict[str, Any]:  # noqa: N803
    head = ClassifierHead(_IN, _CLASSES, hidden=_HIDDEN, p=_P)
    weights = _weights_for(head.state_dict(), 11)
    head.load_state_dict(weights)
    x = torch.randn(6, _IN, generator=gen(12))
    with torch.no_grad():
        logits = head.eval()(x)
        train = _seeded(head.train(), 5)(x)
    return {"layers": _encode_layers([_describe(m) for m in head.layers]), "x": x,
            "eval": logits, "train": train, **_weights_fields(weights)}


def _layer_bugs(want: Sequence[tuple]) -> list[Bug]:
    kinds = lambda d: [x[0] for x in d]  # noqa: E731
    first = lambda d, kind: kinds(d).index(kind) if kind in kinds(d) else len(d)  # noqa: E731
    return [
        Bug("head without BatchNorm: each of the two blocks starts with nn.BatchNorm1d (of "
            "in_dim, then of hidden)", when=lambda d, *_: "BatchNorm1d" not in kinds(d)),
        Bug("ReLU after the last Linear: the logits must be free to be negative; the ReLU comes "
            "after the first Linear only", when=lambda d, *_: bool(d) and d[-1][0] == "ReLU"),
        Bug("Linear before BatchNorm: each block is BatchNorm1d -> Dropout -> Linear (normalise "
            "the features, drop some, then project)",
            when=lambda d, *_: first(d, "Linear") < first(d, "BatchNorm1d")),
        Bug("dropout after the Linear: each block is BatchNorm1d -> Dropout -> Linear",
            when=lambda d, *_: first(d, "Linear") < first(d, "Dropout")),
        Bug("the dropout rates are swapped: p[0] is the first block's, p[1] the second's",
            when=lambda d, *_: [x[1] for x in d if x[0] == "Dropout"] == [_P[1], _P[0]]),
        Bug("use the arguments: hidden is the width between the two Linears, n_classes the "
            "output's", when=lambda d, *_: kinds(d) == kinds(want)),
    ]


def _check_head(ClassifierHead) -> None:  # noqa: N803
    stored = expected.case("ulmfit", "head")
    want_layers = _decode_layers(stored["layers"])
    head = build(ClassifierHead, _HEAD_WHERE, _IN, _CLASSES, hidden=_HIDDEN, p=_P,
                 hint="__init__(self, in_dim, n_classes, hidden=50, p=(0.2, 0.1))")
    layers = getattr(head, "layers", None)
    expect_true(isinstance(layers, nn.Sequential), f"{_HEAD_WHERE}.layers",
                "self.layers = nn.Sequential(BatchNorm1d(in_dim), Dropout(p[0]), Linear(in_dim, "
                "hidden), ReLU(), BatchNorm1d(hidden), Dropout(p[1]), Linear(hidden, n_classes))",
                expected="an nn.Sequential", got=type(layers).__name__)
    examine(f"{_HEAD_WHERE}.layers", [_describe(m) for m in layers], holds=[
        Holds("the layers, in order", lambda d, *_: d == want_layers,
              "two blocks of BatchNorm1d -> Dropout -> Linear, a ReLU after the first Linear "
              "only (Howard & Ruder 2018, §3.3)", expected=_text(want_layers),
              got=lambda d, *_: _text(d), bugs=_layer_bugs(want_layers))])
    _load_stored(head, stored, _HEAD_WHERE, "the head's weights live in self.layers, an "
                 "nn.Sequential of the seven layers, and nowhere else")
    x, want, want_train = stored["x"], stored["eval"], stored["train"]
    head.eval()
    run(Case(f"{_HEAD_WHERE}.eval()(x (6, {_IN}))", head, (x,),
             out=Out(dtype=FLOATS, shape=(6, _CLASSES), finite=True), want=want,
             what="logits (the layers holding fixed weights) vs the solution's", atol=1e-5,
             rtol=1e-4,
             bugs=[Bug("the logits went through a ReLU: return self.layers(x), free to be "
                       "negative", like=lambda *_: F.relu(want)),
                   Bug("returned probabilities: return the logits, self.layers(x) (cross_entropy "
                       "applies log-softmax itself)", like=lambda *_: want.softmax(-1))],
             hint="forward returns self.layers(x)"))
    head.train()
    run(Case(f"{_HEAD_WHERE}.train()(x (6, {_IN})) under torch.manual_seed(5)", _seeded(head, 5),
             (x,), want=want_train, atol=1e-5, rtol=1e-4,
             what="logits in train mode vs the solution's under the same seed",
             bugs=[Bug("in train mode the head gave eval mode's logits: run the layers as they "
                       "are (batch statistics and dropout in training)", like=lambda *_: want)],
             hint="forward returns self.layers(x): in train mode BatchNorm uses the batch's "
             "statistics and dropout drops"))


class _Encoder(nn.Module):
    """A stand-in for AWDLSTM made of torch.nn: `.embed` and one nn.LSTM layer, forward(ids,
    hidden=None) -> (out (B, T, E), hidden). It records each call: (chunk length, the state it
    was given, the state it returned)."""

    def __init__(self, vocab: int = 20, emb: int = 4):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb, padding_idx=1)
        self.lstm = nn.LSTM(emb, emb, batch_first=True)
        self.calls: list[tuple[int, Any, Any]] = []

    def forward(self, ids, hidden=None):
        out, state = self.lstm(self.embed(ids), hidden)  # (B, T, E)
        self.calls.append((int(ids.shape[1]), hidden, state))
        return out, state

    def full(self, ids) -> torch.Tensor:
        """One nn.LSTM pass over the whole sequence (not recorded)."""
        return self.lstm(self.embed(ids))[0]

    def chunks_reset(self, ids, bptt: int) -> torch.Tensor:
        """Chunks each started from a zero state (a wrong answer, for the diagnosis)."""
        return torch.cat([self.lstm(self.embed(ids[:, s:s + bptt]))[0]
                          for s in range(0, ids.shape[1], bptt)], dim=1)


_BPTT, _T, _B = 4, 10, 3
_TC_WHERE = (f"TextClassifier(encoder, {_CLASSES}, hidden={_HIDDEN}, p={_P}, bptt={_BPTT}) "
             "(encoder: a stand-in for AWDLSTM made of nn.Embedding + nn.LSTM)")
_LENGTHS = (10, 7, 3)  # the real tokens of the padded rows


def _tc_ids() -> torch.Tensor:
    """(B, T) ids; the first chunk's tokens (2..7) occur nowhere else."""
    g = gen(21)
    first = torch.randint(2, 8, (_B, _BPTT), generator=g)
    return torch.cat([first, torch.randint(8, 20, (_B, _T - _BPTT), generator=g)], dim=1)


def _tc_padded(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ids with padding (id 1) on the right after `_LENGTHS` real tokens, and the mask."""
    padded = ids.clone()
    mask = torch.arange(_T) < torch.tensor(_LENGTHS)[:, None]
    padded[~mask] = 1
    return padded, mask


_TC_LABELS = (0, 2, 1)


def _probe_text_classifier(TextClassifier, concat_pool) -> dict[str, Any]:  # noqa: N803
    encoder = _Encoder()
    model = TextClassifier(encoder, _CLASSES, hidden=_HIDDEN, p=_P, bptt=_BPTT)
    weights = _weights_for(model.state_dict(), 22)
    model.load_state_dict(weights)
    ids = _tc_ids()
    every = torch.ones(_B, _T, dtype=torch.bool)
    padded, mask = _tc_padded(ids)
    start = (_T - 1) // _BPTT * _BPTT  # the last chunk
    model.eval()
    with torch.no_grad():
        out = {"ids": ids, "eval": model(ids, every), "padded_ids": padded, "mask": mask,
               "padded": model(padded, mask), "unmasked": model(padded, every),
               # wrong answers, for the diagnoses: the last chunk pooled alone, and the
               # chunks read each from a zero state
               "last_only": model.head(concat_pool(encoder.full(ids)[:, start:],
                                                   every[:, start:])),
               "reset": model.head(concat_pool(encoder.chunks_reset(ids, _BPTT), every))}
    with torch.enable_grad():
        loss = F.cross_entropy(model(ids, every), torch.tensor(_TC_LABELS))
        named = list(encoder.named_parameters())
        grads = torch.autograd.grad(loss, [p for _, p in named])
    out.update({f"grad.{name}": g for (name, _), g in zip(named, grads)})
    model.train()
    with torch.no_grad():
        out["train"] = _seeded(model, 9)(ids, every)
    return {**out, **_weights_fields(weights)}


def _states(hidden) -> list[torch.Tensor]:
    if torch.is_tensor(hidden):
        return [hidden]
    if isinstance(hidden, (tuple, list)):
        return [t for h in hidden for t in _states(h)]
    return []


def _same_state(a, b) -> bool:
    sa, sb = _states(a), _states(b)
    return bool(sa) and len(sa) == len(sb) and all(x.shape == y.shape and torch.equal(x, y)
                                                   for x, y in zip(sa, sb))


def _chunk_rules(encoder: _Encoder) -> list[Holds]:
    lengths = [min(_BPTT, _T - s) for s in range(0, _T, _BPTT)]
    got_lengths = lambda: [c[0] for c in encoder.calls]  # noqa: E731
    carried = lambda: all(_same_state(encoder.calls[k][1], encoder.calls[k - 1][2])  # noqa: E731
                          for k in range(1, len(encoder.calls)))
    return [
        Holds("the chunks fed to the encoder (their lengths, in order)",
              lambda *_: got_lengths() == lengths,
              "BPT3C feeds the document in chunks of self.bptt tokens: for start in range(0, T, "
              "self.bptt): ids[:, start:start + self.bptt]", expected=str(lengths),
              got=lambda *_: str(got_lengths()),
              bugs=[Bug(f"the encoder was called once on all {_T} tokens: BPT3C reads a document "
                        "in chunks of self.bptt tokens (so that a long one fits in memory)",
                        when=lambda *_: got_lengths() == [_T])]),
        Holds("the state each chunk starts from",
              lambda *_: encoder.calls[0][1] is None and carried(),
              "the first chunk starts from hidden=None, each later one from the state the "
              "encoder returned for the chunk before",
              expected="None, then the previous chunk's final state",
              got=lambda *_: ", ".join("None" if c[1] is None else "a state"
                                       for c in encoder.calls),
              bugs=[Bug("the state was reset for each chunk: start each chunk from the final "
                        "state of the one before (pass on the hidden the encoder returned)",
                        when=lambda *_: all(c[1] is None for c in encoder.calls))]),
    ]


def _detached(encoder: _Encoder) -> bool:
    """A later chunk was given the previous state without its autograd history."""
    return any(c[1] is not None and _states(c[1]) and all(t.grad_fn is None for t in _states(c[1]))
               and any(t.grad_fn is not None for t in _states(encoder.calls[k - 1][2]))
               for k, c in enumerate(encoder.calls) if k > 0)


def _check_text_classifier(TextClassifier) -> None:  # noqa: N803
    stored = expected.case("ulmfit", "text_classifier")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(20)
        encoder = _Encoder()
    model = build(TextClassifier, _TC_WHERE, encoder, _CLASSES, hidden=_HIDDEN, p=_P, bptt=_BPTT,
                  hint="__init__(self, encoder, n_classes, hidden=50, p=(0.2, 0.1), bptt=70)")
    expect_true(isinstance(getattr(model, "head", None), nn.Module), f"{_TC_WHERE}.head",
                "keep the given __init__: self.head = ClassifierHead(3 * E, n_classes, hidden, p)",
                expected="a ClassifierHead", got=type(getattr(model, "head", None)).__name__)
    _load_stored(model, stored, _TC_WHERE, "keep the given __init__: self.encoder, self.bptt "
                 "and self.head = ClassifierHead(3 * E, n_classes, hidden, p), nothing else "
                 "with weights")
    ids = stored["ids"]
    every = torch.ones(_B, _T, dtype=torch.bool)

    def forward(ids, mask):
        encoder.calls.clear()
        return model(ids, mask)

    model.eval()
    where = f"{_TC_WHERE}.eval()(ids ({_B}, {_T}), mask all True)"
    last_only, reset = stored["last_only"], stored["reset"]
    run(Case(where, forward, (ids, every), out=Out(dtype=FLOATS, shape=(_B, _CLASSES), finite=True),
             want=stored["eval"], atol=1e-5, rtol=1e-4,
             what="logits vs the solution's (fixed weights)",
             bugs=[Bug("pooled only the last chunk: concatenate the outputs of all the chunks "
                       "(torch.cat(outs, dim=1)) and pool them all", like=lambda *_: last_only),
                   Bug("the state was reset for each chunk (BPT3C resetting the hidden state per "
                       "chunk): in eval mode the chunked pass must equal one full pass; start "
                       "each chunk from the state the one before returned",
                       like=lambda *_: reset)],
             hint="run the encoder chunk by chunk, carrying the state, concatenate the outputs, "
             "then self.head(concat_pool(outputs, mask))",
             holds=_chunk_rules(encoder)))
    unmasked = stored["unmasked"]
    run(Case(f"{_TC_WHERE}.eval()(ids ({_B}, {_T}) with {', '.join(map(str, _LENGTHS))} real "
             "tokens and padding (id 1) on the right, mask)", forward,
             (stored["padded_ids"], stored["mask"]), want=stored["padded"], atol=1e-5, rtol=1e-4,
             what="logits vs the solution's (the padding left out)",
             bugs=[Bug("the padding was pooled: pass the mask to concat_pool (concat_pool(outputs, "
                       "mask))", like=lambda *_: unmasked)],
             hint="pool with concat_pool(outputs, mask) over the outputs of all the chunks"))
    with torch.enable_grad():
        _check_gradient(model, encoder, ids, every, forward, stored)
    model.train()
    run(Case(f"{_TC_WHERE}.train()(ids ({_B}, {_T}), mask all True) under torch.manual_seed(9)",
             _seeded(forward, 9), (ids, every), want=stored["train"], atol=1e-5, rtol=1e-4,
             what="logits in train mode vs the solution's under the same seed",
             hint="in train mode too: the chunks, concat_pool, then self.head, with no switch to "
             "eval mode and no torch.no_grad inside forward"))


def _check_gradient(model, encoder: _Encoder, ids, mask, forward, stored) -> None:
    """BPT3C keeps the graph across chunks: the gradient equals the solution's, which flows
    through every chunk as one pass does."""
    labels = torch.tensor(_TC_LABELS)
    where = f"{_TC_WHERE}.eval(): F.cross_entropy(model(ids ({_B}, {_T}), mask), labels)"
    for p in (*model.parameters(), *encoder.parameters()):
        p.grad = None
    logits = call(forward, ids, mask, where=f"{where}: the forward")
    loss = F.cross_entropy(logits, labels)
    expect_true(loss.requires_grad, f"{where}: the logits", "the logits must stay in the "
                "autograd graph: no torch.no_grad() or .detach() in forward",
                expected="logits with a grad_fn", got="logits without one")
    call(loss.backward, where=f"{where}.backward()")
    if encoder.embed.weight.grad is None or not bool(encoder.embed.weight.grad.any()):
        hint = ("the encoder got no gradient: don't run it under torch.no_grad() nor detach its "
                "outputs; fine-tuning trains the encoder too")
    elif _detached(encoder):
        hint = ("BPT3C detaching the hidden state between chunks: the gradient then does not "
                "reach the first chunk through the later ones; pass the state on as it is "
                "(detach is for language-model training between batches, not within a document)")
    else:
        hint = "the gradient must flow through every chunk and the pooling, as in one pass"
    rows = torch.unique(ids[:, :_BPTT])
    expect_close(dense_grad(encoder.embed.weight)[rows], stored["grad.embed.weight"][rows],
                 f"{where}: gradient w.r.t. the embedding rows of the first chunk's tokens "
                 f"(ids {rows.tolist()}, which occur only in the first chunk), vs the solution's",
                 hint, atol=1e-5, rtol=1e-4)
    for name, p in encoder.named_parameters():
        expect_close(dense_grad(p), stored[f"grad.{name}"], f"{where}: gradient w.r.t. "
                     f"encoder.{name}, vs the solution's", hint, atol=1e-5, rtol=1e-4)
    for p in (*model.parameters(), *encoder.parameters()):
        p.grad = None


@one_thread()
def check_classifier(ClassifierHead, TextClassifier) -> None:  # noqa: N803
    """The head and the classifier (on an nn.LSTM stand-in encoder) with fixed weights vs the
    solution's outputs: eval, and train with one seed; BPT3C chunks and states, padding,
    gradient."""
    _check_head(ClassifierHead)
    _check_text_classifier(TextClassifier)


PROBES = {
    "stlr": Probe(("stlr",), _probe_stlr),
    "discriminative": Probe(("discriminative_groups",), _probe_discriminative),
    "unfreezing": Probe(("freeze_to", "train_mode"), _probe_unfreezing),
    "concat_pool": Probe(("concat_pool",), _probe_concat_pool),
    "head": Probe(("ClassifierHead",), _probe_head),
    "text_classifier": Probe(("TextClassifier", "concat_pool"), _probe_text_classifier),
}
