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
