"""`course run`: execute solution chapters top to bottom at a scale and collect results.

Each chapter's book page (the solution without hidden tests) runs in a fresh kernel; the
executed notebook lands in build/executed/ for the book, and the chapter's last cell
writes its results JSON to results/.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from tqdm.auto import tqdm

from course import build


def executed_dir() -> Path:
    return build.ROOT / "build" / "executed"


def default_results_dir() -> Path:
    return build.ROOT / "results"


def execute(ch: build.Chapter, scale: str, *, out_dir: Path | None = None, results_dir: Path | None = None,
            timeout: int | None = None) -> tuple[Path, float]:
    """Run one chapter; return (executed notebook path, wall seconds). Raises CellExecutionError."""
    out_dir = out_dir or executed_dir()
    results_dir = results_dir or default_results_dir()
    nb = jupytext.reads(build.book_page(ch), fmt="md:myst")
    nb.metadata["course"] = {"chapter": ch.slug, "scale": scale,
                             "source_sha256": build.source_notebook(ch).metadata["course"]["source_sha256"]}
    # The kernel inherits this process's environment. MPLBACKEND must be unset there: with
    # Agg forced, plt.show() puts no figure into the notebook and the book loses its plots.
    env = {"COURSE_SCALE": scale, "COURSE_RESULTS_DIR": str(results_dir), "MPLBACKEND": None}
    saved = {k: os.environ.get(k) for k in env}
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(build.ROOT)}})
    start = time.perf_counter()
    try:
        with client.setup_kernel():
            for index, cell in enumerate(tqdm(nb.cells, desc=f"{ch.slug} ({scale})", unit="cell")):
                client.execute_cell(cell, index)
            client.set_widgets_metadata()  # progress bars' final state, for the book (execute() does this)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        wall = time.perf_counter() - start
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{ch.slug}.ipynb"
        nbformat.write(nb, path)  # kept even on failure: the traceback is in it
    return path, wall


def run(keys: list[str], scale: str, *, results: Path | None = None) -> int:
    results = results or default_results_dir()
    chosen = [build.find(k) for k in keys] if keys else build.chapters()
    failed = []
    walls = {}
    for ch in chosen:
        try:
            path, walls[ch.slug] = execute(ch, scale, results_dir=results)
            print(f"{ch.slug}: executed at {scale} in {walls[ch.slug]:.0f} s → {path.relative_to(build.ROOT)}")
        except CellExecutionError as err:
            failed.append(ch.slug)
            last = str(err).strip().splitlines()[-1] if str(err).strip() else "cell failed"
            print(f"{ch.slug}: FAILED at {scale}: {last} (see build/executed/{ch.slug}.ipynb)", file=sys.stderr)
    print_results(results, [ch.slug for ch in chosen], scale, walls)
    return 1 if failed else 0


def load_results(folder: Path | None = None) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(folder or default_results_dir()).glob("*.json"))]


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
    for r in rows:
        wall = (walls or {}).get(r["chapter"], r.get("wall_s", 0.0))
        metrics = ", ".join(f"{k}={_fmt(v)}" for k, v in r["metrics"].items())
        print(f"{r['chapter']:<14} {r['scale']:<6} {r['device']:<7} {wall:>6.0f} s  {metrics}")
        print(f"{'':<14} hardware: {r['hardware']}")
