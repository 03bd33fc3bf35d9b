"""`course run`: execute solution chapters top to bottom at a scale and collect results.

Each chapter's book page (the solution without hidden tests) runs in a fresh kernel; the
executed notebook lands in build/executed/ for the book, and the chapter's last cell
writes its results JSON to results/.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from tqdm.auto import tqdm

from course import release
from course.env import child_env
from course.errors import CourseError, Exit

QUICK_BUDGET_S = 180  # DESIGN.md: `quick` is a few minutes a chapter on a 2-core CPU


def executed_dir() -> Path:
    return release.ROOT / "build" / "executed"


def default_results_dir() -> Path:
    return release.ROOT / "results"


def execute(ch: release.Chapter, scale: str, *, out_dir: Path | None = None, results_dir: Path | None = None,
            timeout: int | None = None, smoke: bool = False) -> tuple[Path, float]:
    """Run one chapter; return (executed notebook path, wall seconds). Raises CellExecutionError.
    smoke: a smoke run of `scale` (course.scale.smoke: its sizes, a handful of steps)."""
    out_dir = out_dir or executed_dir()
    results_dir = results_dir or default_results_dir()
    nb = jupytext.reads(release.book_page(ch), fmt="md:myst")
    nb.metadata["course"] = {"chapter": ch.slug, "scale": scale,
                             "source_sha256": release.source_notebook(ch).metadata["course"]["source_sha256"]}
    # figures=True: with Agg forced, plt.show() puts no figure into the notebook
    env = child_env(scale=scale, results=results_dir, figures=True,
                    COURSE_SMOKE="1" if smoke else "0")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(release.ROOT)}})
    start = time.perf_counter()
    try:
        with client.setup_kernel(env=env):
            for index, cell in enumerate(tqdm(nb.cells, desc=f"{ch.slug} ({scale})", unit="cell")):
                client.execute_cell(cell, index)
            client.set_widgets_metadata()  # progress bars' final state, for the book (execute() does this)
    finally:
        wall = time.perf_counter() - start
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{ch.slug}.ipynb"
        nbformat.write(nb, path)  # kept even on failure: the traceback is in it
    return path, wall


def run(keys: list[str], scale: str, *, results: Path | None = None, smoke: bool = False) -> int:
    """Execute chapters at `scale`, recording their results. A smoke run records into
    build/smoke-results, never into the course's results/."""
    results = results or (release.ROOT / "build" / "smoke-results" if smoke else default_results_dir())
    # a smoke run's notebook is not the book's: it goes beside its results, not to build/executed
    out_dir = release.ROOT / "build" / "smoke-executed" if smoke else executed_dir()
    chosen = [release.find(k) for k in keys] if keys else release.chapters()
    failed = []
    walls = {}
    for ch in chosen:
        try:
            path, walls[ch.slug] = execute(ch, scale, out_dir=out_dir, results_dir=results, smoke=smoke)
            print(f"{ch.slug}: executed at {scale} in {walls[ch.slug]:.0f} s → {path.relative_to(release.ROOT)}")
        except CellExecutionError as err:
            failed.append(ch.slug)
            last = str(err).strip().splitlines()[-1] if str(err).strip() else "cell failed"
            where = (out_dir / f"{ch.slug}.ipynb").relative_to(release.ROOT)
            print(f"{ch.slug}: FAILED at {scale}: {last} (see {where})", file=sys.stderr)
    print_results(results, [ch.slug for ch in chosen], scale, walls)
    return Exit.FAILED if failed else Exit.OK


class ResultsError(CourseError):
    """A results file that cannot be read."""


def load_results(folder: Path | None = None) -> list[dict]:
    records = []
    for path in sorted(Path(folder or default_results_dir()).glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except ValueError as err:
            raise ResultsError(f"{path}: not a results record ({err}); delete it or rerun "
                               "`course run`") from None
    return records


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def print_results(folder: Path | None = None, slugs: list[str] | None = None, scale: str | None = None,
                  walls: dict[str, float] | None = None) -> None:
    rows = [r for r in load_results(folder)
            if (slugs is None or r["chapter"] in slugs) and (scale is None or r["scale"] == scale)]
    if not rows:
        print("results: none recorded yet")
        return
    print("\nchapter        scale  device  wall     headline metrics")
    total = 0.0
    for r in rows:
        wall = (walls or {}).get(r["chapter"], r.get("wall_s", 0.0))
        total += wall
        metrics = ", ".join(f"{k}={_fmt(v)}" for k, v in r["metrics"].items())
        over = " (over the quick budget)" * (r["scale"] == "quick" and wall > QUICK_BUDGET_S)
        print(f"{r['chapter']:<14} {r['scale']:<6} {r['device']:<7} {wall:>6.0f} s{over}  {metrics}")
        print(f"{'':<14} hardware: {r['hardware']}")
    scales = sorted({r["scale"] for r in rows})
    print(f"{'total':<14} {'/'.join(scales):<6} {'':<7} {total:>6.0f} s  "
          f"({len(rows)} chapter{'s' * (len(rows) != 1)}, each chapter's wall time summed)")
