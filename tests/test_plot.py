import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course import plot  # noqa: E402
from course.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_loss_curves_from_histories_and_lists():
    h = History(steps=[10, 20, 30], losses=[2.0, 1.5, 1.2], lrs=[0.1] * 3, wall_s=1.0)
    fig = plot.loss_curves({"sgd": h, "adam": [2.0, 1.0, 0.5, 0.4]}, logy=True)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["sgd", "adam"]
    assert list(ax.lines[0].get_xdata()) == [10, 20, 30]
    assert list(ax.lines[1].get_xdata()) == [1, 2, 3, 4]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "step"


def test_loss_curves_into_a_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    out = plot.loss_curves({"run": torch.tensor([3.0, 2.0])}, ax=right)
    assert out is fig and len(right.lines) == 1 and not left.lines


def test_mean_std_lines_draw_a_line_and_a_band_per_series():
    x = [10, 100, 1000]
    ys = {
        "random init": np.array([[0.5, 0.6, 0.7], [0.52, 0.62, 0.74]]),
        "word2vec": torch.rand(3, 3),
    }
    fig = plot.mean_std_lines(x, ys, "labelled examples", "accuracy", title="t", logx=True)
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    assert np.allclose(ax.lines[0].get_ydata(), [0.51, 0.61, 0.72])
    assert ax.get_xscale() == "log" and ax.get_title() == "t"


def test_mean_std_lines_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"expected shape \(seeds, 3\)"):
        plot.mean_std_lines([1, 2, 3], {"a": np.zeros((2, 4))}, "x", "y")


def test_bar_compare():
    fig = plot.bar_compare(
        ["course", "gensim"], [0.41, 0.43], errors=[0.01, 0.02], ylabel="Spearman"
    )
    (ax,) = fig.axes
    assert len(ax.patches) == 2
    assert [t.get_text() for t in ax.texts] == ["0.41", "0.43"]
    assert ax.get_ylabel() == "Spearman"


def test_pca_keeps_a_planar_configuration():
    gen = torch.Generator().manual_seed(0)
    plane = torch.randn(20, 2, generator=gen) * torch.tensor([5.0, 1.0])
    basis, _ = torch.linalg.qr(torch.randn(6, 2, generator=gen))
    xy = plot.pca_2d(plane @ basis.T + 3.0)  # a rotated, shifted copy in 6-D
    dist = torch.cdist(torch.tensor(xy), torch.tensor(xy))
    assert torch.allclose(dist.float(), torch.cdist(plane, plane), atol=1e-4)


def test_embedding_scatter_labels_every_point():
    words = ["king", "queen", "man", "woman", "paris"]
    fig = plot.embedding_scatter(torch.randn(5, 16), words, title="words")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.texts] == words
    assert len(ax.collections[0].get_offsets()) == 5
    with pytest.raises(ValueError, match="5 vectors but 2 labels"):
        plot.embedding_scatter(torch.randn(5, 16), words[:2])


def test_attention_maps_one_panel_per_head_labelled_with_tokens():
    w = torch.softmax(torch.randn(3, 4, 4), -1)
    fig = plot.attention_maps(w, ["a", "b", "c", "d"], ncols=2, suptitle="layer 0")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 3 and len(fig.axes) == 4  # 2 x 2 grid, the fourth panel blank
    assert [t.get_text() for t in shown[0].get_xticklabels()] == ["a", "b", "c", "d"]
    assert np.allclose(shown[2].images[0].get_array(), w[2].numpy())
    assert [ax.get_title() for ax in shown] == ["head 0", "head 1", "head 2"]


def test_attention_maps_refuse_weights_that_do_not_match_the_tokens():
    with pytest.raises(ValueError, match="3 tokens"):
        plot.attention_maps(torch.ones(2, 4, 4), ["a", "b", "c"])
