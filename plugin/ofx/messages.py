"""Messages to the user through the host's message suite, and notices said once rather than per frame."""

from __future__ import annotations

import os
import sys
import threading

from segfuse import color
from segfuse.plugin.ofx.suites import SUITES
from segfuse.runtime import NodeDescriptor

TOLD: set[tuple[str, str]] = set()  # (effect id, notice) already posted in this process
_lock = threading.Lock()


def report(handle: int, text: str, kind: bytes = b"OfxMessageError") -> None:
    """Post a message through the host's message suite (and to stderr when the host has none, or
    when $SEGFUSE_OFX_LOG is set: some hosts show messages nowhere useful)."""
    suite = SUITES.get("message")
    if os.environ.get("SEGFUSE_OFX_LOG"):
        print(f"SegFuse: {text}", file=sys.stderr)
    if suite is not None:
        suite.message(handle, kind, b"SegFuse", text.replace("%", "%%").encode())
    elif not os.environ.get("SEGFUSE_OFX_LOG"):
        print(f"SegFuse: {text}", file=sys.stderr)


def tell_once(d: NodeDescriptor, handle: int, text: str, kind: bytes = b"OfxMessageWarning") -> None:
    """Post a notice once per effect type and text in this process: never per frame, even on hosts that
    create an instance per frame."""
    key = (d.id, text)
    with _lock:
        if key in TOLD:
            return
        TOLD.add(key)
    report(handle, f"{d.label}: {text}", kind)


def tell_colour_config_once(d: NodeDescriptor, handle: int) -> None:
    """Say once that the host's $OCIO was unusable and SegFuse's own config is in use."""
    warning = color.config_warning()
    if warning:
        tell_once(d, handle, warning)
