"""course.runtime.map_jobs: the parallel path gives what the serial one does, in job order."""

import os

import torch

from course import runtime


def _seeded_draw(job):
    runtime.seed_everything(job)
    return job, float(torch.rand(())), os.getpid(), torch.get_num_threads()


def test_map_jobs_matches_the_serial_map_in_order(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    jobs = [5, 1, 4, 2, 3, 0]
    got = list(runtime.map_jobs(_seeded_draw, jobs))
    serial = [_seeded_draw(j) for j in jobs]
    assert [g[:2] for g in got] == [s[:2] for s in serial]
    if runtime.cores() >= 2:  # this machine and CI: two forked workers of one thread each
        assert {g[2] for g in got} - {os.getpid()}, "no job ran in a worker process"
        assert {g[3] for g in got} == {1}


def test_map_jobs_runs_serially_off_the_cpu(monkeypatch):
    monkeypatch.setattr(runtime, "device", lambda: torch.device("cuda"))
    got = list(runtime.map_jobs(_seeded_draw, [2, 0]))
    assert [g[2] for g in got] == [os.getpid()] * 2


def _smoke_of_full(monkeypatch):
    monkeypatch.setenv("COURSE_SCALE", "full")
    monkeypatch.setenv("COURSE_SMOKE", "1")


def test_the_cpu_smoke_of_full_autocasts_to_bf16_only_where_onednn_has_bf16_kernels(monkeypatch):
    _smoke_of_full(monkeypatch)
    for has in (True, False):
        monkeypatch.setattr(runtime, "cpu_has_bf16", lambda has=has: has)
        assert runtime.use_bf16("cpu") is has
        with runtime.autocast("cpu"):
            assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == (torch.bfloat16 if has else torch.float32)
    monkeypatch.setenv("COURSE_SMOKE", "0")
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert not runtime.use_bf16("cpu"), "outside a smoke run of full, a CPU stays in float32"


def test_an_lstm_runs_under_the_cpu_smoke_autocast_on_this_cpu(monkeypatch):
    """On an AVX2-only CPU, oneDNN cannot build a bf16 LSTM: the smoke runs of chapters 3-5
    failed there with 'could not create a primitive descriptor' until use_bf16 asked."""
    _smoke_of_full(monkeypatch)
    lstm = torch.nn.LSTM(8, 8, batch_first=True)
    with runtime.autocast("cpu"):
        out, _ = lstm(torch.randn(2, 3, 8))
    assert out.shape == (2, 3, 8) and torch.isfinite(out.float()).all()
