"""Scale presets: every chapter runs at `tiny` (tests, grading), `quick` (a laptop CPU,
minutes) or `full` (one GPU, real datasets). `COURSE_SCALE` chooses; `auto` picks `full`
on CUDA and `quick` elsewhere."""

from __future__ import annotations

import os
from typing import TypeVar

from course.errors import CourseError

SCALES = ("tiny", "quick", "full")
T = TypeVar("T")


class ScaleError(CourseError):
    """A bad COURSE_SCALE value or preset table."""


def current() -> str:
    """The scale in force: COURSE_SCALE (tiny|quick|full|auto), default auto."""
    value = os.environ.get("COURSE_SCALE", "auto").strip().lower() or "auto"
    if value == "auto":
        import torch

        return "full" if torch.cuda.is_available() else "quick"
    if value not in SCALES:
        raise ScaleError(f"COURSE_SCALE={value!r} is not one of tiny, quick, full, auto")
    return value


def pick(presets: dict[str, T], *, verbose: bool = True) -> T:
    """The preset for the current scale, e.g. `pick({"tiny": 1, "quick": 5, "full": 20})`."""
    missing = [s for s in SCALES if s not in presets]
    if missing:
        raise ScaleError(f"scale presets lack {', '.join(missing)}; give one value per scale")
    scale = current()
    if verbose:
        how = os.environ.get("COURSE_SCALE", "auto")
        print(f"scale: {scale} (COURSE_SCALE={how})")
    return presets[scale]


SMOKE_ENV = "COURSE_SMOKE"


def smoke() -> bool:
    """Is this a smoke run (`course run --smoke`, COURSE_SMOKE=1)? It proves a scale's code
    path (real model sizes, data path, devices) with a handful of steps and examples."""
    return os.environ.get(SMOKE_ENV, "").strip() == "1"


def smoke_caps(preset: dict, **caps) -> dict:
    """`preset` as it is, or, in a smoke run, with `caps` in place of its values (fewer steps
    and examples; the model sizes stay). Every key in `caps` must be one of the preset's."""
    unknown = sorted(set(caps) - set(preset))
    if unknown:
        raise ScaleError(f"smoke caps {', '.join(unknown)} are not keys of the preset")
    if not smoke():
        return preset
    print(f"smoke run: {', '.join(f'{k}={v}' for k, v in caps.items())} (sizes as at this scale)")
    return {**preset, **caps}
