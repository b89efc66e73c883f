"""Decide how to wall off a worker process, with what this machine offers.

Protections, strongest first:

* Landlock (Linux 5.13+, any user): the worker reads only the Python
  installation, the framework and its own script, and writes only its scratch
  directory. From ABI 4 it opens no TCP connection, and from ABI 6 it signals
  no process outside the sandbox.
* As root: new PID and network namespaces (``unshare``), so the worker has no
  network and every process it starts dies with it, and an unprivileged uid.
  If that uid cannot run the interpreter (a Python under a private home
  directory, say), the worker stays uid 0 with an empty capability set.
* Without root: the same namespaces inside a user namespace, where the kernel
  allows unprivileged user namespaces.
* A process limit: a ``pids`` control group of its own per worker (cgroup v1,
  or v2 where the grader may create child groups), so a fork bomb stops at
  ``Limits.max_processes``. ``RLIMIT_NPROC`` counts every process of a uid, so
  it serves only when the worker has a uid of its own.

:func:`detect` probes once per process and logs each protection it cannot
have, and why; grading goes on without it.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from minitorch_grading import landlock

log = logging.getLogger(__name__)

WORKER_DIR = Path(__file__).parent / "worker"
# sys.executable is relative when Python was found through a relative PATH
# entry such as ".venv/bin"; it would name nothing in another working directory.
PYTHON = os.path.abspath(sys.executable)
UNPRIVILEGED_UID = 65534  # "nobody" on Debian, Ubuntu, Fedora and Alpine
PROBE_SECONDS = 20


@dataclass(frozen=True)
class Isolation:
    """Wrapper command, Landlock ABI and uid for starting workers on this machine."""

    wrapper: tuple[str, ...]
    landlock_abi: int
    uid: int | None
    missing: tuple[str, ...]
    pids_cgroup_root: str | None = None

    def read_paths(self) -> list[str]:
        """Paths a worker may read: the interpreter, its packages, the worker."""
        import numpy

        import minitorch

        paths = {
            "/usr",
            "/lib",
            "/lib32",
            "/lib64",
            "/bin",
            "/sbin",
            "/etc",
            "/dev/urandom",
            "/dev/random",
            "/dev/zero",
            "/sys/devices/system/cpu",
            sys.prefix,
            sys.base_prefix,
            sys.exec_prefix,
            str(WORKER_DIR),
            str(Path(numpy.__file__).parent.parent),
            str(Path(minitorch.__file__).parent),
            *site.getsitepackages(),
        }
        return sorted(paths)


def _probe(command: list[str]) -> str | None:
    """Run ``command``; return None on success, else why it failed."""
    try:
        completed = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PROBE_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if completed.returncode != 0:
        return (
            completed.stderr.strip().splitlines()[-1]
            if completed.stderr.strip()
            else (f"exit status {completed.returncode}")
        )
    return None


PIDS_CGROUP_ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")


def _pids_cgroup_root() -> tuple[str | None, str]:
    """Find a cgroup directory under which the grader may create groups with a
    process limit; return it, or None and the reason there is none."""
    reasons = []
    for root in PIDS_CGROUP_ROOTS:
        path = Path(root)
        if root == "/sys/fs/cgroup" and not (path / "cgroup.controllers").exists():
            continue  # not cgroup v2
        if (
            root == "/sys/fs/cgroup"
            and "pids" not in (path / "cgroup.subtree_control").read_text()
        ):
            reasons.append("cgroup v2 does not delegate the pids controller")
            continue
        probe = path / f"minitorch-probe-{os.getpid()}"
        try:
            probe.mkdir()
            try:
                (probe / "pids.max").write_text("1\n")
            finally:
                probe.rmdir()
        except OSError as error:
            reasons.append(f"{root}: {error.strerror or error}")
            continue
        return root, ""
    return None, "; ".join(reasons) or "no pids cgroup controller is mounted"


@functools.cache
def detect(uid: int = UNPRIVILEGED_UID) -> Isolation:
    """Probe this machine once and return the strongest isolation it allows."""
    missing = []
    abi = landlock.abi_version()
    if abi == 0:
        missing.append(
            "Landlock: the kernel does not offer it, so the worker can read and write "
            "every file the grader's user can"
        )
    elif abi < 4:
        missing.append(
            f"Landlock network rules: kernel ABI {abi} predates them (ABI 4)"
        )

    # Each stage is a command that runs the next one after its "--".
    stages: list[list[str]] = []
    worker_uid = None
    unshare = shutil.which("unshare")
    python = [PYTHON, "-I", "-c", "pass"]
    namespaces = ["--pid", "--fork", "--kill-child", "--net"]

    if unshare is None:
        missing.append(
            "PID and network namespaces: the unshare command is not installed"
        )
    elif os.geteuid() == 0:
        reason = _probe([unshare, *namespaces, "--", *python])
        if reason:
            missing.append(f"PID and network namespaces: unshare failed ({reason})")
            namespaces = []

        drop = ["--setuid", str(uid), "--setgid", str(uid)]
        reason = _probe([unshare, *drop, "--", *python])
        if reason is None:
            worker_uid = uid
            stages.append([unshare, *namespaces, *drop])
        else:
            missing.append(
                f"an unprivileged user: uid {uid} cannot run {PYTHON} "
                f"({reason}), so the worker runs as uid 0 without capabilities"
            )
            if namespaces:
                stages.append([unshare, *namespaces])
            setpriv = shutil.which("setpriv")
            no_caps = ["--bounding-set=-all", "--inh-caps=-all"]
            if setpriv and _probe([setpriv, *no_caps, "--", *python]) is None:
                stages.append([setpriv, *no_caps])
            else:
                missing.append("dropping capabilities: setpriv is missing or failed")
    else:
        user = ["--user", "--map-root-user", *namespaces]
        reason = _probe([unshare, *user, "--", *python])
        if reason:
            missing.append(
                "PID and network namespaces: unprivileged user namespaces are "
                f"unavailable ({reason})"
            )
        else:
            stages.append([unshare, *user])

    pids_root, reason = _pids_cgroup_root()
    if pids_root is None and worker_uid is None:
        missing.append(
            f"a process limit: no pids cgroup can be created ({reason}) and the "
            "worker has no uid of its own for RLIMIT_NPROC"
        )

    wrapper = [word for stage in stages for word in (*stage, "--")]
    isolation = Isolation(
        tuple(wrapper), abi, worker_uid, tuple(missing), pids_cgroup_root=pids_root
    )
    for item in isolation.missing:
        log.warning("worker isolation without %s", item)
    log.info(
        "worker isolation: Landlock ABI %d, wrapper %s, uid %s, pids cgroup %s",
        abi,
        " ".join(isolation.wrapper) or "none",
        "unchanged" if worker_uid is None else worker_uid,
        pids_root or "none",
    )
    return isolation
