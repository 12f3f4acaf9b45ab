"""The parts of the OpenFX C API the bridge uses, declared with ctypes from the public spec."""

from __future__ import annotations

import ctypes as C

Status = C.c_int
Handle = C.c_void_p
OK, FAILED, ERR_UNKNOWN, ERR_UNSUPPORTED, ERR_BAD_HANDLE, REPLY_DEFAULT = 0, 1, 3, 5, 9, 14


class OfxHost(C.Structure):
    _fields_ = [("host", Handle), ("fetchSuite", C.CFUNCTYPE(C.c_void_p, Handle, C.c_char_p, C.c_int))]


class RectD(C.Structure):
    _fields_ = [("x1", C.c_double), ("y1", C.c_double), ("x2", C.c_double), ("y2", C.c_double)]


def _fn(*args):
    return C.CFUNCTYPE(Status, *args)


class PropertySuiteV1(C.Structure):
    _fields_ = [
        ("propSetPointer", _fn(Handle, C.c_char_p, C.c_int, C.c_void_p)),
        ("propSetString", _fn(Handle, C.c_char_p, C.c_int, C.c_char_p)),
        ("propSetDouble", _fn(Handle, C.c_char_p, C.c_int, C.c_double)),
        ("propSetInt", _fn(Handle, C.c_char_p, C.c_int, C.c_int)),
        ("propSetPointerN", _fn(Handle, C.c_char_p, C.c_int, C.c_void_p)),
        ("propSetStringN", _fn(Handle, C.c_char_p, C.c_int, C.c_void_p)),
        ("propSetDoubleN", _fn(Handle, C.c_char_p, C.c_int, C.POINTER(C.c_double))),
        ("propSetIntN", _fn(Handle, C.c_char_p, C.c_int, C.POINTER(C.c_int))),
        ("propGetPointer", _fn(Handle, C.c_char_p, C.c_int, C.POINTER(C.c_void_p))),
        ("propGetString", _fn(Handle, C.c_char_p, C.c_int, C.POINTER(C.c_char_p))),
        ("propGetDouble", _fn(Handle, C.c_char_p, C.c_int, C.POINTER(C.c_double))),
        ("propGetInt", _fn(Handle, C.c_char_p, C.c_int, C.POINTER(C.c_int))),
        ("propGetPointerN", _fn(Handle, C.c_char_p, C.c_int, C.c_void_p)),
        ("propGetStringN", _fn(Handle, C.c_char_p, C.c_int, C.c_void_p)),
        ("propGetDoubleN", _fn(Handle, C.c_char_p, C.c_int, C.POINTER(C.c_double))),
        ("propGetIntN", _fn(Handle, C.c_char_p, C.c_int, C.POINTER(C.c_int))),
        ("propReset", _fn(Handle, C.c_char_p)),
        ("propGetDimension", _fn(Handle, C.c_char_p, C.POINTER(C.c_int))),
    ]


class ImageEffectSuiteV1(C.Structure):
    _fields_ = [
        ("getPropertySet", _fn(Handle, C.POINTER(Handle))),
        ("getParamSet", _fn(Handle, C.POINTER(Handle))),
        ("clipDefine", _fn(Handle, C.c_char_p, C.POINTER(Handle))),
        ("clipGetHandle", _fn(Handle, C.c_char_p, C.POINTER(Handle), C.POINTER(Handle))),
        ("clipGetPropertySet", _fn(Handle, C.POINTER(Handle))),
        ("clipGetImage", _fn(Handle, C.c_double, C.POINTER(RectD), C.POINTER(Handle))),
        ("clipReleaseImage", _fn(Handle)),
        ("clipGetRegionOfDefinition", _fn(Handle, C.c_double, C.POINTER(RectD))),
        ("abort", C.CFUNCTYPE(C.c_int, Handle)),
        ("imageMemoryAlloc", _fn(Handle, C.c_size_t, C.POINTER(Handle))),
        ("imageMemoryFree", _fn(Handle)),
        ("imageMemoryLock", _fn(Handle, C.POINTER(C.c_void_p))),
        ("imageMemoryUnlock", _fn(Handle)),
    ]


# paramGetValue and paramGetValueAtTime are variadic: callers pass up to three output pointers.
class ParameterSuiteV1(C.Structure):
    _fields_ = [
        ("paramDefine", _fn(Handle, C.c_char_p, C.c_char_p, C.POINTER(Handle))),
        ("paramGetHandle", _fn(Handle, C.c_char_p, C.POINTER(Handle), C.POINTER(Handle))),
        ("paramSetGetPropertySet", _fn(Handle, C.POINTER(Handle))),
        ("paramGetPropertySet", _fn(Handle, C.POINTER(Handle))),
        ("paramGetValue", _fn(Handle, C.c_void_p, C.c_void_p, C.c_void_p)),
        ("paramGetValueAtTime", _fn(Handle, C.c_double, C.c_void_p, C.c_void_p, C.c_void_p)),
        ("paramGetDerivative", C.c_void_p), ("paramGetIntegral", C.c_void_p), ("paramSetValue", C.c_void_p),
        ("paramSetValueAtTime", C.c_void_p), ("paramGetNumKeys", C.c_void_p), ("paramGetKeyTime", C.c_void_p),
        ("paramGetKeyIndex", C.c_void_p), ("paramDeleteKey", C.c_void_p), ("paramDeleteAllKeys", C.c_void_p),
        ("paramCopy", C.c_void_p), ("paramEditBegin", C.c_void_p), ("paramEditEnd", C.c_void_p),
    ]


class MessageSuiteV1(C.Structure):
    _fields_ = [("message", _fn(Handle, C.c_char_p, C.c_char_p, C.c_char_p))]


class OfxError(Exception):
    """A suite call returned a failure status."""


class Props:
    """A property set handle with typed getters and setters (names are OFX property names)."""

    def __init__(self, suite: PropertySuiteV1, handle: int | None) -> None:
        self.suite, self.handle = suite, handle

    def _check(self, status: int, what: str, name: str) -> None:
        if status != OK:
            raise OfxError(f"{what} {name}: status {status}")

    def dimension(self, name: str) -> int:
        n = C.c_int(0)
        return n.value if self.suite.propGetDimension(self.handle, name.encode(), C.byref(n)) == OK else 0

    def get_int(self, name: str, index: int = 0, default: int | None = None) -> int:
        v = C.c_int()
        status = self.suite.propGetInt(self.handle, name.encode(), index, C.byref(v))
        if status != OK and default is not None:
            return default
        self._check(status, "get", name)
        return v.value

    def get_double(self, name: str, index: int = 0) -> float:
        v = C.c_double()
        self._check(self.suite.propGetDouble(self.handle, name.encode(), index, C.byref(v)), "get", name)
        return v.value

    def get_numbers(self, name: str, count: int) -> list[float]:
        """Values of a numeric property whatever type the host stored (some hosts use doubles for
        properties the spec types as int, such as the render window)."""
        values = []
        for i in range(count):
            v = C.c_double()
            if self.suite.propGetDouble(self.handle, name.encode(), i, C.byref(v)) != OK:
                return [float(self.get_int(name, k)) for k in range(count)]
            values.append(v.value)
        return values

    def get_doubles(self, name: str, count: int) -> list[float]:
        return [self.get_double(name, i) for i in range(count)]

    def get_string(self, name: str, index: int = 0, default: str | None = None) -> str:
        v = C.c_char_p()
        status = self.suite.propGetString(self.handle, name.encode(), index, C.byref(v))
        if status != OK and default is not None:
            return default
        self._check(status, "get", name)
        return (v.value or b"").decode()

    def get_pointer(self, name: str, index: int = 0) -> int:
        v = C.c_void_p()
        self._check(self.suite.propGetPointer(self.handle, name.encode(), index, C.byref(v)), "get", name)
        return v.value or 0

    def set_int(self, name: str, value: int, index: int = 0) -> None:
        self._check(self.suite.propSetInt(self.handle, name.encode(), index, int(value)), "set", name)

    def set_double(self, name: str, value: float, index: int = 0) -> None:
        self._check(self.suite.propSetDouble(self.handle, name.encode(), index, float(value)), "set", name)

    def set_doubles(self, name: str, values: list[float]) -> None:
        for i, v in enumerate(values):
            self.set_double(name, v, i)

    def set_string(self, name: str, value: str, index: int = 0) -> None:
        self._check(self.suite.propSetString(self.handle, name.encode(), index, value.encode()), "set", name)

    def set_strings(self, name: str, values: list[str]) -> None:
        for i, v in enumerate(values):
            self.set_string(name, v, i)
