"""The environment of every process the course starts to run notebook code: a chapter run
by `course run`, the book's tiny-scale run, `course check`'s checks, a grading job."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def child_env(*, scale: str, results: Path | None = None, figures: bool = True,
              base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """This process's environment (or `base`), set up for a child that runs course code.

    scale: its COURSE_SCALE. results: its COURSE_RESULTS_DIR, where a chapter's last cell
    records its results (None: the child records none; tiny runs and grading must not).
    figures: True leaves MPLBACKEND unset, so a Jupyter kernel's inline backend puts each
    figure into the notebook (Agg would drop them); False sets Agg (nothing is shown).
    extra: more variables, e.g. TQDM_DISABLE="1".
    """
    env = dict(os.environ if base is None else base)
    env["COURSE_SCALE"] = scale
    if results is None:
        env.pop("COURSE_RESULTS_DIR", None)
    else:
        env["COURSE_RESULTS_DIR"] = str(results)
    if figures:
        env.pop("MPLBACKEND", None)
    else:
        env["MPLBACKEND"] = "Agg"
    env.update(extra)
    return env
