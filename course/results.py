"""Results files: each chapter's last cell records its headline metrics with the scale,
hardware and wall time that produced them; the book's results page shows them."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from course import runtime, scale

_STARTED = time.perf_counter()  # import time of the course package ≈ start of the notebook


def record(chapter: str, metrics: dict, *, notes: str = "") -> dict:
    """Return the record; also write `<COURSE_RESULTS_DIR>/<chapter>.<scale>.json` when set."""
    rec = {
        "chapter": chapter,
        "scale": scale.current(),
        "device": runtime.device().type,
        "hardware": runtime.hardware(),
        "torch": torch.__version__,
        "wall_s": round(time.perf_counter() - _STARTED, 1),
        "metrics": metrics,
        "notes": notes,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    out = os.environ.get("COURSE_RESULTS_DIR")
    if out:
        path = Path(out) / f"{chapter}.{rec['scale']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec, indent=2, default=float) + "\n")
    return rec


def load(chapter: str) -> dict | None:
    """The record another chapter wrote, for a chapter that compares with it: from
    COURSE_RESULTS_DIR (this run) if it has one, else from the course's committed results/;
    at the current scale if there is one, else at `quick`. None when neither exists."""
    from course import release

    folders = [Path(d) for d in (os.environ.get("COURSE_RESULTS_DIR"),) if d]
    folders.append(release.ROOT / "results")
    for scale_name in dict.fromkeys((scale.current(), "quick")):
        for folder in folders:
            path = folder / f"{chapter}.{scale_name}.json"
            if path.is_file():
                return json.loads(path.read_text())
    return None


def timing(chapter: str) -> str:
    """One line for a chapter's "Before you start": how long its last recorded run took, at
    which scale, on which hardware (from this run's or the committed results)."""
    rec = load(chapter)
    if rec is None:
        return f"compute: no run of {chapter} recorded yet (run `course run {chapter[:2]}`)"
    minutes = float(rec.get("wall_s", 0)) / 60
    return (f"compute: about {max(1, round(minutes))} min at the {rec['scale']} scale on "
            f"{rec.get('hardware', rec.get('device', 'this machine'))} (recorded {rec.get('created', '?')[:10]}); "
            f"tiny takes seconds, full needs a GPU")
