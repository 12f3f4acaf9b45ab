"""Typed node parameters (OpenFX-style): each knows its default, range and how to check a value.

``coerce`` turns a value from a graph file, a command line or a host into the param's type,
or raises ``ParamError`` with a message that names what is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar


class ParamError(ValueError):
    """A value does not fit its param; the message says why (the runtime adds node and param)."""


@dataclass(frozen=True)
class Param:
    """Common fields; subclasses define ``kind`` and ``coerce``."""

    name: str
    default: Any = None
    label: str = ""
    help: str = ""
    kind: ClassVar[str] = "param"

    def coerce(self, value: Any) -> Any:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for hosts and ``segfuse describe``."""
        return {"name": self.name, "type": self.kind, "default": self.default,
                "label": self.label or self.name.replace("_", " ").title(), "help": self.help}


def _number(value: Any, integral: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value) if not integral else int(value, 10)
            except ValueError:
                raise ParamError(f"'{value}' is not a number") from None
        else:
            raise ParamError(f"{value!r} is not a number")
    if integral:
        if isinstance(value, float) and not value.is_integer():
            raise ParamError(f"{value} is not a whole number")
        return int(value)
    if not math.isfinite(value):
        raise ParamError(f"{value} is not finite")
    return float(value)


@dataclass(frozen=True)
class Double(Param):
    min: float | None = None
    max: float | None = None
    kind: ClassVar[str] = "double"

    def coerce(self, value: Any) -> float:
        v = float(_number(value, integral=False))
        if self.min is not None and v < self.min:
            raise ParamError(f"{v} is below the minimum {self.min}")
        if self.max is not None and v > self.max:
            raise ParamError(f"{v} is above the maximum {self.max}")
        return v

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"min": self.min, "max": self.max}


@dataclass(frozen=True)
class Int(Param):
    min: int | None = None
    max: int | None = None
    odd: bool = False
    kind: ClassVar[str] = "int"

    def coerce(self, value: Any) -> int:
        v = int(_number(value, integral=True))
        if self.min is not None and v < self.min:
            raise ParamError(f"{v} is below the minimum {self.min}")
        if self.max is not None and v > self.max:
            raise ParamError(f"{v} is above the maximum {self.max}")
        if self.odd and v % 2 == 0:
            raise ParamError(f"{v} is even; it must be odd")
        return v

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"min": self.min, "max": self.max, "odd": self.odd}


@dataclass(frozen=True)
class Bool(Param):
    kind: ClassVar[str] = "bool"

    def coerce(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ParamError(f"{value!r} is not true or false")


@dataclass(frozen=True)
class Choice(Param):
    options: tuple[str, ...] = ()
    kind: ClassVar[str] = "choice"

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.options:
            raise ParamError(f"{value!r} is not one of {', '.join(self.options)}")
        return value

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"options": list(self.options)}


@dataclass(frozen=True)
class String(Param):
    default: str = ""
    kind: ClassVar[str] = "string"

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ParamError(f"{value!r} is not a string")
        return value


@dataclass(frozen=True)
class FilePath(String):
    """A path; relative paths resolve against the graph file's folder."""

    mode: str = "read"  # "read" or "write"
    kind: ClassVar[str] = "file"

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"mode": self.mode}


@dataclass(frozen=True)
class Vector(Param):
    """A fixed number of floats (``size``), each within ``min``…``max``: the base of Point2D, Rect and
    Color. Hosts test ``isinstance(param, Vector)`` to show these as several number fields or a string."""

    size: ClassVar[int] = 2
    min: float | None = None
    max: float | None = None

    def coerce(self, value: Any) -> tuple[float, ...]:
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, (list, tuple)) or len(value) != self.size:
            raise ParamError(f"{value!r} is not a list of {self.size} numbers")
        out = tuple(float(_number(v, integral=False)) for v in value)
        for v in out:
            if (self.min is not None and v < self.min) or (self.max is not None and v > self.max):
                raise ParamError(f"{v} is outside {self.min}…{self.max}")
        return out

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"min": self.min, "max": self.max}


@dataclass(frozen=True)
class Point2D(Vector):
    kind: ClassVar[str] = "point2d"
    size: ClassVar[int] = 2


@dataclass(frozen=True)
class Rect(Vector):
    """(x0, y0, x1, y1) as fractions of the frame; all zeros means 'not set'."""

    default: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    kind: ClassVar[str] = "rect"
    size: ClassVar[int] = 4

    def coerce(self, value: Any) -> tuple[float, ...]:
        out = super().coerce(value)
        if any(out) and (out[2] <= out[0] or out[3] <= out[1]):
            raise ParamError(f"{list(out)} is not a rectangle (x0 < x1 and y0 < y1)")
        return out


@dataclass(frozen=True)
class Color(Vector):
    kind: ClassVar[str] = "color"
    size: ClassVar[int] = 3


@dataclass(frozen=True)
class ParamValues:
    """Read-only param values for one node, by attribute (``p.window``) or key (``p["window"]``)."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


STROKE_LABELS = ("fg", "bg", "erase")


@dataclass(frozen=True)
class Stroke:
    """One paint stroke: a polyline with a label and a brush radius.

    ``points`` are (x, y) fractions of the frame's width and height (so a stroke survives a
    proxy resolution); ``radius`` is a fraction of the frame's short side. ``fg``/``bg`` force
    pixels to person/background; ``erase`` gives painted pixels back to the node's own solve.
    """

    label: str
    radius: float
    points: tuple[tuple[float, float], ...]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "radius": self.radius, "points": [list(p) for p in self.points]}


def _stroke(value: Any, where: str) -> Stroke:
    if not isinstance(value, dict):
        raise ParamError(f"{where}: expected an object with label, radius, points")
    unknown = sorted(set(value) - {"label", "radius", "points"})
    if unknown:
        raise ParamError(f"{where}: unknown field '{unknown[0]}' (allowed: label, points, radius)")
    label = value.get("label")
    if label not in STROKE_LABELS:
        raise ParamError(f"{where}: label {label!r} is not one of {', '.join(STROKE_LABELS)}")
    radius = _number(value.get("radius"), integral=False)
    if not 0.0 < radius <= 0.5:
        raise ParamError(f"{where}: radius {radius} is outside (0, 0.5] (a fraction of the short side)")
    points = value.get("points")
    if not isinstance(points, (list, tuple)) or not points:
        raise ParamError(f"{where}: points must be a non-empty list of [x, y] pairs")
    out = []
    for i, point in enumerate(points):
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise ParamError(f"{where}: point {i} is not an [x, y] pair")
        x, y = (float(_number(v, integral=False)) for v in point)
        if not (-1.0 <= x <= 2.0 and -1.0 <= y <= 2.0):
            raise ParamError(f"{where}: point {i} ({x}, {y}) is far outside the frame (fractions 0…1)")
        out.append((x, y))
    return Stroke(label, float(radius), tuple(out))


@dataclass(frozen=True)
class Strokes(Param):
    """Paint strokes per frame: ``{"FRAME": [{"label": "fg"|"bg"|"erase", "radius": r, "points": [[x, y], …]}]}``.

    The value is plain data in the graph file (validated here, never executed), so every host
    renders the same strokes. A JSON string of that object is accepted too (hosts whose params
    are strings, ``segfuse render --set``). Coerces to ``{frame: (Stroke, …)}`` in paint order.
    """

    kind: ClassVar[str] = "strokes"

    def coerce(self, value: Any) -> dict[int, tuple[Stroke, ...]]:
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            import json

            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ParamError(f"not valid JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise ParamError("expected an object mapping frame numbers to lists of strokes")
        out: dict[int, tuple[Stroke, ...]] = {}
        for key, strokes in value.items():
            try:
                frame = int(key) if not isinstance(key, bool) else None
            except (TypeError, ValueError):
                frame = None
            if frame is None or str(frame) != str(key).strip():
                raise ParamError(f"frame key {key!r} is not a whole number")
            if not isinstance(strokes, (list, tuple)):
                raise ParamError(f"frame {frame}: expected a list of strokes")
            out[frame] = tuple(_stroke(s, f"frame {frame} stroke {i}") for i, s in enumerate(strokes))
        return dict(sorted(out.items()))


def strokes_to_json(strokes: dict[int, tuple[Stroke, ...]]) -> dict[str, list[dict[str, Any]]]:
    """The graph-file form of coerced strokes (frames as string keys, empty frames dropped)."""
    return {str(t): [s.to_json() for s in items] for t, items in sorted(strokes.items()) if items}
