"""``segfuse models``: what the registry knows, what is installed, importing and verifying files."""

from __future__ import annotations

import shutil
from pathlib import Path

from segfuse.io.atomic import atomic_output
from segfuse.models.fetch import expected_digest
from segfuse.models.weights import REGISTRY, WeightsEntry, WeightsError, models_dir, search_dirs, sha256_of


def _loader(network: str):
    if network == "modnet":
        from segfuse.models.modnet_runtime import load_modnet

        return load_modnet
    if network == "pirender":
        from segfuse.models.pirender_runtime import load_pirender

        return load_pirender
    if network in ("alexnet", "vgg16"):
        from segfuse.models.lpips import LPIPS

        return lambda path: LPIPS("alex" if network == "alexnet" else "vgg", path)
    if network == "mtcnn":
        from segfuse.models.face_detector import load_networks

        return load_networks
    raise WeightsError(f"no loader for network '{network}'")


def _installed(entry: WeightsEntry) -> Path | None:
    return next((d / entry.filename for d in search_dirs() if (d / entry.filename).is_file()), None)


def list_models() -> int:
    print(f"models folder: {models_dir()}")
    for entry in REGISTRY.values():
        path = _installed(entry)
        state = f"installed at {path}" if path else "not installed"
        print(f"{entry.name:22s} {entry.filename:44s} {entry.licence:12s} {state}")
        print(f"{'':22s} {entry.description}; source: {entry.source}")
    return 0


def import_model(path: Path, name: str | None) -> int:
    """Check ``path`` loads as its network, then copy it (atomically) into the models folder."""
    if name is None:
        matches = [e for e in REGISTRY.values() if e.filename == path.name]
        if not matches:
            known = ", ".join(REGISTRY)
            raise WeightsError(f"{path.name} is not a registry file name; say which with --as ({known})")
        entry = matches[0]
    elif name in REGISTRY:
        entry = REGISTRY[name]
    else:
        raise WeightsError(f"no registry entry '{name}' (entries: {', '.join(REGISTRY)})")
    _loader(entry.network)(path)
    target = models_dir() / entry.filename
    with atomic_output(target) as tmp:
        shutil.copyfile(path, tmp)
    checksum = sha256_of(target)
    expected = expected_digest(entry)
    matches = expected is None or (checksum.startswith(expected[0]) if expected[1] else checksum == expected[0])
    note = "" if matches else " — WARNING: sha256 differs from the official file's"
    print(f"imported {entry.name} → {target} (sha256 {checksum}){note}")
    return 0


def verify_models() -> int:
    """Load each installed file; compare sha256 where the registry records one. Non-zero on failure."""
    failures = 0
    for entry in REGISTRY.values():
        path = _installed(entry)
        if path is None:
            print(f"{entry.name:22s} not installed")
            continue
        try:
            _loader(entry.network)(path)
        except WeightsError as exc:
            print(f"{entry.name:22s} FAILED: {exc}")
            failures += 1
            continue
        checksum = sha256_of(path)
        expected = expected_digest(entry)
        if expected is None:
            verdict = "loads; sha256 not recorded for the official file"
        elif checksum.startswith(expected[0]) if expected[1] else checksum == expected[0]:
            verdict = "loads; sha256 matches the official file" + (" (prefix in its name)" if expected[1] else "")
        else:
            verdict, failures = "loads, but sha256 differs from the official file", failures + 1
        print(f"{entry.name:22s} {verdict} ({path})")
    return 1 if failures else 0
