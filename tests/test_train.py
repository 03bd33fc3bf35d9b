"""course.train.fit: learning, clipping, checkpoints, and resume giving the very same weights."""

import random
import time

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.runtime import seed_everything
from course.text import iter_minibatches
from course.train import History, ResumeError, count_parameters, evaluate, fit, to_device

X = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] + X[:, 1] > 0).long()


def ce(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def make(seed=0):
    """Model with dropout, AdamW and a step schedule: everything a resume must restore."""
    seed_everything(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.8)
    return model, opt, sched


def loader_batches():
    loader = DataLoader(TensorDataset(X, Y), batch_size=32, shuffle=True)  # 7 batches a pass
    return lambda: iter(loader)


def noisy_batches():
    """Shuffled with the global torch RNG, plus per-batch noise from all three global RNGs
    (as random masking would draw)."""

    def gen():
        for idx in iter_minibatches(len(X), 24):
            noise = torch.rand(len(idx), 8) * 0.1 + np.random.rand() * 0.01 + random.random() * 0.01
            yield X[idx] + noise, Y[idx]

    return gen


class Crash(Exception):
    pass


def crashing(loss_fn, at_call):
    calls = {"n": 0}

    def wrapped(model, batch):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise Crash("simulated Colab disconnect")
        return loss_fn(model, batch)

    return wrapped


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def run(batches, steps=40, **kw):
    model, opt, sched = make()
    kw = {"scheduler": sched, "device": "cpu", "progress": False, "log_every": 5} | kw
    history = fit(model, opt, batches, kw.pop("loss_fn", ce), steps=steps, **kw)
    return model, history


def test_loss_decreases_on_a_toy_task():
    model, history = run(loader_batches(), steps=60, progress=True)
    assert history.steps == list(range(5, 61, 5))
    assert history.losses[-1] < 0.6 * history.losses[0]
    assert history.lrs[0] == pytest.approx(1e-2) and history.lrs[-1] < 1e-2
    acc = evaluate(model, loader_batches(), lambda m, b: m(b[0]).argmax(-1) == b[1], device="cpu")
    assert acc > 0.85
    assert model.training  # fit and evaluate put the mode back


def _one_sgd_step(clip_norm):
    model = nn.Linear(4, 1, bias=False)
    nn.init.zeros_(model.weight)
    x = torch.tensor([[3.0, 4.0, 0.0, 0.0]])  # gradient of the loss below: 100 * x, norm 500

    fit(
        model,
        torch.optim.SGD(model.parameters(), lr=1.0),
        lambda: iter([x]),
        lambda m, b: 100 * m(b).sum(),
        steps=1,
        clip_norm=clip_norm,
        device="cpu",
        progress=False,
    )
    return model.weight.detach().norm().item()


def test_gradient_clipping():
    assert _one_sgd_step(clip_norm=0.5) == pytest.approx(0.5)
    assert _one_sgd_step(clip_norm=None) == pytest.approx(500.0)


def test_sparse_gradients_are_not_clipped():
    seed_everything(0)
    emb = nn.Embedding(10, 4, sparse=True)
    head = nn.Linear(4, 1)
    model = nn.ModuleDict({"emb": emb, "head": head})
    before = emb.weight.detach().clone()
    ids = torch.tensor([1, 2, 3])

    def loss_fn(m, b):
        return 1000 * m["head"](m["emb"](b)).sum()

    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    fit(
        model,
        opt,
        lambda: iter([ids]),
        loss_fn,
        steps=1,
        clip_norm=1.0,
        device="cpu",
        progress=False,
    )
    assert (emb.weight.detach() - before).norm() > 10  # sparse step kept its full size
    assert emb.weight.detach()[0].equal(before[0])  # untouched row


@pytest.mark.parametrize("batches", [loader_batches, noisy_batches], ids=["dataloader", "noisy"])
@pytest.mark.parametrize("crash_at", [12, 23])
def test_resume_after_a_crash_gives_identical_weights(tmp_path, batches, crash_at):
    straight, straight_history = run(batches())

    ckpt = tmp_path / "run.pt"
    with pytest.raises(Crash):  # checkpoints at 9 and 18, dies in the middle of a pass
        run(batches(), checkpoint=ckpt, checkpoint_every=9, loss_fn=crashing(ce, crash_at))
    torch.manual_seed(12345)  # the new session's RNGs are elsewhere
    np.random.seed(7)
    random.seed(3)
    resumed, history = run(batches(), checkpoint=ckpt, checkpoint_every=9)

    assert same_weights(straight, resumed)
    assert history.steps == straight_history.steps
    assert history.losses == straight_history.losses


def test_training_on_from_a_finished_run(tmp_path):
    straight, _ = run(loader_batches(), steps=30)
    ckpt = tmp_path / "more.pt"
    run(loader_batches(), steps=14, checkpoint=ckpt)  # checkpoint at the end only
    longer, history = run(loader_batches(), steps=30, checkpoint=ckpt)
    assert same_weights(straight, longer)
    assert history.steps[-1] == 30


def test_resume_false_starts_afresh(tmp_path, capsys):
    ckpt = tmp_path / "c.pt"
    run(loader_batches(), steps=10, checkpoint=ckpt)
    straight, _ = run(loader_batches(), steps=10)
    fresh, history = run(loader_batches(), steps=10, checkpoint=ckpt, resume=False)
    assert same_weights(straight, fresh)
    assert "resumed" not in capsys.readouterr().out
    _, again = run(loader_batches(), steps=10, checkpoint=ckpt)
    assert "resumed from" in capsys.readouterr().out and again.steps == history.steps


def test_checkpoint_file_is_atomic_and_safe_to_load(tmp_path):
    ckpt = tmp_path / "sub" / "c.pt"
    _, history = run(loader_batches(), steps=12, checkpoint=ckpt, checkpoint_every=5)
    assert [p.name for p in ckpt.parent.iterdir()] == ["c.pt"]  # no temporary file left
    payload = torch.load(ckpt, weights_only=True)
    assert payload["step"] == 12
    assert {"model", "optimizer", "scheduler", "history", "rng"} <= payload.keys()
    assert set(payload["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert History.from_dict(payload["history"]) == history
    assert history.wall_s > 0


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_corrupt_or_foreign_checkpoints_give_one_clear_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x04 this is not a checkpoint")
    with pytest.raises(ResumeError) as info:
        run(loader_batches(), steps=5, checkpoint=bad)
    assert "\n" not in str(info.value) and "resume=False" in str(info.value)

    truncated = tmp_path / "truncated.pt"
    run(loader_batches(), steps=5, checkpoint=truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(ResumeError, match="cannot be read"):
        run(loader_batches(), steps=10, checkpoint=truncated)

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ResumeError, match="not a course.train checkpoint"):
        run(loader_batches(), steps=5, checkpoint=foreign)


def test_checkpoint_of_another_model_is_refused(tmp_path):
    ckpt = tmp_path / "c.pt"
    run(loader_batches(), steps=5, checkpoint=ckpt)
    other = nn.Linear(8, 2)
    with pytest.raises(ResumeError, match="does not fit"):
        fit(
            other,
            torch.optim.SGD(other.parameters(), lr=0.1),
            loader_batches(),
            ce,
            steps=10,
            checkpoint=ckpt,
            device="cpu",
            progress=False,
        )


def test_bad_loss_and_bad_batches_are_reported():
    with pytest.raises(ValueError, match="scalar tensor, got \\(32, 2\\)"):
        run(loader_batches(), steps=3, loss_fn=lambda m, b: m(b[0]))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        run(loader_batches(), steps=3, log_every=1, loss_fn=lambda m, b: ce(m, b) * float("nan"))
    with pytest.raises(ValueError, match="yielded no batch"):
        run(lambda: iter([]), steps=3)
    one_shot = iter([(X[:4], Y[:4])])
    with pytest.raises(ValueError, match="yielded no batch"):
        run(one_shot, steps=3)  # an exhausted iterator cannot be cycled


def test_to_device_and_count_parameters():
    batch = {"x": torch.ones(2), "pair": (torch.zeros(1), [torch.ones(1)]), "n": 3}
    moved = to_device(batch, "cpu")
    assert (
        moved["n"] == 3 and isinstance(moved["pair"], tuple) and isinstance(moved["pair"][1], list)
    )
    tied = nn.ModuleDict({"a": nn.Embedding(10, 4), "b": nn.Linear(4, 10, bias=False)})
    tied["b"].weight = tied["a"].weight  # shared tensors count once
    assert count_parameters(tied) == 40
    tied["a"].weight.requires_grad_(False)
    assert count_parameters(tied) == 0 and count_parameters(tied, trainable_only=False) == 40


def test_history_round_trip():
    h = History([10, 20], [1.5, 1.0], [0.1, 0.05], 2.5)
    assert History.from_dict(h.to_dict()) == h
    assert h.to_dict() == {
        "steps": [10, 20],
        "losses": [1.5, 1.0],
        "lrs": [0.1, 0.05],
        "wall_s": 2.5,
        "evals": [],
    }
    old = {k: v for k, v in h.to_dict().items() if k != "evals"}  # a checkpoint from before `evals`
    assert History.from_dict(old) == h


def test_eval_fn_runs_every_n_steps_in_eval_mode_and_is_not_training_time(monkeypatch):
    clock = [0.0]  # a fake clock: each reading advances 1 ms, an evaluation takes 100 s

    def tick():
        clock[0] += 0.001
        return clock[0]

    monkeypatch.setattr(time, "perf_counter", tick)
    modes = []

    def slow_eval(model):
        modes.append(model.training)
        clock[0] += 100.0
        return len(modes)

    model, history = run(loader_batches(), steps=25, eval_fn=slow_eval, eval_every=10)
    assert [(s, v) for s, _, v in history.evals] == [(10, 1), (20, 2), (25, 3)]
    assert modes == [False, False, False] and model.training
    walls = [w for _, w, _ in history.evals]
    assert walls == sorted(walls) and 0 < walls[-1] <= history.wall_s < 100
