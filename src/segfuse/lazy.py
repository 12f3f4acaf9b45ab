"""Modules imported on first use, so that declaring and listing nodes stays fast.

``cv2 = lazy_module("cv2")`` binds a stand-in that imports OpenCV the first time one of its
names is looked up (a render), not when the module holding it is imported (``segfuse nodes``,
``segfuse describe``). Each name is then kept on the stand-in, so later look-ups cost what a
module attribute costs.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class _LazyModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        value = getattr(importlib.import_module(self.__name__), attr)
        setattr(self, attr, value)
        return value


def lazy_module(name: str) -> Any:
    """A stand-in for the module ``name`` that imports it on first attribute look-up."""
    return _LazyModule(name)
