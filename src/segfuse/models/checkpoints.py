"""Loading checkpoints safely: ``torch.load(weights_only=True)`` and strict, explained key checks."""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from segfuse.models.weights import WeightsError


def read_state_dict(path: str | Path, prefixes: tuple[str, ...] = ("module.",),
                    containers: tuple[str, ...] = ("state_dict",)) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint, with a DataParallel ``module.`` prefix removed; never unpickles code."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if found:
            raise WeightsError(f"{path}: refused to load: it holds more than tensors "
                               f"(a pickled {found.group(1)}, which could run code)") from None
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint (corrupt, or a pickle of other "
                           "objects, which is never loaded)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {first}") from None
    for key in containers:
        if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
            data = data[key]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsError(f"{path}: not a state dict of tensors")
    out = {}
    for key, value in data.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        out[key] = value
    return out


def load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path, network: str) -> nn.Module:
    """Load ``state`` into ``model``; a wrong file is one line listing what does not match."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {few(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {few(unexpected)}")
        raise WeightsError(f"{path}: not a {network} checkpoint: " + "; ".join(parts))
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise WeightsError(f"{path}: not a {network} checkpoint: '{key}' has shape "
                               f"{tuple(state[key].shape)}, expected {tuple(value.shape)}")
    model.load_state_dict(dict(state), strict=True)
    return model
