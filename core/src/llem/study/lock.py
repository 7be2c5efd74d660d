"""The study-folder lock: one `llem study run` per study folder, held by the OS for the runner's life.

`fcntl.flock` on `<study>/study.lock`: the kernel drops it when the process exits, however it exits (SIGKILL
included), so a dead runner never leaves a stale lock behind. The file also says who holds it (pid, host,
start time, command line) so a refused runner can name the holder. On NFS, Linux emulates flock with POSIX
byte-range locks, which the NFS lock manager keeps consistent across the nodes that mount the folder."""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

import msgspec

from llem.errors import UserError
from llem.study.manifest import now_iso

LOCK_FILE = "study.lock"


class LockHolder(msgspec.Struct, kw_only=True):
    """Who holds a study folder's lock."""

    pid: int
    host: str
    started_at: str
    command: str = ""

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, since {self.started_at}"


class StudyLocked(UserError):
    """Another `llem study run` holds this study folder."""


def read_holder(study_dir: str | Path) -> LockHolder | None:
    """Who holds (or last held) the lock of `study_dir`, from the lock file; None when unknown."""
    try:
        return msgspec.json.decode((Path(study_dir) / LOCK_FILE).read_bytes(), type=LockHolder)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def is_locked(study_dir: str | Path) -> bool:
    """Whether a live process holds the lock of `study_dir` (probed without taking it for long)."""
    path = Path(study_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _try_exclusive(fd: int, *, tries: int = 10, wait_s: float = 0.05) -> bool:
    """Take the exclusive lock without blocking; a few short retries ride out `llem study status`, which holds
    a shared lock for an instant while it looks."""
    for i in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if i + 1 < tries:
                time.sleep(wait_s)
    return False


class StudyLock:
    """Exclusive lock on a study folder for as long as the `with` block (or the process) lasts."""

    def __init__(self, study_dir: str | Path) -> None:
        self.study_dir = Path(study_dir)
        self.path = self.study_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> StudyLock:
        """Take the lock or raise StudyLocked naming the holder (one line, exit status 2)."""
        self.study_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_exclusive(fd):
            os.close(fd)
            holder = read_holder(self.study_dir)
            who = holder.describe() if holder is not None else "another process"
            raise StudyLocked(
                f"another `llem study run` is using this study folder ({who}); wait for it to finish or "
                "stop it, then run again",
                source=str(self.study_dir),
            ) from None
        holder = LockHolder(
            pid=os.getpid(), host=socket.gethostname(), started_at=now_iso(), command=" ".join(sys.argv)
        )
        # Written in place (not renamed over): the lock belongs to this inode.
        os.ftruncate(fd, 0)
        os.pwrite(fd, msgspec.json.encode(holder) + b"\n", 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> StudyLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
