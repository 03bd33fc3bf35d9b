"""Seeding, device choice and a one-line hardware description for results files."""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) so a run repeats."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def device() -> torch.device:
    """cuda, then mps, then cpu; COURSE_DEVICE=cpu|cuda|mps overrides."""
    forced = os.environ.get("COURSE_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map_jobs(fn, jobs):
    """fn(job) for each job, in order: two at a time in forked one-thread processes on a Linux
    CPU with two cores or more, one after the other elsewhere (a GPU, macOS, Windows). Forked
    workers read the parent's data copy-on-write, so only jobs and results are pickled. fn must
    seed itself, so that the results are the same either way."""
    import multiprocessing
    import sys

    if device().type != "cpu" or cores() < 2 or not sys.platform.startswith("linux"):
        yield from map(fn, jobs)
        return
    with multiprocessing.get_context("fork").Pool(2, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        yield from pool.imap(fn, jobs)


def hardware() -> str:
    """What the numbers were measured on, e.g. 'GPU: NVIDIA H100 80GB HBM3' or 'CPU: 2 cores (x86_64)'."""
    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU: {cores()} cores ({platform.machine()}), torch threads {torch.get_num_threads()}"


def use_bf16(device: torch.device | str) -> bool:
    """Autocast to bfloat16 here? On CUDA where the GPU supports it; on a CPU only in a smoke
    run of `full` (`course run --scale full --smoke`), which proves the bf16 path a GPU takes
    (CPU autocast exists, but is slower than float32 on most CPUs), and only where oneDNN has
    bf16 kernels (AVX-512 or newer): on an AVX2-only CPU its bf16 LSTM cannot be built
    ("could not create a primitive descriptor"), so the smoke run stays in float32 there."""
    from course import scale

    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_bf16_supported()
    return kind == "cpu" and scale.smoke() and scale.current() == "full" and cpu_has_bf16()


def cpu_has_bf16() -> bool:
    """Does this CPU run oneDNN's bfloat16 kernels (the LSTM's among them)?"""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: no bf16 kernels either
        return False


def autocast(device: torch.device | str):
    """`torch.autocast` to bfloat16 where `use_bf16(device)` says so, else a no-op context."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=use_bf16(device))
