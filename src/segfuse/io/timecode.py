"""SMPTE timecode: a movie's start timecode moved on by a number of frames.

An editor conforms a repaired shot back into the cut by its timecode, so a movie written from a
timecoded movie keeps it: the written movie's first frame carries the timecode of the source frame
it shows. Non-drop timecode (``HH:MM:SS:FF``) counts ``round(fps)`` frames a second. Drop-frame
(``HH:MM:SS;FF``, 29.97 and 59.94 fps) skips the first 2 (or 4) frame numbers of every minute
except every tenth, so the labels keep pace with the clock.
"""

from __future__ import annotations

import re

PATTERN = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def _base(fps: float) -> int:
    return max(1, round(fps))


def _drops(fps: float) -> int:
    """Frame numbers a drop-frame minute skips: 2 at 29.97, 4 at 59.94, else none."""
    nominal = fps * 1001 / 1000
    if abs(nominal - round(nominal)) > 0.01:
        return 0
    return {30: 2, 60: 4}.get(round(nominal), 0)


def to_frames(timecode: str, fps: float) -> int | None:
    """The frame count a timecode stands for; None for text that is not one."""
    match = PATTERN.match(timecode.strip())
    if match is None:
        return None
    hours, minutes, seconds, separator, frames = match.groups()
    base = _base(fps)
    h, m, s, f = int(hours), int(minutes), int(seconds), int(frames)
    if m >= 60 or s >= 60 or f >= base:
        return None
    count = ((h * 60 + m) * 60 + s) * base + f
    drops = _drops(fps) if separator in ";," else 0
    if drops:
        minutes_total = h * 60 + m
        count -= drops * (minutes_total - minutes_total // 10)
    return count


def from_frames(count: int, fps: float, drop: bool) -> str:
    """The timecode label of frame ``count`` (wrapping at 24 hours)."""
    base = _base(fps)
    drops = _drops(fps) if drop else 0
    if drops:
        per_ten = 10 * 60 * base - 9 * drops  # frame labels in ten minutes
        per_minute = 60 * base - drops
        tens, rest = divmod(count, per_ten)
        count += 9 * drops * tens
        if rest > drops:
            count += drops * ((rest - drops) // per_minute)
    frames = count % base
    seconds = count // base
    separator = ";" if drops else ":"
    return f"{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{separator}{frames:02d}"


def _labels_a_day(fps: float, drop: bool) -> int:
    base, drops = _base(fps), (_drops(fps) if drop else 0)
    return 24 * 60 * 60 * base - 24 * 54 * drops  # 54 of every 60 minutes drop their first labels


def advanced(timecode: str, frames: int, fps: float) -> str:
    """``timecode`` moved on by ``frames`` (back, when negative), in its own style, wrapping at 24
    hours; "" when it is not a timecode."""
    start = to_frames(timecode, fps)
    if start is None:
        return ""
    match = PATTERN.match(timecode.strip())
    drop = match is not None and match.group(4) in ";," and _drops(fps) > 0
    return from_frames((start + frames) % _labels_a_day(fps, drop), fps, drop)


# SMPTE 12M's 32-bit form, as EXR and DPX headers store it: binary-coded decimal digits, frames in
# the low byte; bit 6 marks drop-frame
DROP_BIT = 0x40


def to_bcd(timecode: str) -> int | None:
    """The header form of a timecode label; None for text that is not one."""
    match = PATTERN.match(timecode.strip())
    if match is None:
        return None
    hours, minutes, seconds, separator, frames = (match.group(i) for i in range(1, 6))
    value = 0
    for shift, digits in ((24, hours), (16, minutes), (8, seconds), (0, frames)):
        number = int(digits)
        value |= ((number // 10 % 10) << 4 | number % 10) << shift
    return value | (DROP_BIT if separator in ";," else 0)


def from_bcd(value: int) -> str:
    """The label of a header's 32-bit timecode."""
    def field(shift: int, tens_bits: int) -> int:
        byte = (value >> shift) & 0xFF
        return ((byte >> 4) & ((1 << tens_bits) - 1)) * 10 + (byte & 0xF)

    separator = ";" if value & DROP_BIT else ":"
    return f"{field(24, 2):02d}:{field(16, 3):02d}:{field(8, 3):02d}{separator}{field(0, 2):02d}"
