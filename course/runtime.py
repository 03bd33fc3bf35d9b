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


def hardware() -> str:
    """What the numbers were measured on, e.g. 'GPU: NVIDIA H100 80GB HBM3' or 'CPU: 2 cores (x86_64)'."""
    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU: {cores} cores ({platform.machine()}), torch threads {torch.get_num_threads()}"
