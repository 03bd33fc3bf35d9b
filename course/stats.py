"""How every chapter compares two arms: the mean and spread over seeds, and a verdict that
names a winner only when the gap is larger than the noise.

Two sources of noise sit under a score measured on a fixed test set:
- the seeds (which examples were labelled, initialisation, batch order): their standard
  deviation is measured by running each arm with several seeds;
- the test set itself: `n` test examples estimate an accuracy `p` with a standard error
  sqrt(p (1 - p) / n). Every seed reads the same test set, so averaging seeds does not
  shrink it.

`verdict(a, b, n_test=...)` says "better" or "worse" only when the gap between the means is
larger than the sum of the seeds' standard deviations *and* larger than two standard errors
of the difference of two test-set accuracies; otherwise "no clear difference". It is a
reading rule, deliberately conservative, not a significance test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

SAME = "no clear difference"


class Summary(NamedTuple):
    """An arm known only as mean ± std over its seeds (another chapter's results record):
    every function here takes it wherever it takes per-seed scores."""

    mean: float
    std: float


def mean_std(values: Sequence[float] | np.ndarray | Summary) -> tuple[float, float]:
    """(mean, sample standard deviation) of per-seed scores; the std of one value is 0."""
    if isinstance(values, Summary):
        return float(values.mean), float(values.std)
    a = np.asarray(values, dtype=float).ravel()
    if a.size == 0:
        raise ValueError("mean_std of no values")
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def fmt(values: Sequence[float] | np.ndarray, digits: int = 3) -> str:
    """"0.612 ± 0.010": how the chapters print a score over seeds."""
    m, s = mean_std(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def test_se(p: float, n_test: int) -> float:
    """Standard error of an accuracy p measured on n_test examples (binomial)."""
    p = min(max(float(p), 0.0), 1.0)
    return math.sqrt(p * (1 - p) / n_test)


def noise(a, b, *, n_test: int | None = None) -> float:
    """The gap two arms must exceed before `verdict` names a winner."""
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    bar = sa + sb
    if n_test:
        bar = max(bar, 2 * math.hypot(test_se(ma, n_test), test_se(mb, n_test)))
    return bar


def verdict(a, b, *, n_test: int | None = None, higher_is_better: bool = True) -> str:
    """"better" / "worse" (a against b) when the gap between the means is larger than the
    noise (seeds, and with n_test the test set), else "no clear difference".

    a, b: per-seed scores. n_test: the test-set size when the scores are accuracies
    (leave it out for F1 or perplexity, where the seeds' spread is the only bar).
    higher_is_better: False for losses and perplexities."""
    gap = mean_std(a)[0] - mean_std(b)[0]
    if abs(gap) <= noise(a, b, n_test=n_test):
        return SAME
    return "better" if (gap > 0) == higher_is_better else "worse"


def compare(name_a: str, a, name_b: str, b, *, n_test: int | None = None, digits: int = 3,
            higher_is_better: bool = True) -> str:
    """One line: "ULMFiT 0.612 ± 0.010 against from scratch 0.540 ± 0.020: better (+0.072;
    noise 0.030)"."""
    v = verdict(a, b, n_test=n_test, higher_is_better=higher_is_better)
    gap = mean_std(a)[0] - mean_std(b)[0]
    return (f"{name_a} {fmt(a, digits)} against {name_b} {fmt(b, digits)}: {v} "
            f"({gap:+.{digits}f}; noise {noise(a, b, n_test=n_test):.{digits}f})")


def chance_bar(labels: Sequence[int] | np.ndarray) -> tuple[float, float]:
    """(majority-class accuracy, the bar above which a classifier has learned something):
    majority + 2 binomial standard errors on this test set."""
    y = np.asarray(labels).ravel()
    if y.size == 0:
        raise ValueError("chance_bar of an empty test set")
    _, counts = np.unique(y, return_counts=True)
    majority = float(counts.max() / y.size)
    return majority, majority + 2 * test_se(majority, y.size)
