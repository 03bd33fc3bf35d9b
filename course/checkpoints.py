"""Shipped pretrained checkpoints (see DESIGN.md, "Pretrained checkpoints").

A few minutes on a laptop CPU teach a language model almost nothing, so chapters that
need a pretrained model load one the course trained and ships: `course pretrain NAME`
runs the chapter's `pretrain(...)` (solution code) and writes `course/checkpoints/NAME.safetensors`
(bf16 floats, never pickle) plus `NAME.json`, a manifest with the sha256, the exact
command, config, data, steps, wall time, hardware and final metrics. `load(NAME)`
verifies the sha256 before returning the weights.

Under `torchrun --nproc_per_node=N -m course.cli pretrain NAME`, every rank trains (the
chapter's `course.train.fit` calls run data-parallel), the time budget is rank 0's clock, and
rank 0 alone writes the files; the manifest records the world size N.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from course import distributed, runtime
from course.errors import CourseError

SHIPPED = Path(__file__).resolve().parent / "checkpoints"
# name -> chapter whose solution defines `pretrain(minutes: float, log=print) -> (model, info)`
PRETRAINABLE = {"elmo": "02_elmo", "awd_lstm": "05_ulmfit"}
# ... and those whose pretrain() trains through course.train.fit, so that torchrun shards it
# (awd_lstm's runs its own loop, train_lm: under torchrun each rank would redo the whole run)
DATA_PARALLEL = {"elmo"}


class CheckpointError(CourseError):
    """A missing, corrupt or mismatched checkpoint: one line saying what to do."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(name: str, model: torch.nn.Module, info: dict, *, folder: Path = SHIPPED,
         dtype: torch.dtype = torch.bfloat16) -> dict:
    """Write NAME.safetensors (floats cast to `dtype`) and its manifest NAME.json; return the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{name}.safetensors"
    state = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
             for k, v in model.state_dict().items()}
    save_file(state, str(weights))
    command = " ".join(shlex.quote(a) for a in ["course", *sys.argv[1:]])
    n, local = distributed.world_size(), int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    if n > 1:
        command = f"torchrun --nnodes={max(1, n // local)} --nproc_per_node={local} {command}"
    manifest = {
        "name": name,
        "file": weights.name,
        "sha256": sha256(weights),
        "bytes": weights.stat().st_size,
        "dtype": str(dtype).removeprefix("torch."),
        "command": info.pop("command", command),
        "hardware": runtime.hardware(),
        "world_size": n,  # processes that trained it (torchrun); each step saw one batch on each
        "torch": torch.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **info,  # config, data, steps, wall_s, metrics: what the chapter's pretrain() reports
    }
    (folder / f"{name}.json").write_text(json.dumps(manifest, indent=2, default=float) + "\n")
    return manifest


def manifest(name: str, *, folder: Path = SHIPPED) -> dict:
    path = folder / f"{name}.json"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint {name!r} in {folder} (run `course pretrain {name}`)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: the manifest is not valid JSON ({err.msg}); reinstall or re-run `course pretrain {name}`") from None


def load(name: str, *, folder: Path = SHIPPED, dtype: torch.dtype = torch.float32) -> tuple[dict, dict]:
    """(state_dict in `dtype`, manifest) after checking the file's sha256 against the manifest."""
    info = manifest(name, folder=folder)
    weights = folder / info["file"]
    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing (run `course pretrain {name}` or reinstall the course)")
    if sha256(weights) != info["sha256"]:
        raise CheckpointError(f"{weights} is corrupt: its sha256 does not match {name}.json "
                              f"(re-run `course pretrain {name}` or reinstall the course)")
    try:
        state = load_file(str(weights))
    except SafetensorError as err:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({err})") from None
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}, info


def pretrain(name: str, minutes: float, *, folder: Path = SHIPPED) -> dict:
    """`course pretrain NAME`: run the chapter's pretrain() from the solution source and ship the
    result to `folder`. Under torchrun: rank 0 writes, every rank returns the manifest."""
    from course import loader, release

    if name not in PRETRAINABLE:
        raise CheckpointError(f"nothing to pretrain called {name!r}; known: {', '.join(PRETRAINABLE)}")
    if distributed.active() and name not in DATA_PARALLEL:
        raise CheckpointError(f"{name}'s pretraining does not train through course.train.fit, so under "
                              f"torchrun each of the {distributed.world_size()} processes would redo it: "
                              f"run it without torchrun (data-parallel: {', '.join(sorted(DATA_PARALLEL))})")
    ch = release.find(PRETRAINABLE[name])
    namespace = loader.load_definitions(ch.source, strict=True)
    if distributed.setup():  # the time budget is read from rank 0's clock, so all ranks stop together
        namespace["time"] = distributed.agreed_time
    start = time.perf_counter()
    with distributed.quiet_unless_main():
        model, info = namespace["pretrain"](minutes)
    info.setdefault("wall_s", round(time.perf_counter() - start, 1))
    info.setdefault("source", f"solutions/{ch.source.name}")
    manifest = save(name, model, info, folder=folder) if distributed.is_main() else None
    return distributed.agree(manifest)
