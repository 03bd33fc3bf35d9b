"""Run one grading job (one student's one assignment) somewhere, within a deadline.

A job is a self-contained nbgrader course directory (``Job.jobdir``) that
``autograder.grade`` prepares: ``job.json``, ``gradebook.db``, ``source/`` and the
student's notebook under ``submitted/``. A runner has ``autograder.worker`` grade it
(``python -m autograder.worker grade JOBDIR``, or a ``serve`` process fed job folders on
stdin) and reads back ``JOBDIR/result.json`` (``read_result``; both files are
``autograder.protocol``'s typed JobSpec and JobResult). The worker itself is trusted; the
student's code runs only in processes it starts through ``autograder.sandbox`` (the
kernel, the clean re-run), as ``job.json``'s ``sandbox`` spec says. A runner that puts the worker elsewhere (another
machine, a container) only has to make the job directory available and run that
command: implement ``Runner.run`` and pass it as ``grade(..., runner=...)``.

``SubprocessRunner`` (the default) keeps a few local worker processes, in their own
sessions, with the grading environment (``grading_env``: ``COURSE_SCALE=tiny`` ...),
and kills a worker and its kernel when a job's deadline passes.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from autograder import protocol
from autograder.protocol import JobResult
from course.env import child_env

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the folder holding autograder/ and course/


@dataclass
class Job:
    student: str  # the student's folder name (what the gradebook shows)
    assignment: str  # e.g. "01_word2vec"; also the notebook's name
    internal_id: str  # the student id inside nbgrader (safe for globs and paths)
    jobdir: Path
    deadline: float  # seconds for the whole job (protocol.Budget.total)


@dataclass
class Outcome:
    """How a job ended: the worker's result, and what the runner saw (wall time, log)."""

    result: JobResult = field(default_factory=JobResult)
    seconds: float = 0.0  # wall time of the whole job
    log: Path | None = None
    feedback: Path | None = None  # the feedback page the worker wrote, if any

    @property
    def ok(self) -> bool:
        return self.result.ok


def failed(reason: str, seconds: float = 0.0, log: Path | None = None) -> Outcome:
    """The outcome of a job that produced no result (stopped, crashed, cancelled)."""
    return Outcome(JobResult(ok=False, reason=reason), seconds, log)


class Runner(Protocol):
    def run(self, job: Job) -> Outcome:
        """Grade one job (called from several threads at once); never raises for a bad job."""

    def cancel(self) -> None:
        """Stop every running job now (Ctrl-C)."""

    def close(self) -> None:
        """All jobs are done: release the workers."""


def grading_env(*, threads: int, jupyter_path: Path | None = None) -> dict[str, str]:
    """Environment of a grading process and of the kernel it starts: tiny scale, no results
    recorded, no figures or progress bars, a fixed hash seed, `threads` BLAS threads."""
    env = child_env(scale="tiny", results=None, figures=False,
                    TQDM_DISABLE="1", PYTHONHASHSEED="0", PYTHONUNBUFFERED="1",
                    PYDEVD_DISABLE_FILE_VALIDATION="1", JUPYTER_PLATFORM_DIRS="1",
                    OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                    OPENBLAS_NUM_THREADS=str(threads))
    # nbgrader runs the `alembic` executable when it creates a gradebook: the grader's own
    # bin folder goes first on PATH even when the virtualenv is not activated
    bindirs = [str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join(bindirs + [p for p in env.get("PATH", "").split(os.pathsep)
                                             if p and p not in bindirs])
    paths = [str(PACKAGE_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if jupyter_path is not None:
        jp = [str(jupyter_path)] + [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
        env["JUPYTER_PATH"] = os.pathsep.join(jp)
    return env


def kill_tree(pid: int) -> None:
    """Kill a process, everything it started (kernels run in their own sessions), and wait."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        psutil = None
    procs = []
    if psutil is not None:
        try:
            parent = psutil.Process(pid)
            procs = parent.children(recursive=True) + [parent]
        except psutil.NoSuchProcess:
            procs = []
        for p in procs:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=5)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


class _Worker:
    """One ``python -m autograder.worker serve`` process: grades the jobs sent to it."""

    def __init__(self, python: str, env: dict[str, str], errlog: Path):
        self.errlog = errlog
        with open(errlog, "ab") as err:
            self.proc = subprocess.Popen(
                [python, "-m", "autograder.worker", "serve"], cwd=errlog.parent, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                bufsize=1, start_new_session=True,
            )
        self.answers: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.answers.put(line.rstrip("\n"))
        self.answers.put(None)

    def grade(self, jobdir: Path, deadline: float) -> str:
        """ "done", "timeout" or "died"."""
        try:
            self.proc.stdin.write(f"{jobdir}\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return "died"
        end = time.monotonic() + deadline
        while True:
            try:
                answer = self.answers.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                return "timeout"
            if answer is None:
                return "died"
            if answer == f"done {jobdir}":
                return "done"

    def kill(self) -> None:
        kill_tree(self.proc.pid)
        self.proc.wait()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


class SubprocessRunner:
    """Grade jobs in local worker processes (``python -m autograder.worker serve``).

    A worker grades one job at a time and stays up for the next (nbgrader's import is
    paid once per worker, not once per notebook). A job that runs past its deadline, or a
    worker that dies, costs that worker: it is killed with its kernel, and the next job
    starts a fresh one.
    """

    def __init__(self, env: dict[str, str], python: str | None = None, logdir: Path | None = None):
        self.env = env
        self.python = python or sys.executable
        self.logdir = Path(logdir) if logdir else Path(tempfile.mkdtemp(prefix="course-grade-w-"))
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._cancelled = False
        self._started = 0

    def _take(self) -> _Worker:
        with self._lock:
            if self._cancelled:
                raise RuntimeError("grading was cancelled")
            if self._idle:
                worker = self._idle.pop()
            else:
                self._started += 1
                self.logdir.mkdir(parents=True, exist_ok=True)
                worker = _Worker(self.python, self.env, self.logdir / f"worker{self._started}.err")
            self._busy.add(worker)
            return worker

    def run(self, job: Job) -> Outcome:
        start = time.perf_counter()
        worker = self._take()
        state = worker.grade(job.jobdir, job.deadline)
        with self._lock:
            self._busy.discard(worker)
            if state == "done" and not self._cancelled:
                self._idle.append(worker)
                worker = None
        if worker is not None:
            worker.kill()
        seconds = time.perf_counter() - start
        if state == "timeout":
            return failed(f"grading ran past its {job.deadline:.0f} s limit and was stopped",
                          seconds, _log(job, worker))
        if self._cancelled:
            return failed("grading was cancelled", seconds)
        return read_result(job, seconds, state, worker)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            workers = self._idle + list(self._busy)
            self._idle = []
        for worker in workers:
            worker.kill()

    def close(self) -> None:
        with self._lock:
            workers, self._idle = self._idle, []
        for worker in workers:
            worker.close()


def _log(job: Job, worker: _Worker | None) -> Path | None:
    log = job.jobdir / "nbgrader.log"
    if log.exists():
        return log
    return worker.errlog if worker is not None else None


def read_result(job: Job, seconds: float, state: str = "done", worker=None) -> Outcome:
    """The Outcome of the ``JOBDIR/result.json`` a worker left (or why there is none)."""
    path = job.jobdir / "result.json"
    log = _log(job, worker)
    if not path.exists():
        why = ("the grading process died" if state == "died"
               else "the grading process wrote no result")
        return failed(why, seconds, log)
    try:
        result = protocol.read(JobResult, path)
    except protocol.ProtocolError as err:
        return failed(f"grading error: {err}", seconds, log)
    feedback = job.jobdir / result.feedback if result.feedback else None
    return Outcome(result, seconds, log, feedback)
