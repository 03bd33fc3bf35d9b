"""Run a student's code isolated by the operating system (Linux namespaces + rlimits).

``course grade`` starts every process that runs student code -- the notebook's Jupyter
kernel and the clean re-run of the graded tests (``autograder.verify``) -- through

    python -m autograder.sandbox run -- COMMAND...

with the sandbox settings (a JSON ``Spec``) in the environment variable
``COURSE_SANDBOX``. ``run`` execs util-linux ``unshare`` to make new mount, PID and
network namespaces (plus a user namespace when the grader is not root), in which
``inner`` (PID 1 there, still privileged) builds a fresh root file system and then
runs COMMAND as an unprivileged child:

- a small tmpfs as ``/`` holding only: read-only bind mounts of the system folders
  (``/usr``, ``/etc``, ``/lib*``, ``/bin``...), of the Python installation and virtual
  environment, and of the public packages ``course/`` and ``autograder/``; a private
  ``/proc`` (only the sandbox's processes); ``/dev/null``, ``zero``, ``full``,
  ``random``, ``urandom``; size-limited tmpfs at ``/tmp``, ``/dev/shm`` and the home
  folder ``/home/student`` (the working directory); and read-write only the job's
  kernel-socket folder (``Spec.rw``). Nothing else exists in there: not the grading
  folder (instructor sources, hidden tests, gradebook databases, other students'
  jobs), not the submissions or output folders, not the rest of the course checkout
  (``solutions/``, ``tests/``, ``.git``), not anyone's home;
- no network: a new network namespace has only a loopback interface, and it is down
  (the kernel talks to nbgrader over Unix sockets in the socket folder);
- as root: the child runs as a uid/gid of its own for this job (no supplementary
  groups, ``no_new_privs``), so file permissions apply to it too, and no other job's
  processes share its process limit. Not root: a user namespace maps the grader's own
  uid, so the code has the grader's rights on what is mounted and nothing more;
- limits (``setrlimit``): CPU seconds, address space, processes of its uid, file size,
  open files, no core dumps; the tmpfs sizes bound what it can write.

When the machine cannot do this (not Linux, no ``unshare``, namespaces refused),
``probe`` says why in one line, and ``course grade`` refuses to grade unless the
instructor passes ``--allow-unisolated`` (then ``Spec.mode`` is ``"none"``: COMMAND runs
as a plain child process, with the limits only).
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENV_VAR = "COURSE_SANDBOX"
HOME = "/home/student"
UID_BASE, UID_SPAN = 61000, 4000  # per-job uids when grading as root (no /etc/passwd entry)

# environment passed into the sandbox (everything else, e.g. tokens, is dropped)
ENV_KEEP = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH",
            "PYTHONHASHSEED", "PYTHONUNBUFFERED", "MPLBACKEND", "TQDM_DISABLE",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
            "PYDEVD_DISABLE_FILE_VALIDATION", "JUPYTER_PLATFORM_DIRS", "HF_DATASETS_OFFLINE",
            "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38


@dataclass
class Limits:
    cpu_seconds: int = 1800  # CPU time of each process (a busy loop on every thread)
    address_space_mb: int = 8192  # virtual memory; torch maps ~2 GB at import
    processes: int = 256  # processes + threads of the job's uid (root mode)
    file_size_mb: int = 64  # largest file it can write
    open_files: int = 1024
    home_mb: int = 256  # tmpfs sizes: the home (working) folder, /tmp, /dev/shm
    tmp_mb: int = 256
    shm_mb: int = 256


@dataclass
class Spec:
    mode: str  # "root" (namespaces + own uid), "userns" (namespaces, grader's uid), "none"
    root: str = ""  # an empty folder the new root file system is mounted on
    uid: int = 0  # root mode: the uid/gid the code runs as
    ro: list[str] = field(default_factory=list)  # read-only bind mounts (same path inside)
    rw: list[str] = field(default_factory=list)  # read-write bind mounts (same path inside)
    limits: Limits = field(default_factory=Limits)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> Spec:
        data = json.loads(text)
        data["limits"] = Limits(**data.get("limits", {}))
        return cls(**data)


def package_root() -> Path:
    return Path(__file__).resolve().parent.parent


def readonly_paths() -> list[str]:
    """What the student's code may read: system folders, Python, the public packages."""
    paths = [p for p in SYSTEM_DIRS if os.path.lexists(p)]
    for p in (sys.base_prefix, sys.prefix, sys.exec_prefix, str(Path(sys.executable).parent)):
        paths.append(os.path.realpath(p))
    for entry in sys.path:  # site-packages outside the prefix (user site, PYTHONPATH...)
        if entry and os.path.isdir(entry) and "site-packages" in entry:
            paths.append(os.path.realpath(entry))
    root = package_root()
    for pkg in ("course", "autograder"):  # the public code, never solutions/ or tests/
        paths.append(str(root / pkg))
    out: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return out


def job_uid(n: int) -> int:
    return UID_BASE + n % UID_SPAN


@functools.lru_cache(maxsize=1)
def probe() -> tuple[str | None, str]:
    """(mode, description) when student code can be isolated here, else (None, why)."""
    if not sys.platform.startswith("linux"):
        return None, f"no process isolation on {sys.platform} (needs Linux namespaces)"
    unshare = shutil.which("unshare")
    if unshare is None:
        return None, "the `unshare` command (util-linux) is not installed"
    mode = "root" if os.geteuid() == 0 else "userns"
    with tempfile.TemporaryDirectory(prefix="course-sandbox-probe-") as tmp:
        os.chmod(tmp, 0o755)
        root = Path(tmp) / "root"
        root.mkdir()
        spec = Spec(mode, str(root), job_uid(UID_SPAN - 1), readonly_paths(), [])
        code = ("import os, socket, sys\n"
                "assert not os.path.exists(sys.argv[1]), 'the grading folder is visible'\n"
                "assert os.getuid() != 0 or sys.argv[2] != 'root', 'still root'\n"
                "s = socket.socket()\n"
                "try:\n"
                "    s.connect(('1.1.1.1', 53)); raise SystemExit('network reachable')\n"
                "except OSError:\n"
                "    pass\n"
                "print('isolated')\n")
        try:
            proc = subprocess.run(
                command([sys.executable, "-c", code, tmp, mode]),
                env={**os.environ, ENV_VAR: spec.to_env()},
                capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"the sandbox did not start: {e}"
        if proc.returncode != 0 or proc.stdout.strip() != "isolated":
            why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            return None, f"the sandbox did not start: {why}"
    if mode == "root":
        return mode, ("Linux mount, PID and network namespaces (util-linux unshare), "
                      "a private root file system, a uid of its own per job, rlimits")
    return mode, ("Linux user, mount, PID and network namespaces (util-linux unshare), "
                  "a private root file system, the grader's own uid, rlimits")


def command(argv: list[str]) -> list[str]:
    """The command that runs ``argv`` in the sandbox described by ``$COURSE_SANDBOX``."""
    return [sys.executable, "-m", "autograder.sandbox", "run", "--", *argv]


# -- inside ---------------------------------------------------------------------------

def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    enc = (lambda s: None if s is None else str(s).encode())
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _bind(libc, path: str, newroot: str, readonly: bool) -> None:
    target = newroot + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    elif os.path.exists(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).touch()
    else:
        return
    _mount(libc, path, target, None, MS_BIND | MS_REC)
    if readonly:
        _mount(libc, None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_REC)


def _build_root(spec: Spec) -> None:
    libc = _libc()
    new = spec.root.rstrip("/")
    lim = spec.limits
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    _mount(libc, "tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m,mode=755")
    # the scratch tmpfs first: a checkout or venv that lives under /tmp is bound on top of it
    owner = f",uid={spec.uid},gid={spec.uid}" if spec.mode == "root" else ""
    for path, size, mode in ((HOME, lim.home_mb, "700"), ("/tmp", lim.tmp_mb, "1777"),
                             ("/dev/shm", lim.shm_mb, "1777")):
        os.makedirs(new + path, exist_ok=True)
        extra = owner if path == HOME else ""
        _mount(libc, "tmpfs", new + path, "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={size}m,mode={mode}{extra}")
    for path in spec.ro:
        _bind(libc, path, new, readonly=True)
    os.makedirs(new + "/dev", exist_ok=True)
    for name in DEVICES:
        _bind(libc, f"/dev/{name}", new, readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{new}/dev/{name}")
    for path in spec.rw:  # after the tmpfs mounts: it may live under /tmp
        _bind(libc, path, new, readonly=False)
    os.makedirs(new + "/proc", exist_ok=True)
    _mount(libc, "proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if spec.mode == "root":
        for path in spec.rw:  # the kernel's connection file and socket folder
            for dirpath, _dirs, files in os.walk(path):
                os.chown(dirpath, spec.uid, spec.uid)
                for f in files:
                    os.chown(os.path.join(dirpath, f), spec.uid, spec.uid)
    _mount(libc, None, new, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    os.chroot(new)
    os.chdir(HOME)


def _set_limits(lim: Limits, mode: str) -> None:
    import resource

    mb = 2**20
    wanted = [
        (resource.RLIMIT_CPU, lim.cpu_seconds, lim.cpu_seconds + 5),
        (resource.RLIMIT_AS, lim.address_space_mb * mb, lim.address_space_mb * mb),
        (resource.RLIMIT_FSIZE, lim.file_size_mb * mb, lim.file_size_mb * mb),
        (resource.RLIMIT_NOFILE, lim.open_files, lim.open_files),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if mode == "root":  # per uid: meaningful only when the job has a uid of its own
        wanted.append((resource.RLIMIT_NPROC, lim.processes, lim.processes))
    for which, soft, hard in wanted:
        _, old_hard = resource.getrlimit(which)
        if old_hard != resource.RLIM_INFINITY:
            hard = min(hard, old_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))


def _drop_privileges(spec: Spec) -> None:
    if spec.mode == "root":
        os.setgroups([])
        os.setresgid(spec.uid, spec.uid, spec.uid)
        os.setresuid(spec.uid, spec.uid, spec.uid)
        if os.getuid() == 0 or os.geteuid() == 0:
            raise OSError("could not drop root")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS)")


def sandbox_env(environ) -> dict[str, str]:
    env = {k: v for k, v in environ.items()
           if k in ENV_KEEP or (k.startswith("COURSE_") and k != ENV_VAR)}
    env.update({"HOME": HOME, "TMPDIR": "/tmp", "USER": "student", "LOGNAME": "student",
                "IPYTHONDIR": f"{HOME}/.ipython", "MPLCONFIGDIR": f"{HOME}/.matplotlib",
                "XDG_CACHE_HOME": f"{HOME}/.cache", "PYTHONDONTWRITEBYTECODE": "1",
                "HF_HOME": f"{HOME}/.cache/huggingface"})
    env.setdefault("PATH", "/usr/bin:/bin")
    return env


def _inner(argv: list[str]) -> int:
    spec = Spec.from_env(os.environ[ENV_VAR])
    env = sandbox_env(os.environ)
    _build_root(spec)
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            _set_limits(spec.limits, spec.mode)
            _drop_privileges(spec)
            os.execvpe(argv[0], argv, env)
        except BaseException as e:  # noqa: BLE001 - report anything, never run unisolated
            os.write(2, f"sandbox: {e}\n".encode())
        os._exit(127)

    def forward(signum, _frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, forward)
    while True:  # PID 1: reap every orphan until the command itself ends
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == child:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)


def _run(argv: list[str]) -> int:
    text = os.environ.get(ENV_VAR)
    if not text:
        print(f"sandbox: ${ENV_VAR} is not set; refusing to run student code", file=sys.stderr)
        return 126
    spec = Spec.from_env(text)
    if spec.mode == "none":  # the instructor allowed it: limits only
        _set_limits(spec.limits, "none")
        os.execvp(argv[0], argv)
    flags = ["--mount", "--pid", "--net", "--fork", "--kill-child"]
    if spec.mode == "userns":
        flags = ["--user", "--map-root-user", *flags]
    unshare = shutil.which("unshare") or "unshare"
    os.execv(unshare, [unshare, *flags, sys.executable, "-m", "autograder.sandbox", "inner",
                       "--", *argv])
    return 127  # not reached


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 3 and argv[0] in ("run", "inner") and argv[1] == "--":
        return _run(argv[2:]) if argv[0] == "run" else _inner(argv[2:])
    if argv == ["probe"]:
        mode, text = probe()
        print(f"{mode or 'none'}: {text}")
        return 0 if mode else 1
    print("usage: python -m autograder.sandbox run -- COMMAND... | probe", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
