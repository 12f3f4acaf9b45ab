"""Keep codec libraries' own stderr lines (``libpng error: …``) out of SegFuse's one-line errors.

OpenImageIO reports a decode failure through ``geterror()``, which SegFuse turns into its one
line; libpng also prints to file descriptor 2 itself, and there is no OpenImageIO knob for that.
``native_stderr_captured`` points fd 2 at a temporary file for the duration of a block: if the
block fails, what the libraries printed is dropped (the exception carries the message); if it
succeeds, the text is passed on to stderr unchanged, so nothing else printed meanwhile is lost.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.RLock()


@contextmanager
def native_stderr_captured() -> Iterator[None]:
    """Capture file descriptor 2 within the block (re-entrant; process-wide, so keep it short)."""
    with _lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield  # no usable fd 2 (an embedding host): nothing to capture
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            failed = False
            try:
                yield
            except BaseException:
                failed = True
                raise
            finally:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                if not failed:
                    sink.seek(0)
                    text = sink.read()
                    if text:
                        os.write(2, text)
