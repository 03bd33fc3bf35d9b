"""Running under `torchrun` (DistributedDataParallel): detection, one process group, agreement.

`torchrun --nproc_per_node=N ...` starts N processes and sets WORLD_SIZE, RANK and
LOCAL_RANK in each. `setup()` (called by `course.train.fit` and `course pretrain`) then
initialises the process group once: gloo for CPU tensors, plus nccl for CUDA tensors when
`runtime.device()` is a GPU, with each process on cuda:LOCAL_RANK (so "cuda" is that
process's own GPU). Outside torchrun (or with WORLD_SIZE=1) nothing is initialised
and every function here is the identity or a no-op.

Every rank must make the same decisions (how many steps, when to stop, when to evaluate),
or one rank waits for a collective the others never call, and the run hangs. A decision
that comes from a clock (a time budget) differs from rank to rank: take rank 0's with
`agree(value)`, e.g. `while distributed.agree(time.perf_counter() - start) < budget: ...`,
or hand code that budgets time `agreed_time`, which reads rank 0's clock on every rank.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
from typing import Any

import torch
import torch.distributed as dist

from course.errors import CourseError


def world_size() -> int:
    """Number of processes torchrun started (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def active() -> bool:
    """Under torchrun with more than one process?"""
    return world_size() > 1


def rank() -> int:
    return int(os.environ.get("RANK", "0") or 0) if active() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0) if active() else 0


def is_main() -> bool:
    """Rank 0 (the only process outside torchrun): the one that prints and writes files."""
    return rank() == 0


@contextlib.contextmanager
def quiet_unless_main():
    """Silence stdout and stderr (prints, progress bars, warnings) on every rank but rank 0.
    An exception still reaches the caller, and is printed after the block has ended."""
    if is_main():
        yield
        return
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        yield


def setup() -> bool:
    """Initialise the process group once under torchrun; True when running distributed."""
    if not active():
        return False
    if not dist.is_initialized():
        from course import runtime

        if runtime.device().type == "cuda":  # not with COURSE_DEVICE=cpu: gloo alone, then
            if local_rank() >= torch.cuda.device_count():
                raise CourseError(f"torchrun started a process {local_rank()} on this machine, which has "
                                  f"{torch.cuda.device_count()} GPU(s): pass --nproc_per_node at most that "
                                  "(or set COURSE_DEVICE=cpu to train on the CPU with gloo)")
            torch.cuda.set_device(local_rank())
            backend = "cpu:gloo,cuda:nccl"
        else:
            backend = "gloo"
        dist.init_process_group(backend=backend)
        atexit.register(_teardown)
    return True


def _teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if setup():
        dist.barrier()


def agree(value: Any) -> Any:
    """Rank 0's `value` on every rank (any picklable object; `value` itself outside torchrun).
    Use it for every decision taken from a clock, so that all ranks take the same one."""
    if not setup():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any) -> list[Any]:
    """Every rank's `value`, in rank order, on every rank ([value] outside torchrun)."""
    if not setup():
        return [value]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, value)
    return out


def mean(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` averaged over the ranks, in place (unchanged outside torchrun)."""
    if setup():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= world_size()
    return tensor


class _AgreedTime:
    """The `time` module, except that its clocks read rank 0's time on every rank (one
    broadcast per reading), so code that budgets time takes the same decisions everywhere.
    Every rank must read the clock equally often, as ranks running the same code do."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def perf_counter(self) -> float:
        return agree(time.perf_counter())

    def monotonic(self) -> float:
        return agree(time.monotonic())

    def time(self) -> float:
        return agree(time.time())


agreed_time = _AgreedTime()
