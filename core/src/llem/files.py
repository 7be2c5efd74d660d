"""Atomic file writes: a crash never leaves a half-written file behind; readers see the old file or
the new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder, fsync and os.replace.

    The file gets the usual 0644 (less the umask): results and study files are meant to be shared, and a bare
    mkstemp file would be 0600.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o644 & ~UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def writable_dir_problem(path: str | Path) -> str | None:
    """Why results cannot be written under `path` (a folder, created later if missing), or None if they can.

    Probes the nearest existing folder with a real temp file (permissions, read-only mounts, a file in the
    way), creating nothing that stays behind.
    """
    target = Path(path).expanduser()
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            return f"{target}: no existing parent folder"
        probe = probe.parent
    if not probe.is_dir():
        return f"{target}: {probe} is not a folder"
    try:
        with tempfile.TemporaryFile(dir=probe, prefix=".llem-probe-"):
            pass
    except OSError as exc:
        return f"{target}: cannot write in {probe} ({exc.strerror or exc})"
    return None


def fallback_dir() -> Path:
    """Where a finished result goes when its own output folder cannot be written: $LLEM_FALLBACK_DIR, else
    a folder `llem-unsaved` in the system temp folder."""
    return Path(os.environ.get("LLEM_FALLBACK_DIR") or Path(tempfile.gettempdir()) / "llem-unsaved")
