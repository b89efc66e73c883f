"""Landlock: let a process give up file, network and signal access for good.

Landlock is a Linux security module (kernel 5.13 and later) that any process,
privileged or not, can use to restrict itself and every process it starts.
This module calls its three system calls through ctypes. The grader applies it
between fork and exec of a worker. The worker and its children can then read
only the paths the grader lists and write only their scratch directory. They
can open no TCP connection and signal no process outside the sandbox.

Rights by ABI version (see the kernel's ``include/uapi/linux/landlock.h``):
version 1 file access, 2 file renaming across directories, 3 truncation,
4 TCP bind and connect, 5 device ioctl, 6 abstract Unix sockets and signals.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

# System call numbers are the same on every architecture since Linux 5.13.
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# File-system rights.
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
_ABI1_FS = (1 << 13) - 1  # EXECUTE through MAKE_SYM
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

# Rights that may be granted on a regular file, as opposed to a directory.
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

# Network rights (ABI 4) and scopes (ABI 6).
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1

READ_ONLY = EXECUTE | READ_FILE | READ_DIR


class LandlockError(OSError):
    """A Landlock system call failed."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    result = _libc.syscall(number, *args)
    if result < 0:
        error = ctypes.get_errno()
        raise LandlockError(
            error, f"Landlock system call {number}: {os.strerror(error)}"
        )
    return int(result)


def abi_version() -> int:
    """Return the kernel's Landlock ABI version, or 0 when Landlock is unavailable."""
    try:
        return _syscall(
            _SYS_CREATE_RULESET,
            None,
            ctypes.c_size_t(0),
            ctypes.c_uint32(_CREATE_RULESET_VERSION),
        )
    except LandlockError:
        return 0


def _handled_fs(abi: int) -> int:
    rights = _ABI1_FS
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict_self(
    read_paths: Iterable[str],
    write_paths: Iterable[str],
    *,
    abi: int,
    allow_tcp: bool = False,
) -> None:
    """Restrict this process and its future children for good.

    Args:
        read_paths: files and directories that stay readable and executable.
        write_paths: files and directories that stay fully usable.
        abi: the kernel's ABI version, from :func:`abi_version` (at least 1).
        allow_tcp: leave TCP alone, for programs such as Jupyter kernels that
            talk over loopback.

    Paths that do not exist are skipped. From ABI 4 on, TCP bind and connect
    are denied unless ``allow_tcp`` is set. From ABI 6 on, signals to
    processes outside the sandbox and their abstract Unix sockets are denied
    too.

    Raises:
        LandlockError: the kernel rejected the ruleset.
    """
    handled = _handled_fs(abi)
    attr = _RulesetAttr(handled_access_fs=handled)
    size = 8
    if abi >= 4:
        if not allow_tcp:
            attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset = _syscall(
        _SYS_CREATE_RULESET,
        ctypes.byref(attr),
        ctypes.c_size_t(size),
        ctypes.c_uint32(0),
    )
    try:
        for paths, rights in ((read_paths, READ_ONLY), (write_paths, handled)):
            for path in paths:
                _allow(ruleset, path, rights & handled)
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            error = ctypes.get_errno()
            raise LandlockError(
                error, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(error)}"
            )
        _syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        _syscall(
            _SYS_ADD_RULE,
            ctypes.c_int(ruleset),
            ctypes.c_int(_RULE_PATH_BENEATH),
            ctypes.byref(rule),
            ctypes.c_uint32(0),
        )
    finally:
        os.close(fd)
