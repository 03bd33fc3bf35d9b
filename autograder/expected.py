"""Expected outputs of the exercises, computed from the solutions by `course release`.

The visible checks ship to students, so they must not carry the answers: where a check
needs an exercise's correct output on fixed inputs and no library computes it (`torch.nn`,
`transformers`, gensim), it reads the value from here instead of computing it.

A checks module lists its probes in `PROBES` (name -> `Probe`). `course release` loads the
chapter's solution (definitions only, as `course check` loads a notebook), calls each
probe's `make` on the solution objects it `needs`, and writes every field it returns (the
inputs that produced the values as well as the values) to
`autograder/expected/<module>.safetensors`, with a fingerprint of the solution and of the
checks module in its metadata; `course release --check` reports the file stale when either
changed. The file is generated: never edit it by hand.

    PROBES = {"sgns": Probe(("sgns_loss",), lambda sgns_loss: {"center": c, ..., "loss": sgns_loss(c, ...)})}
    want = expected.case("word2vec", "sgns")["loss"]
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

STORE = Path(__file__).resolve().parent / "expected"
FORMAT = "course-expected/1"


@dataclass(frozen=True)
class Probe:
    """One fixed experiment on an exercise: `make(*objects)` receives the solution's objects
    named in `needs` and returns {field: tensor or number}, its inputs and its outputs."""

    needs: tuple[str, ...]
    make: Callable[..., Mapping[str, Any]]


class MissingExpected(RuntimeError):
    """The stored values are absent or older than the checks (an instructor's build problem)."""


def path(module: str) -> Path:
    return STORE / f"{module}.safetensors"


@functools.cache
def _load(module: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    file = path(module)
    if not file.is_file():
        raise MissingExpected(f"no expected values for the {module} checks at {file}: "
                              "the instructor runs `course release` to make them")
    return load_file(str(file))


def case(module: str, probe: str) -> dict[str, torch.Tensor]:
    """The stored fields of one probe (fresh copies: a check may modify them)."""
    prefix = f"{probe}/"
    found = {key[len(prefix):]: value.clone() for key, value in _load(module).items()
             if key.startswith(prefix)}
    if not found:
        raise MissingExpected(f"no expected values for {module}/{probe}: run `course release`")
    return found


def _as_tensor(value: Any, where: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().contiguous().clone()
    if isinstance(value, bool):
        return torch.tensor(value)
    if isinstance(value, (int, float, list, tuple)):
        return torch.tensor(value, dtype=torch.float64 if _has_float(value) else torch.int64)
    raise TypeError(f"{where}: a probe returns tensors or numbers, not {type(value).__name__}")


def _has_float(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_has_float(v) for v in value)
    return isinstance(value, float)


def fingerprint(source: Path, checks: Path) -> str:
    """What the stored values depend on: the chapter's source and its checks module's code."""
    h = hashlib.sha256(source.read_bytes())
    files = sorted(checks.rglob("*.py")) if checks.is_dir() else [checks]
    for file in files:
        h.update(file.name.encode())
        h.update(file.read_bytes())
    return h.hexdigest()


def stored_fingerprint(module: str, store: Path = STORE) -> str | None:
    from safetensors import safe_open

    file = store / f"{module}.safetensors"
    if not file.is_file():
        return None
    with safe_open(str(file), framework="pt") as f:
        meta = f.metadata() or {}
    return meta.get("fingerprint") if meta.get("format") == FORMAT else None


def generate(probes: Mapping[str, Probe], solution: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Run every probe on the solution's objects; {"probe/field": tensor}."""
    out: dict[str, torch.Tensor] = {}
    for name, probe in probes.items():
        missing = [n for n in probe.needs if n not in solution]
        if missing:
            raise MissingExpected(f"probe {name} needs {', '.join(missing)}, which the solution "
                                  "does not define")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            fields = probe.make(*[solution[n] for n in probe.needs])
        for field, value in fields.items():
            out[f"{name}/{field}"] = _as_tensor(value, f"probe {name}, field {field}")
    return out


def write(module: str, tensors: Mapping[str, torch.Tensor], fingerprint_: str, source: str,
          store: Path = STORE) -> Path:
    from safetensors.torch import save_file

    file = store / f"{module}.safetensors"
    file.parent.mkdir(parents=True, exist_ok=True)
    save_file(dict(tensors), str(file), metadata={
        "format": FORMAT, "fingerprint": fingerprint_,
        "generated_from": f"{source} by `course release`: do not edit"})
    file.chmod(0o644)  # the grading sandbox reads it as another user
    _load.cache_clear()
    return file
