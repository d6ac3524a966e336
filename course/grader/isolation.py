"""OS isolation for a submission's code: every process it starts runs inside bubblewrap.

Both the learner's kernel (kernel.py) and each task's scoring process (sandbox.py) are started
through ``command()``, which gives them

* a read-only view of only what Python needs: /usr, /etc, the Python installation, the venv's
  site-packages -- resolved from the grader's own ``sys.path`` at start-up, skipping any entry
  that holds a checkout of the course (``solutions/``, ``course/grader``, ``engine``), so an
  editable install pointing at another checkout is never visible;
* a private tmpfs as ``/tmp`` and as the writable scratch dir ``/sandbox`` (size-capped);
* no network, its own PID, IPC and UTS namespaces (every descendant, ``setsid`` daemons too, dies
  with it), no further user namespaces, an empty environment but for what we set;
* rlimits: address space, processes, file size, CPU time, no core files;
* a uid that cannot signal the grader: as root we drop to a fresh unprivileged uid per run
  before starting bwrap (so RLIMIT_NPROC counts that run only); either way the grader's PID is
  not visible from inside the sandbox's PID namespace.

The solutions, the tests, the grader's code and its references are never mounted. The kernel
gets the engine and ``course`` with ``course/grader`` replaced by a stub (see ``COURSE_VIEW``).
Where bwrap is missing, ``available()`` says why; the runner then refuses to grade unless the
caller opted out (``Options.unsafe_no_isolation``), which runs the same commands unwrapped.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRATCH = "/sandbox"  # the writable dir inside; /tmp is a second, separate tmpfs
COURSE_VIEW = "/course"  # the kernel's read-only view of engine/, data/ and course/ (no grader)
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap, or "
                "scripts/system-deps.sh bubblewrap as root)")
_SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
_CHECKOUT_MARKERS = ("solutions", "course/grader", "engine/__init__.py")

# Run outside the sandbox just before bwrap: limits, then the unprivileged uid, then exec.
_LAUNCHER = """\
import json, os, resource, sys
spec = json.loads(sys.argv[1])
for name, value in spec["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
if spec["uid"] is not None:
    os.setgroups([])
    os.setgid(spec["uid"])
    os.setuid(spec["uid"])
os.execv(sys.argv[2], sys.argv[2:])
"""


@dataclass(frozen=True)
class Jail:
    """Limits for one sandboxed process tree."""

    memory_mb: int = 1024  # address space of each process (RLIMIT_AS)
    cpu_s: int = 30  # CPU seconds of each process
    file_mb: int = 16  # largest file it may write
    nproc: int = 128  # processes + threads of the run's uid (enforced when we are root)
    scratch_mb: int = 128  # size of /sandbox and of /tmp (each a tmpfs)


def _is_checkout(path: Path) -> bool:
    return any((path / marker).exists() for marker in _CHECKOUT_MARKERS)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@cache
def python_paths() -> tuple[str, ...]:
    """The directories the grader's Python needs, resolved once (first call, at start-up)."""
    found = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
             Path(sys.executable).resolve().parent}
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    for entry in sys.path:  # only installations: not the cwd or a script's folder, not a repo
        path = Path(entry or ".").resolve()
        installed = path.name in ("site-packages", "dist-packages") or any(
            _inside(path, prefix) for prefix in prefixes)
        if installed and path.is_dir() and not _is_checkout(path):
            found.add(path)
    # drop what a mounted parent already shows, and what /usr etc. show anyway
    kept = sorted(p for p in found if not any(_inside(p, Path(s)) for s in _SYSTEM))
    return tuple(str(p) for p in kept if not any(q != p and _inside(p, q) for q in kept))


@cache
def available() -> str | None:
    """None when bwrap works here; else why not (and how to fix it)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return f"the isolation tool bwrap is not installed: {INSTALL_HINT}"
    probe = command(["/bin/true"], Jail(), uid=new_uid())
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30, env={})
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap could not be started ({err})"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()[:300]
        return (f"bwrap is installed but cannot create a sandbox here ({why}); user namespaces "
                "may be disabled (sysctl kernel.unprivileged_userns_clone / "
                "user.max_user_namespaces)")
    return None


def new_uid() -> int | None:
    """A fresh unprivileged uid for one run when we are root (else None: keep our own)."""
    return 200_000 + secrets.randbelow(1_000_000_000) if os.geteuid() == 0 else None


_STUB_INIT = '''"""A stand-in for the grader inside a sandbox: its code is not visible."""
VERSION = "sandbox"
'''
_STUB_CHECKS = '''"""A stand-in for the check cells while grading: the grader scores tasks."""


def check(task_id, *objects, **options):
    print(f"check({task_id!r}): skipped while grading (the grader scores this task itself)")


def ready(*task_ids, **options):
    print("skipped while grading: this cell uses task code the grader judges itself")
    return False


def status(chapter, *args, **options):
    print(f"status({chapter!r}): skipped while grading (the grader's table is the status)")
'''


@cache
def _grader_stub() -> str:
    """A directory shown as course/grader in the kernel's view: no grader code, no refs."""
    import atexit
    import tempfile

    stub = tempfile.TemporaryDirectory(prefix="dcg-grader-stub-")
    atexit.register(stub.cleanup)
    os.chmod(stub.name, 0o755)
    Path(stub.name, "__init__.py").write_text(_STUB_INIT, encoding="utf-8")
    Path(stub.name, "checks.py").write_text(_STUB_CHECKS, encoding="utf-8")
    return stub.name


def _course_view() -> list[str]:
    args = []
    for part in ("engine", "course", "data"):
        if (REPO_ROOT / part).is_dir():
            args += ["--ro-bind", str(REPO_ROOT / part), f"{COURSE_VIEW}/{part}"]
    return args + ["--ro-bind", _grader_stub(), f"{COURSE_VIEW}/course/grader"]


def _mounts(binds: dict[str, str], course_view: bool) -> list[str]:
    args = []
    for path in _SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in python_paths():
        args += ["--ro-bind", path, path]
    if course_view:
        args += _course_view()
    data = os.environ.get("DCG_DATA")
    if data and os.path.isdir(data):
        args += ["--ro-bind", data, data]
    for src, dst in binds.items():
        args += ["--bind" if dst.startswith("rw:") else "--ro-bind", src, dst.removeprefix("rw:")]
    return _parents(args) + args


def _parents(mounts: list[str]) -> list[str]:
    """World-traversable parents for the mount points (bwrap would make them 0700)."""
    targets = [mounts[i + 2] for i, a in enumerate(mounts) if a in ("--ro-bind", "--bind")]
    parents = sorted({str(p) for t in targets for p in Path(t).parents if str(p) != "/"})
    return [arg for p in parents for arg in ("--perms", "0755", "--dir", p)]


def _limits(jail: Jail, uid: int | None) -> str:
    rlimits = {"RLIMIT_AS": jail.memory_mb * 2**20, "RLIMIT_CPU": jail.cpu_s,
               "RLIMIT_FSIZE": jail.file_mb * 2**20, "RLIMIT_CORE": 0}
    if uid is not None:
        rlimits["RLIMIT_NPROC"] = jail.nproc
    return json.dumps({"rlimits": rlimits, "uid": uid})


def command(argv: list[str], jail: Jail, *, uid: int | None = None, env: dict | None = None,
            binds: dict[str, str] | None = None, course_view: bool = False,
            cwd: str = SCRATCH + "/work") -> list[str]:
    """``argv`` run by the launcher inside bwrap. ``uid``: new_uid() (root only), which the
    launcher switches to after bwrap, running as root, has made the mounts; without it bwrap
    makes an unprivileged user namespace. ``binds``: host path -> path inside (prefix "rw:"
    for writable); ``course_view``: show engine/, data/ and a stub course/grader."""
    size = str(jail.scratch_mb * 2**20)
    args = [shutil.which("bwrap") or "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev",
            "--perms", "01777", "--size", size, "--tmpfs", "/tmp",
            "--perms", "0755", "--size", size, "--tmpfs", SCRATCH,
            "--perms", "0777", "--dir", SCRATCH + "/work"]
    if uid is None:  # not root: an unprivileged user namespace, and none further inside
        args += ["--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534"]
    args += _mounts(binds or {}, course_view)
    if uid is not None:  # only the launcher's setuid needs these; they are gone after it
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    args += ["--chdir", cwd, "--clearenv"]
    for key, value in (env or {}).items():
        args += ["--setenv", key, value]
    return args + ["--", *unwrapped(argv, jail, uid)]


def unwrapped(argv: list[str], jail: Jail, uid: int | None = None) -> list[str]:
    """``argv`` under the launcher's limits (and uid), without bwrap: used inside bwrap, and
    alone only for --unsafe-no-isolation (a learner grading their own notebook)."""
    return [sys.executable, "-I", "-S", "-c", _LAUNCHER, _limits(jail, uid), *argv]


def kill_tree(pid: int, wait_s: float = 10.0):
    """SIGKILL ``pid`` and every descendant (in a sandbox, ``setsid`` and double-forked daemons
    stay descendants: bwrap's init reaps them), then wait until all are gone."""
    import signal
    import time

    family = _descendants(pid) | {pid}
    for member in family:
        try:
            os.kill(member, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        alive = [m for m in family if _alive(m)]
        if not alive:
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found
