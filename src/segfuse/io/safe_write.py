"""The one way SegFuse writes a file: never over an input, verified, then renamed into place.

Every output (sequence frames, movies, graph files, job templates, reports, analysis files) goes
through ``atomic_output`` (or ``write_bytes_atomic`` / ``write_text_atomic``):

1. the target must not be one of the job's inputs (compared by identity on disk, so relative
   paths, symlinks and hard links all match; a sequence pattern stands for its frames on disk);
2. the folder is created if needed and must be writable;
3. the data goes to a hidden temporary in the same folder, which is flushed and fsynced;
4. what landed on disk is checked (not empty, the expected size, or a caller's ``verify`` such as
   decoding an image back), and only then renamed over the target (atomic on one filesystem);
5. an OS error (disk full, permission denied, read-only filesystem) becomes one ``OutputError``
   line naming the file; the temporary is removed, an existing target is left untouched.

A job's inputs can be given per call (``inputs=``) or for a whole render with ``protect_inputs``.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from segfuse.errors import SegFuseError
from segfuse.io.atomic import temporary_path
from segfuse.io.frames import frame_path, is_pattern, scan_frames

PathLike = str | os.PathLike


class OutputError(SegFuseError):
    """A file could not be written (or would replace an input). ``exit_code`` is 2 when found
    before anything rendered (a bad output path), 1 when a render fails on it."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "the file is too large for this filesystem (or a file-size limit)",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the filesystem is read-only",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "a part of the folder path is a file",
    errno.EISDIR: "it is a folder",
    errno.EIO: "input/output error",
}


def describe_os_error(exc: OSError) -> str:
    """A short reason for an OS error ('no space left on the device', ...)."""
    return _REASONS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()


class ProtectedFiles:
    """The files a job reads, by identity on disk (device, inode), to refuse writing over them."""

    def __init__(self, paths: Iterable[PathLike] = ()) -> None:
        self._ids: dict[tuple[int, int], Path] = {}
        for path in paths:
            self.add(path)

    def add(self, path: PathLike) -> None:
        """Protect ``path`` (a sequence pattern protects every frame of it on disk)."""
        text = os.fspath(path)
        files = [frame_path(text, t) for t in scan_frames(text)] if is_pattern(text) else [Path(text)]
        for file in files:
            try:
                st = os.stat(file)  # follows symlinks: a link and its target are one file
            except OSError:
                continue
            self._ids.setdefault((st.st_dev, st.st_ino), Path(file))

    def match(self, target: PathLike) -> Path | None:
        """The protected input that ``target`` is (same file on disk), or None."""
        try:
            st = os.stat(target)
        except OSError:
            return None
        return self._ids.get((st.st_dev, st.st_ino))

    def __bool__(self) -> bool:
        return bool(self._ids)


_job_inputs: contextvars.ContextVar[ProtectedFiles | None] = contextvars.ContextVar(
    "segfuse_job_inputs", default=None)


@contextmanager
def protect_inputs(inputs: Iterable[PathLike] | ProtectedFiles) -> Iterator[ProtectedFiles]:
    """Within this block every write through this module also refuses to replace ``inputs``."""
    protected = inputs if isinstance(inputs, ProtectedFiles) else ProtectedFiles(inputs)
    token = _job_inputs.set(protected)
    try:
        yield protected
    finally:
        _job_inputs.reset(token)


def refuse_inputs(target: PathLike, inputs: Iterable[PathLike] | ProtectedFiles | None = None,
                  exit_code: int = 2) -> None:
    """Raise OutputError if writing ``target`` would replace one of ``inputs`` or the job's inputs."""
    for protected in (inputs, _job_inputs.get()):
        if protected is None:
            continue
        if not isinstance(protected, ProtectedFiles):
            protected = ProtectedFiles(protected)
        hit = protected.match(target)
        if hit is not None:
            same = os.path.abspath(target) == os.path.abspath(hit)
            raise OutputError(f"{target}: refusing to overwrite a file this job reads{'' if same else f' ({hit})'}; "
                              "choose another path", exit_code)


def check_writable_folder(target: PathLike, exit_code: int = 2) -> Path:
    """Create ``target``'s folder if needed and prove a file can be created there (a real probe:
    permission bits say nothing for root, nor for a read-only mount). Returns the folder."""
    folder = Path(target).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = temporary_path(Path(target))
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):  # a farm chunk's cleanup may have taken it already
            os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write to the folder {folder}: {describe_os_error(exc)}",
                          exit_code) from None
    if Path(target).is_dir():
        raise OutputError(f"{target}: is a folder; give a file name", exit_code)
    return folder


def _nearly_full(folder: Path, margin: int = 256 * 1024) -> bool:
    """Whether the filesystem holding ``folder`` has (almost) no space left for us."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < margin


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot sync a directory; the rename itself is still atomic
    finally:
        os.close(fd)


@contextmanager
def atomic_output(
    target: PathLike,
    *,
    inputs: Iterable[PathLike] | ProtectedFiles | None = None,
    expected_size: int | None = None,
    verify: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` to write; on success it is fsynced, checked
    (non-empty, ``expected_size`` bytes, ``verify(tmp)`` raising on bad content) and renamed over
    ``target``. On any failure the temporary is removed and ``target`` left as it was; OS errors
    become one ``OutputError`` line."""
    target = Path(target)
    refuse_inputs(target, inputs, exit_code=1)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{target}: cannot create the folder {target.parent}: {describe_os_error(exc)}") from None
    tmp = temporary_path(target)
    try:
        try:
            yield tmp
        except OutputError:
            if _nearly_full(target.parent):  # a codec's own words for a full disk ("File output failed")
                raise OutputError(f"cannot write {target}: {_REASONS[errno.ENOSPC]} (nothing was replaced)") from None
            raise
        if not tmp.is_file():
            raise OutputError(f"{target}: the writer produced no file")
        _fsync(tmp)
        size = tmp.stat().st_size
        try:
            if size == 0 or (expected_size is not None and size != expected_size):
                want = f"{expected_size} bytes" if expected_size is not None else "data"
                raise OutputError(f"cannot write {target}: wrote {size} bytes where {want} was expected "
                                  "(disk full or the writer failed); nothing was replaced")
            if verify is not None:
                verify(tmp)
        except OutputError:
            if _nearly_full(target.parent):  # codec libraries often drop the ENOSPC they hit: name it
                raise OutputError(f"cannot write {target}: {_REASONS[errno.ENOSPC]} (the file on disk is "
                                  "incomplete and was removed; nothing was replaced)") from None
            raise
        os.replace(tmp, target)
        _fsync_folder(target.parent)
    except OSError as exc:
        _remove(tmp)
        raise OutputError(f"cannot write {target}: {describe_os_error(exc)}") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(target: PathLike, data: bytes, *,
                       inputs: Iterable[PathLike] | ProtectedFiles | None = None) -> Path:
    """Write ``data`` to ``target`` through ``atomic_output`` (size checked before the rename)."""
    with atomic_output(target, inputs=inputs, expected_size=len(data)) as tmp, open(tmp, "wb") as f:
        f.write(data)  # closed (flushed) before atomic_output fsyncs, checks and renames it
    return Path(target)


def write_text_atomic(target: PathLike, text: str, *,
                      inputs: Iterable[PathLike] | ProtectedFiles | None = None) -> Path:
    """Write UTF-8 ``text`` to ``target`` through ``atomic_output``."""
    return write_bytes_atomic(target, text.encode("utf-8"), inputs=inputs)
