"""The prepared scripts that no CI job runs for real: scripts/gpu_check.sh (a GPU is lent only
now and then, so its first real run must not fail on a typo) and scripts/bench.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_rehearsed_on_the_cpu_writes_one_json(demo_course, tmp_path):
    """GPU_CHECK_DRY=1 takes the script's whole path on a CPU: the smoke run of each chapter
    (here the demo course's one), the bench at tiny presets, the JSON that gathers them."""
    out = tmp_path / "out"
    env = {**os.environ, "GPU_CHECK_DRY": "1", "GPU_CHECK_CHAPTER_S": "120", "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "gpu_check.json", "gpu_check.log"]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["dry_run"] is True and report["cuda"] is None
    assert report["smoke"]["01_demo"]["status"] == "ok", report["smoke"]
    assert report["smoke"]["01_demo"]["record"]["scale"] == "full"
    assert [r["benchmark"] for r in report["bench"]] == ["word2vec", "transformer", "bert"]
    for r in report["bench"]:
        assert r["ours"] > 0 and r["reference"] > 0 and r["ratio"] == pytest.approx(r["ours"] / r["reference"])
    word2vec = report["bench"][0]
    assert word2vec["claim"] == 0.5 and isinstance(word2vec["meets_claim"], bool)


def test_gpu_check_without_a_gpu_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GPU_CHECK_DRY"}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), str(tmp_path / "o")],
                          env={**env, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gpu_check: torch sees no CUDA GPU here; run this script on a machine with one"]


def test_bench_reads_the_chapters_presets_not_copies():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import bench
    finally:
        sys.path.remove(str(REPO / "scripts"))
    lm = bench.preset("03_transformer", "LM", "quick")
    assert {"d_model", "n_heads", "n_layers", "d_ff", "T", "batch", "vocab"} <= set(lm)
    assert bench.preset("04_bert", "MLM", "full")["layers"] >= 1
    with pytest.raises(SystemExit, match="no `NOPE = "):
        bench.preset("04_bert", "NOPE", "quick")
