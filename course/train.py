"""One training loop for every chapter: `fit(model, optimizer, batches, loss_fn, steps=...)`.

What it does for you, so that chapters show only the model and the loss:
- moves batches to the device (`to_device`), bf16 autocast (`runtime.autocast`: on CUDA,
  and on a CPU in a smoke run of `full`), gradient clipping;
- a tqdm progress bar with the running loss, and a `History` of logged losses and LRs;
- checkpoints (model, optimizer, scheduler, step, history, RNG states) written atomically,
  and resume after an interruption (a Colab disconnect) that ends with the *same* weights as
  an uninterrupted run;
- the same call under `torchrun --nproc_per_node=N` trains data-parallel (see below).

How exact resume works: the batch iterator cannot be saved, so the checkpoint keeps the RNG
states from the moment the current pass over the data began and how many batches of it were
used. Resuming restores those states, calls `batches()` again, skips the used batches (same
shuffle, since it is drawn from the same RNG state), and then restores the RNG states of the
checkpoint itself, so dropout and everything after continue exactly. This is exact for
iterators that draw their randomness from the global RNGs when a pass starts (DataLoader
shuffling, `course.text.iter_minibatches`) or per batch without keeping it (random masking);
an iterator that privately reseeds itself in the middle of a pass is only replayed roughly.

Under torchrun (N processes, `course.distributed`): the model is wrapped in
DistributedDataParallel, which averages the gradients, so every rank keeps the same weights.
Every rank makes the same batch stream (same seed) and rank r trains on its batches r, r+N,
r+2N, ...: a step sees N batches, and a pass's last (< N) batches are dropped, so all ranks do
the same number of steps. The stream draws from its own copy of the global RNGs, the same on
every rank, so dropout cannot make the ranks' streams drift apart. The logged loss is the
mean over the ranks; rank 0 alone shows the progress bar, prints and writes the checkpoint
(which keeps every rank's RNG states, so a resume with the same N is exact).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from course import distributed
from course.errors import CourseError

CHECKPOINT_FORMAT = 1


class ResumeError(CourseError):
    """A training checkpoint that cannot be resumed from; the message says what to do.

    (Not `course.checkpoints.CheckpointError`, which is about the shipped pretrained weights.)"""


@dataclass
class History:
    """Losses logged by `fit`: `losses[i]` is the mean loss of the steps up to `steps[i]`
    since the previous entry; `lrs[i]` the learning rate (first param group) at that step;
    `wall_s` the training time in seconds, summed over resumed runs. `evals` holds
    `(step, training seconds so far, value)` for each call of fit's `eval_fn` (evaluation
    time is not counted as training time)."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    evals: list[tuple[int, float, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        evals = [tuple(e) for e in d.get("evals", [])]  # absent in checkpoints of format 1
        return cls(list(d["steps"]), list(d["losses"]), list(d["lrs"]), float(d["wall_s"]), evals)


def to_device(batch: Any, device: torch.device | str) -> Any:
    """`batch` with every tensor moved to `device`, through tuples, lists and dicts."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def count_parameters(model: torch.nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters; shared tensors are counted once."""
    params = {id(p): p for p in model.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in params.values())


# ---------------------------------------------------------------- RNG states


def _rng_state(cuda: bool = True) -> dict[str, Any]:
    """Python, numpy, torch (and CUDA, unless cuda=False) global RNG states, in types
    torch.load(weights_only) accepts (the numpy key array becomes a tensor)."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "pos": int(np_state["state"]["pos"]),
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": [],
    }
    if cuda and torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    if (
        state["cuda"]
        and torch.cuda.is_available()
        and len(state["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# ---------------------------------------------------------------- batches, replayable


class _Passes:
    """Endless batches: calls `batches()` again whenever a pass ends, remembering the RNG
    state at the start of the current pass and how many of its batches were used."""

    def __init__(self, batches: Callable[[], Iterable] | Iterable):
        self.make = batches if callable(batches) else lambda: iter(batches)
        self.it: Iterator | None = None
        self.pass_rng: dict[str, Any] = {}
        self.used = 0

    def _start(self) -> None:
        self.pass_rng, self.used = _rng_state(), 0
        self.it = iter(self.make())

    def __next__(self) -> Any:
        for _ in range(2):
            if self.it is None:
                self._start()
            try:
                batch = next(self.it)
            except StopIteration:
                self.it = None
                continue
            self.used += 1
            return batch
        raise ValueError("batches() yielded no batch: pass a function that returns a new iterator")

    def replay(self, pass_rng: dict[str, Any], used: int) -> None:
        """Re-create the iterator of an interrupted pass and skip its first `used` batches."""
        _set_rng_state(pass_rng)
        self.pass_rng, self.used, self.it = pass_rng, 0, iter(self.make())
        for _ in range(used):
            try:
                next(self.it)
            except StopIteration:  # fewer batches than before: start a new pass next time
                self.it = None
                return
            self.used += 1

    def group(self, n: int) -> list[Any]:
        """`n` consecutive batches of one pass; a pass's last < n batches are dropped."""
        out: list[Any] = []
        fresh = 0  # passes begun while collecting
        while len(out) < n:
            batch = next(self)
            if self.used == 1:  # the first batch of a new pass: the old one's tail is dropped
                fresh += 1
                if fresh > 1:
                    raise ValueError(f"batches() yields {len(out)} batches a pass, fewer than the "
                                     f"{n} processes: each process needs one per step")
                out = []
            out.append(batch)
        return out


class _Shard:
    """Rank `rank` of `n`: batches rank, rank+n, rank+2n, ... of the stream all ranks make
    alike. The stream runs on its own RNG states `rng` (equal on every rank), swapped in
    around each draw, so the rank's own RNG use (dropout) never changes the stream."""

    def __init__(self, passes: _Passes, rank: int, n: int, rng: dict[str, Any]):
        self.passes, self.rank, self.n, self.rng = passes, rank, n, rng

    def __next__(self) -> Any:
        own = _rng_state(cuda=False)
        _set_rng_state(self.rng)
        try:
            group = self.passes.group(self.n)
        finally:
            self.rng = _rng_state(cuda=False)
            _set_rng_state(own)
        return group[self.rank]


class _LossOf(torch.nn.Module):
    """`loss_fn(model, batch)` as a Module's forward: DistributedDataParallel hooks the forward
    of the Module it wraps, and a loss_fn may call any method of the model, not only forward."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor]):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: Any) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


# ---------------------------------------------------------------- checkpoints


def _save(path: Path, payload: dict[str, Any]) -> None:
    """Write then rename, so an interruption never leaves half a checkpoint behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _load(path: Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated, not a checkpoint, pickle refused: same advice
        first = (str(err).strip().splitlines() or [""])[0][:160]
        raise ResumeError(
            f"checkpoint {path} cannot be read ({type(err).__name__}: {first}); "
            "delete it or pass resume=False to start afresh"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ResumeError(
            f"{path} is not a course.train checkpoint (format {CHECKPOINT_FORMAT}); "
            "delete it or pass resume=False to start afresh"
        )
    return payload


def _restore(path: Path, payload: dict[str, Any], model, optimizer, scheduler) -> None:
    try:
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and payload["scheduler"] is not None:
            scheduler.load_state_dict(payload["scheduler"])
    except (RuntimeError, ValueError, KeyError) as err:
        first = (str(err).strip().splitlines() or [""])[0][:160]
        raise ResumeError(
            f"checkpoint {path} does not fit this model/optimizer ({first}); "
            "delete it, use another path, or pass resume=False"
        ) from None


# ---------------------------------------------------------------- the loop


def _clip(model: torch.nn.Module, max_norm: float) -> None:
    """Clip the dense gradients' global norm. Sparse gradients (nn.Embedding(sparse=True),
    word2vec) are left alone: clip_grad_norm_ rejects them, and they go with plain SGD or
    SparseAdam, where clipping is not the custom."""
    dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
    if dense:
        torch.nn.utils.clip_grad_norm_(dense, max_norm)


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Callable[[], Iterable] | Iterable,
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    *,
    steps: int,
    scheduler: Any = None,
    clip_norm: float | None = 1.0,
    device: torch.device | str | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = True,
    log_every: int = 10,
    desc: str = "train",
    progress: bool = True,
    bf16: bool | None = None,
    eval_fn: Callable[[torch.nn.Module], Any] | None = None,
    eval_every: int = 0,
) -> History:
    """Train `model` for `steps` optimizer steps in total and return its `History`.

    batches: a zero-argument function returning an iterator of batches; it is called again
        whenever a pass ends (a re-iterable such as a DataLoader also works).
    loss_fn(model, batch) -> scalar loss tensor; the batch is already on `device`.
    steps: the target step count, counting steps done before a resume.
    scheduler: stepped after every optimizer step. clip_norm: max global norm of the dense
        gradients (None: no clipping). device: default `course.runtime.device()`.
    checkpoint: a file path; saved every `checkpoint_every` steps (0: only at the end) and at
        the end. With resume=True an existing checkpoint there is loaded and training goes on
        from its step, giving the same weights as an uninterrupted run.
        Under torchrun every rank loads it (keep it on a folder all machines share).
    log_every: steps per History entry / progress-bar update (one device sync each).
    bf16: autocast to bfloat16; None follows `runtime.use_bf16` (on CUDA when supported, on a
        CPU in a smoke run of `full`); True or False forces it on or off.
    eval_fn(model) -> value: called in eval mode every `eval_every` steps and at the last
        step; `History.evals` keeps (step, training seconds so far, value), so curves can be
        drawn against steps or wall time. Under torchrun every rank evaluates (the weights are
        the same on each).
    """
    from course import runtime

    device = torch.device(device) if device is not None else runtime.device()
    if bf16 is None:
        amp = runtime.autocast(device)
    else:
        amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(bf16))
    model.to(device)
    history = History()
    passes = _Passes(batches)
    step, window_n = 0, 0
    running = torch.zeros((), device=device)  # loss summed on the device: no sync per step
    path = Path(checkpoint) if checkpoint is not None else None
    ddp = distributed.setup()  # under torchrun with N > 1 processes
    n, rank, main = distributed.world_size(), distributed.rank(), distributed.is_main()
    # the batch stream's RNG states: rank 0's, so that every rank makes the same stream
    stream_rng = distributed.agree(_rng_state(cuda=False)) if ddp else {}

    if path is not None and resume and distributed.agree(path.exists()):
        if not path.exists():
            raise ResumeError(f"rank 0 resumes from {path} but rank {rank} does not see it: "
                              "under torchrun on several machines, keep checkpoints on a shared folder")
        payload = _load(path)
        _restore(path, payload, model, optimizer, scheduler)
        step = int(payload["step"])
        history = History.from_dict(payload["history"])
        running, window_n = payload["window"][0].to(device), int(payload["window"][1])
        if payload["pass_rng"]:
            passes.replay(payload["pass_rng"], int(payload["pass_used"]))
        saved_n = int(payload.get("world_size", 1))
        if ddp:  # the stream goes on from the checkpoint's stream RNG, each rank from its own RNG
            stream_rng = payload.get("stream_rng") or {**payload["rng"], "cuda": []}
        if saved_n == n and "ranks" in payload:  # this rank's own loss sum and RNG states
            running = payload["ranks"][rank]["window"].to(device)
            _set_rng_state(payload["ranks"][rank]["rng"])
        else:
            _set_rng_state(payload["rng"])
        if main:
            print(f"train: resumed from {path} at step {step:,}/{steps:,}")
            if saved_n != n:
                print(f"train: the checkpoint was written by {saved_n} process(es), this run has {n}: "
                      "training goes on, but not exactly as the original run would have")

    def save() -> None:
        # what differs from rank to rank, for an exact resume (every rank takes part)
        ranks = distributed.gather({"rng": _rng_state(), "window": running.detach().cpu()}) if ddp else None
        if main:
            payload = {
                "format": CHECKPOINT_FORMAT,
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "history": history.to_dict(),
                "window": [running.detach().cpu(), window_n],
                "rng": _rng_state(),
                "pass_rng": passes.pass_rng if passes.it is not None else {},
                "pass_used": passes.used,
            }
            if ddp:
                payload |= {"world_size": n, "ranks": ranks, "stream_rng": shard.rng}
            _save(path, payload)
        distributed.barrier()  # no rank goes on (and perhaps loads it) before it is written

    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        shard = _Shard(passes, rank, n, stream_rng)
        # find_unused_parameters: a loss may leave some parameters out (a pooler, the other task's head)
        gpu = None  # a CPU: gloo; a GPU: this process's own (setup() chose cuda:LOCAL_RANK)
        if device.type == "cuda":
            gpu = [device.index if device.index is not None else torch.cuda.current_device()]
        forward = DistributedDataParallel(_LossOf(model, loss_fn), device_ids=gpu,
                                          find_unused_parameters=True)
        draw = lambda: next(shard)
    else:
        forward = lambda batch: loss_fn(model, batch)
        draw = lambda: next(passes)

    was_training = model.training
    model.train()
    bar = tqdm(total=steps, initial=min(step, steps), desc=desc, disable=not progress or not main)
    start = time.perf_counter()
    try:
        while step < steps:
            batch = to_device(draw(), device)
            with amp:
                loss = forward(batch)
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
                raise ValueError(f"loss_fn must return a scalar tensor, got {got}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_norm is not None:
                _clip(model, clip_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            running += loss.detach().float()
            window_n += 1
            step += 1
            bar.update(1)
            if window_n >= log_every or step == steps:
                mean = distributed.mean(running.clone()).item() / window_n  # over the ranks
                if not math.isfinite(mean):
                    raise FloatingPointError(
                        f"loss is {mean} at step {step}: lower the learning rate or check loss_fn"
                    )
                lr = float(optimizer.param_groups[0]["lr"])
                history.steps.append(step)
                history.losses.append(mean)
                history.lrs.append(lr)
                bar.set_postfix(loss=f"{mean:.4g}", lr=f"{lr:.2g}")
                running.zero_()
                window_n = 0
            if eval_fn is not None and eval_every > 0 and (step % eval_every == 0 or step == steps):
                paused = time.perf_counter()
                model.eval()
                value = eval_fn(model)
                model.train()
                history.evals.append((step, history.wall_s + paused - start, value))
                start += time.perf_counter() - paused  # evaluation is not training time
            if path is not None and checkpoint_every > 0 and step % checkpoint_every == 0:
                history.wall_s += time.perf_counter() - start
                start = time.perf_counter()
                save()
    finally:
        bar.close()
        history.wall_s += time.perf_counter() - start
        model.train(was_training)
    if path is not None and not (checkpoint_every > 0 and step % checkpoint_every == 0):
        save()
    return history


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    batches: Callable[[], Iterable] | Iterable,
    metric_fn: Callable[[torch.nn.Module, Any], torch.Tensor | float],
    *,
    device: torch.device | str | None = None,
) -> float:
    """Mean of `metric_fn(model, batch)` over every example, in eval mode without gradients.

    metric_fn returns one value per example (a (B,) tensor, e.g. `(logits.argmax(-1) == y)`)
    or a scalar for the whole batch (counted as one value)."""
    from course import runtime

    device = torch.device(device) if device is not None else runtime.device()
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for batch in batches() if callable(batches) else batches:
            values = torch.as_tensor(
                metric_fn(model, to_device(batch, device)), dtype=torch.float64
            )
            total += float(values.sum())
            count += values.numel()
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: batches yielded nothing")
    return total / count
