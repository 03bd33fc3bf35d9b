"""Plotting helpers for the chapters: loss curves, mean ± std over seeds, bar comparisons,
2-D embedding maps, attention heatmaps. Each returns its matplotlib Figure and never calls `plt.show()`, so they
work headless (Agg) in tests and in the book build.

In a notebook a figure drawn with pyplot shows at the end of the cell; end the line with
`;` or assign it (`fig = loss_curves(...)`) to avoid showing it a second time. Pass `ax=` to
draw into a panel of your own figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def _axes(ax: Axes | None, size: tuple[float, float] = (6.0, 4.0)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax


def _numpy(a: Any) -> np.ndarray:
    """numpy view of a list, array or (CPU/GPU, grad or not) torch tensor."""
    if hasattr(a, "detach"):
        a = a.detach().float().cpu().numpy()
    return np.asarray(a, dtype=float)


def loss_curves(
    histories: Mapping[str, Any],
    ax: Axes | None = None,
    xlabel: str = "step",
    *,
    ylabel: str = "loss",
    title: str | None = None,
    logy: bool = False,
) -> Figure:
    """One line per run: a `course.train.History` (its logged steps and losses) or a plain
    list of losses (plotted against 1, 2, ...)."""
    fig, ax = _axes(ax)
    for name, h in histories.items():
        if hasattr(h, "losses"):
            x, y = h.steps, h.losses
        else:
            y = _numpy(h)
            x = np.arange(1, len(y) + 1)
        ax.plot(x, y, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    if len(histories) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return fig


def mean_std_lines(
    x: Sequence[float],
    ys: Mapping[str, Any],
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    logx: bool = False,
    *,
    ax: Axes | None = None,
) -> Figure:
    """For results over several seeds, e.g. accuracy vs number of labels: each entry of `ys`
    is an array (seeds, len(x)); draws its mean as a line with markers and a ±1 std band
    (sample std; no band with a single seed)."""
    fig, ax = _axes(ax)
    x = _numpy(x)
    for name, values in ys.items():
        v = np.atleast_2d(_numpy(values))
        if v.shape[1] != len(x):
            raise ValueError(f"{name}: expected shape (seeds, {len(x)}), got {v.shape}")
        mean = v.mean(axis=0)
        std = v.std(axis=0, ddof=1) if v.shape[0] > 1 else np.zeros_like(mean)
        (line,) = ax.plot(x, mean, marker="o", label=f"{name} (n={v.shape[0]})")
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logx:
        ax.set_xscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def bar_compare(
    labels: Sequence[str],
    values: Sequence[float],
    errors: Sequence[float] | None = None,
    ylabel: str = "",
    *,
    title: str | None = None,
    ax: Axes | None = None,
    fmt: str = "{:.3g}",
) -> Figure:
    """One bar per label, with its value written on top and optional error bars."""
    fig, ax = _axes(ax, (max(4.0, 1.2 * len(labels) + 1), 4.0))
    values = _numpy(values)
    errs = None if errors is None else _numpy(errors)
    bars = ax.bar(list(labels), values, yerr=errs, capsize=4 if errs is not None else 0)
    ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=2)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(alpha=0.3, axis="y")
    return fig


def pca_2d(vectors: Any) -> np.ndarray:
    """(N, D) → (N, 2): the rows projected on their first two principal components."""
    v = _numpy(vectors)
    v = v - v.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(v, full_matrices=False)
    return v @ vt[:2].T


def embedding_scatter(
    vectors: Any,
    labels: Sequence[str],
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Word vectors (N, D) on their first two principal components, each point labelled."""
    if len(labels) != len(vectors):
        raise ValueError(f"{len(vectors)} vectors but {len(labels)} labels")
    fig, ax = _axes(ax, (6.0, 6.0))
    xy = pca_2d(vectors)
    ax.scatter(xy[:, 0], xy[:, 1], s=12)
    for (px, py), label in zip(xy, labels):
        ax.annotate(str(label), (px, py), xytext=(3, 3), textcoords="offset points", fontsize=9)
    ax.set(xlabel="PC 1", ylabel="PC 2", title=title)
    ax.grid(alpha=0.3)
    return fig


def attention_maps(
    weights: Any,
    tokens: Sequence[str],
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    suptitle: str | None = None,
) -> Figure:
    """Heatmaps of attention weights (H, T, T) or (T, T): one panel per head, queries as
    rows and keys as columns, each labelled with `tokens`; darker = more weight."""
    w = _numpy(weights)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[1] != w.shape[2] or w.shape[1] != len(tokens):
        raise ValueError(f"weights must be (heads, T, T) with T = {len(tokens)} tokens, got {w.shape}")
    heads = w.shape[0]
    ncols = max(1, min(ncols, heads))
    nrows = -(-heads // ncols)
    side = 0.22 * len(tokens) + 1.5
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, side * nrows),
                             layout="constrained", squeeze=False)
    for h, ax in enumerate(axes.flat):
        if h >= heads:
            ax.axis("off")
            continue
        ax.imshow(w[h], cmap="Blues", vmin=0.0, vmax=max(float(w[h].max()), 1e-9))
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
        ax.set_title(titles[h] if titles else f"head {h}", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
