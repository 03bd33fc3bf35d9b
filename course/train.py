"""One training loop for every chapter: `fit(model, optimizer, batches, loss_fn, steps=...)`.

What it does for you, so that chapters show only the model and the loss:
- moves batches to the device (`to_device`), bf16 autocast on CUDA, gradient clipping;
- a tqdm progress bar with the running loss, and a `History` of logged losses and LRs;
- checkpoints (model, optimizer, scheduler, step, history, RNG states) written atomically,
  and resume after an interruption (a Colab disconnect) that ends with the *same* weights as
  an uninterrupted run.

How exact resume works: the batch iterator cannot be saved, so the checkpoint keeps the RNG
states from the moment the current pass over the data began and how many batches of it were
used. Resuming restores those states, calls `batches()` again, skips the used batches (same
shuffle, since it is drawn from the same RNG state), and then restores the RNG states of the
checkpoint itself, so dropout and everything after continue exactly. This is exact for
iterators that draw their randomness from the global RNGs when a pass starts (DataLoader
shuffling, `course.text.iter_minibatches`) or per batch without keeping it (random masking);
an iterator that privately reseeds itself in the middle of a pass is only replayed roughly.
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


def _rng_state() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA) global RNG states, in types torch.load(weights_only)
    accepts (the numpy key array becomes a tensor)."""
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
    if torch.cuda.is_available() and torch.cuda.is_initialized():
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
    log_every: steps per History entry / progress-bar update (one device sync each).
    bf16: autocast to bfloat16; None means "on CUDA when supported". Ignored off CUDA.
    eval_fn(model) -> value: called in eval mode every `eval_every` steps and at the last
        step; `History.evals` keeps (step, training seconds so far, value), so curves can be
        drawn against steps or wall time.
    """
    from course import runtime

    device = torch.device(device) if device is not None else runtime.device()
    use_bf16 = device.type == "cuda" and (
        torch.cuda.is_bf16_supported() if bf16 is None else bool(bf16)
    )
    model.to(device)
    history = History()
    passes = _Passes(batches)
    step, window_n = 0, 0
    running = torch.zeros((), device=device)  # loss summed on the device: no sync per step
    path = Path(checkpoint) if checkpoint is not None else None

    if path is not None and resume and path.exists():
        payload = _load(path)
        _restore(path, payload, model, optimizer, scheduler)
        step = int(payload["step"])
        history = History.from_dict(payload["history"])
        running, window_n = payload["window"][0].to(device), int(payload["window"][1])
        if payload["pass_rng"]:
            passes.replay(payload["pass_rng"], int(payload["pass_used"]))
        _set_rng_state(payload["rng"])
        print(f"train: resumed from {path} at step {step:,}/{steps:,}")

    def save() -> None:
        _save(
            path,
            {
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
            },
        )

    was_training = model.training
    model.train()
    bar = tqdm(total=steps, initial=min(step, steps), desc=desc, disable=not progress)
    start = time.perf_counter()
    try:
        while step < steps:
            batch = to_device(next(passes), device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
                loss = loss_fn(model, batch)
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
                mean = running.item() / window_n
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
