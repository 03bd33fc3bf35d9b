"""fit and `course pretrain` under torchrun: 2 processes on the CPU (gloo), a few seconds each.

Each test starts `python -m torch.distributed.run --nproc_per_node=2 --standalone` on this
file; its `__main__` part (below the tests) is what every rank runs. Each rank writes what it
saw (its final weights, the batches it trained on, its logged losses, what it saved and
printed) to `rank<r>.pt` in a temp folder, and the test compares the ranks.
"""

import contextlib
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
STEPS, HALF = 16, 8  # 9 batches a pass: 4 steps of 2 batches, the 9th batch dropped
CRASH = HALF + 2  # the interrupted run dies in step 10, after its checkpoint of step 8


def torchrun(*args, out: Path, module: bool = False, timeout: int = 180) -> str:
    """Run this file (or `-m args[0]`) on 2 ranks; a failing child fails the test with its stderr."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "COURSE_DEVICE": "cpu", "COURSE_SCALE": "tiny",
                        "PYTHONPATH": str(ROOT)}
    target = ["-m", *args] if module else [__file__, *args]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           *target]
    try:
        done = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"torchrun {' '.join(args)}: no end after {timeout} s (a rank waiting for the "
                    f"other?)\n--- stderr ---\n{(err.stderr or b'')[-4000:]!s}")
    if done.returncode != 0:
        pytest.fail(f"torchrun {' '.join(args)} exited {done.returncode}\n"
                    f"--- stderr ---\n{done.stderr[-6000:]}")
    return done.stdout


def ranks(out: Path, tag: str) -> list[dict]:
    return [torch.load(out / f"{tag}.rank{r}.pt", weights_only=False) for r in range(2)]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def fit_runs(tmp_path_factory):
    """Launch 1: a run of STEPS steps, and one that dies in step CRASH (its last checkpoint:
    HALF); launch 2: the same seed again, and the dead run resumed from its checkpoint."""
    out = tmp_path_factory.mktemp("ddp")
    torchrun("fit", str(out), out=out)
    torchrun("resume", str(out), out=out)
    return out


def test_both_ranks_end_with_the_same_weights_and_losses(fit_runs):
    r0, r1 = ranks(fit_runs, "full")
    assert same(r0["weights"], r1["weights"]), "DDP should keep the two ranks' weights identical"
    assert r0["history"]["losses"] == r1["history"]["losses"], "the logged loss is the ranks' mean"
    # logged loss = mean over the window's steps of the mean over the ranks of each rank's loss
    local = (torch.tensor(r0["local"]) + torch.tensor(r1["local"])) / 2  # (STEPS,)
    want = torch.stack([w.mean() for w in local.split(3)])  # log_every=3
    assert torch.allclose(torch.tensor(r0["history"]["losses"]), want, atol=1e-6), (
        r0["history"]["losses"], want.tolist())


def test_each_rank_trains_on_its_own_shard_and_the_pass_tail_is_dropped(fit_runs):
    r0, r1 = ranks(fit_runs, "full")
    assert len(r0["seen"]) == len(r1["seen"]) == STEPS
    for (p0, k0, _), (p1, k1, _) in zip(r0["seen"], r1["seen"]):
        assert p0 == p1 and (k0, k1) in {(0, 1), (2, 3), (4, 5), (6, 7)}, (r0["seen"], r1["seen"])
    assert {p for p, _, _ in r0["seen"]} == {0, 1, 2, 3}, "4 steps a pass: 16 steps take 4 passes"
    for p in range(4):  # both ranks cut the same shuffle: their batches of a pass never overlap
        rows = [i for where in r0["seen"] + r1["seen"] if where[0] == p for i in where[2]]
        assert len(rows) == len(set(rows)) == 8 * 24, f"pass {p}: the ranks' streams differ"


def test_only_rank_0_writes_the_checkpoint_and_prints(fit_runs):
    r0, r1 = ranks(fit_runs, "full")
    assert r1["saves"] == [] and r1["printed"] == ""
    assert [Path(p).name for p in r0["saves"]] == ["full.ckpt"] * (STEPS // 4)  # checkpoint_every=4
    payload = torch.load(fit_runs / "full.ckpt", weights_only=True)
    assert payload["world_size"] == 2 and len(payload["ranks"]) == 2
    assert same(payload["model"], r0["weights"])
    resumed0, resumed1 = ranks(fit_runs, "resumed")
    assert "train: resumed from" in resumed0["printed"] and resumed1["printed"] == ""


def test_the_same_seed_gives_the_same_weights_in_a_new_launch(fit_runs):
    first, again = ranks(fit_runs, "full")[0], ranks(fit_runs, "again")[0]
    assert same(first["weights"], again["weights"])
    assert first["history"]["losses"] == again["history"]["losses"]


def test_resume_after_a_crash_gives_the_uninterrupted_weights(fit_runs):
    full, half, resumed = (ranks(fit_runs, t) for t in ("full", "half", "resumed"))
    assert len(half[0]["seen"]) == CRASH - 1 and not same(half[0]["weights"], full[0]["weights"])
    for r in range(2):
        assert same(resumed[r]["weights"], full[r]["weights"]), f"rank {r} after resume"
        batches = [where[1:] for where in resumed[r]["seen"]]  # (index in the pass, rows)
        assert batches == [where[1:] for where in full[r]["seen"][HALF:]], f"rank {r} after resume"
    assert resumed[0]["history"]["losses"] == full[0]["history"]["losses"]


def test_pretrain_under_torchrun_writes_once_from_rank_0(tmp_path):
    shipped = {p.name: p.stat().st_mtime_ns for p in (ROOT / "course" / "checkpoints").iterdir()}
    folder = tmp_path / "ckpt"
    torchrun("pretrain", str(tmp_path), str(folder), out=tmp_path)
    saved = [json.loads((tmp_path / f"pretrain.rank{r}.json").read_text()) for r in range(2)]
    assert saved[0]["saves"] == [str(folder / "elmo.safetensors")] and saved[1]["saves"] == []
    assert saved[0]["printed"].count('"sha256"') == 1 and saved[1]["printed"] == ""
    assert sorted(p.name for p in folder.iterdir()) == ["elmo.json", "elmo.safetensors"]
    from course import checkpoints

    state, manifest = checkpoints.load("elmo", folder=folder)  # the sha256 checks out
    assert manifest["world_size"] == 2, manifest["world_size"]
    assert manifest["command"].startswith("torchrun --nnodes=1 --nproc_per_node=2 course pretrain elmo")
    assert manifest["steps"] > 0 and state
    assert saved[1]["manifest_sha256"] == manifest["sha256"], "every rank returns the manifest"
    after = {p.name: p.stat().st_mtime_ns for p in (ROOT / "course" / "checkpoints").iterdir()}
    assert after == shipped, "the shipped checkpoints must not be touched"


def test_awd_lstm_is_refused_under_torchrun_in_one_line(monkeypatch):
    from course import checkpoints

    monkeypatch.setenv("WORLD_SIZE", "2")  # refused before any process group is needed
    with pytest.raises(checkpoints.CheckpointError, match="run it without torchrun"):
        checkpoints.pretrain("awd_lstm", 0.01)


def test_a_failing_rank_fails_the_test_with_its_stderr(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="rank 1 gives up"):
        torchrun("fail", str(tmp_path), out=tmp_path, timeout=60)


# ---------------------------------------------------------------- what each rank runs

X = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] + X[:, 1] > 0).long()


def _batches():
    """Shuffled by the global torch RNG, with per-batch noise from all three global RNGs (as
    random masking draws); each batch carries (pass, index in the pass, its rows)."""
    from course.text import iter_minibatches

    passes = {"n": -1}

    def gen():
        passes["n"] += 1
        for k, idx in enumerate(iter_minibatches(len(X), 24)):  # 9 batches: 8 of 24, one of 8
            noise = torch.rand(len(idx), 8) * 0.1 + np.random.rand() * 0.01 + random.random() * 0.01
            yield X[idx] + noise, Y[idx], (passes["n"], k, idx.tolist())

    return gen


class Crash(Exception):
    pass


def _run(tag: str, out: Path, steps: int, seed: int = 0, crash_at: int = 0) -> None:
    """fit a small model with dropout, AdamW and a schedule; save what this rank saw. With
    crash_at, both ranks die in that step (a lost machine, a Colab disconnect)."""
    from course import distributed, train
    from course.runtime import seed_everything

    seed_everything(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.8)
    seen, local, saves = [], [], []

    def loss_fn(m, batch):
        x, y, where = batch
        if len(seen) + 1 == crash_at:
            raise Crash(f"simulated crash in step {crash_at}")
        seen.append(where)
        torch.rand(1 + 5 * distributed.rank())  # the ranks use their RNGs differently (as dropout
        np.random.rand(1 + 5 * distributed.rank())  # on batches of other shapes does)
        loss = nn.functional.cross_entropy(m(x), y)
        local.append(float(loss.detach()))
        return loss

    real_save = train._save
    train._save = lambda path, payload: (saves.append(str(path)), real_save(path, payload))
    ckpt = out / f"{'half' if tag == 'resumed' else tag}.ckpt"  # resumed: goes on from half
    history = train.History()
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            history = train.fit(model, opt, _batches(), loss_fn, steps=steps, scheduler=sched,
                                device="cpu", checkpoint=ckpt, checkpoint_every=4, log_every=3,
                                progress=False)
    except Crash:
        assert crash_at, "no crash was asked for"
    finally:
        train._save = real_save
    torch.save({"weights": model.state_dict(), "history": history.to_dict(), "seen": seen,
                "local": local, "saves": saves, "printed": printed.getvalue()},
               out / f"{tag}.rank{distributed.rank()}.pt")


def _pretrain(out: Path, folder: Path) -> None:
    from course import checkpoints, cli, distributed

    saves, real = [], checkpoints.save_file
    checkpoints.save_file = lambda state, path: (saves.append(path), real(state, path))
    seen = {}
    real_pretrain = checkpoints.pretrain
    checkpoints.pretrain = lambda *a, **kw: seen.setdefault("manifest", real_pretrain(*a, **kw))
    args = ["pretrain", "elmo", "--minutes", "0.02", "--out", str(folder)]
    sys.argv = [cli.__file__, *args]  # as `torchrun -m course.cli ...` has it (the manifest's command)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = cli.main(args)
    assert code == 0, code
    (out / f"pretrain.rank{distributed.rank()}.json").write_text(json.dumps({
        "saves": saves, "printed": printed.getvalue(), "manifest_sha256": seen["manifest"]["sha256"]}))


if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    if mode == "fit":
        _run("full", out, STEPS)
        _run("half", out, STEPS, crash_at=CRASH)  # dies after its checkpoint of step HALF
    elif mode == "resume":
        _run("again", out, STEPS)
        _run("resumed", out, STEPS, seed=1)  # another init: everything must come from the checkpoint
    elif mode == "pretrain":
        _pretrain(out, Path(sys.argv[3]))
    elif mode == "fail":
        from course import distributed

        distributed.setup()
        if distributed.rank() == 1:
            raise SystemExit("rank 1 gives up")
        distributed.barrier()
