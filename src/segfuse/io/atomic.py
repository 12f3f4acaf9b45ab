"""Atomic file output: write beside the target under a temporary name, then rename.

A render killed at any moment leaves either the old file, the complete new file, or a
hidden temporary that ``remove_stale_temporaries`` cleans up; never a truncated frame.
"""

from __future__ import annotations

import contextvars
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_MARK = ".segfuse-tmp-"

# Set while this render shares its output folders with other processes (a farm chunk): their
# temporaries are frames being written right now, not leftovers, so folder-wide cleanup is off.
_shared_folders: contextvars.ContextVar[bool] = contextvars.ContextVar("segfuse_shared_folders", default=False)


@contextmanager
def shared_output_folders() -> Iterator[None]:
    """Within this block ``remove_stale_temporaries`` leaves folders alone (other writers are live)."""
    token = _shared_folders.set(True)
    try:
        yield
    finally:
        _shared_folders.reset(token)


def temporary_path(target: Path) -> Path:
    """A hidden sibling of ``target`` that keeps its extension (writers pick the format from it)."""
    token = f"{os.getpid()}-{secrets.token_hex(3)}"
    return target.with_name(f".{target.stem}{TEMP_MARK}{token}{target.suffix}")


@contextmanager
def atomic_output(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target``, on error it is removed.
    Kept for callers that predate ``segfuse.io.safe_write``, which does the work (fsync, checks,
    input protection, one-line OS errors)."""
    from segfuse.io.safe_write import atomic_output as safe_atomic_output

    with safe_atomic_output(target) as tmp:
        yield tmp


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete temporaries left by killed renders in ``folder``; returns how many (none while the
    folder is shared with live writers, see ``shared_output_folders``)."""
    folder = Path(folder)
    if _shared_folders.get() or not folder.is_dir():
        return 0
    count = 0
    for entry in folder.iterdir():
        if entry.name.startswith(".") and TEMP_MARK in entry.name and entry.is_file():
            entry.unlink(missing_ok=True)
            count += 1
    return count
