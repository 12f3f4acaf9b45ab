"""A movie's sound carried into a written movie, cut to the frames written.

A talking-head render's sound is its speech: a repair that wrote the pictures and dropped the sound
would lose what the user has. Every audio stream of the sound's source is copied packet for packet
(it leaves as it came in) where the output's container holds its codec; otherwise (PCM from a .wav
or a .mov into an .mp4) it is decoded and encoded as AAC, cut to the sample.

Timing: the written movie's frame k shows at k / fps and is the source's frame ``first + k``. The
sound from the moment the source shows its frame ``first`` goes with it (a source without pictures,
a .wav, "shows" frame t at t / fps), so lips stay in sync, and it ends with the last frame written.
A copied stream keeps the packet that overlaps the first frame's start, and the one before it (the
codec's pre-roll, e.g. AAC's priming); the muxer's edit list hides what lies before time 0.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from segfuse.errors import InputError
from segfuse.io.mp4_header import sound_tracks

LEAD_SECONDS = 0.5  # sound muxed this far ahead of the pictures (the muxer interleaves what it holds)
AAC_BIT_RATE = 192_000
REORDER_REACH = 32  # packets read past a frame to be sure of its presentation time (B-frame reordering)


@dataclass(frozen=True)
class SoundSpec:
    """A written movie's sound: ``path``'s audio from its frame ``first`` on, for ``count`` frames."""

    path: Path
    first: int
    count: int


def _reason(exc: BaseException) -> str:
    return str(exc).split(": '", 1)[0] if isinstance(exc, av.error.FFmpegError) else str(exc)


def open_sound(path: str | Path):
    """``path`` opened for its sound (one ``InputError`` line when it cannot be)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: sound source not found")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot open the sound source: {_reason(exc)}") from None


def audio_stream_count(path: str | Path) -> int:
    """How many audio streams ``path`` holds (0: nothing to carry): from an MP4/MOV's header when it
    has one (no decoder opened), else as FFmpeg opens the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: sound source not found")
    tracks = sound_tracks(path)
    if tracks is not None:
        return tracks
    with open_sound(path) as container:
        return len(container.streams.audio)


def copyable(stream, packet, container_format: str) -> bool:
    """Whether ``container_format`` (mp4, mov) takes ``stream``'s packets as they are: ``packet`` (one
    of them) is tried on a header written in memory (FFmpeg lists PCM as an mp4 codec, yet its mp4
    muxer refuses it). ``packet`` None: nothing to refuse."""
    if packet is None:
        return True
    target = av.open(io.BytesIO(), "w", format=container_format)
    try:
        packet.stream = target.add_stream_from_template(stream)
        target.mux(packet)
        target.close()
    except (av.error.FFmpegError, ValueError):
        return False
    return True


def first_packets(container, first: int, fps: float) -> tuple[float, dict[int, object]]:
    """One pass over the start of ``container``: the seconds at which it shows its frame ``first``
    (its pictures' own times when it has pictures, else ``first / fps``) and the first packet of each
    audio stream (by stream index). Packets are read only up to a little past that frame (frames
    leave the decoder reordered by at most a few places); the container is rewound after."""
    audio = {stream.index for stream in container.streams.audio}
    video = container.streams.video[0] if container.streams.video else None
    times: list[int] = []
    packets: dict[int, object] = {}
    enough = first + REORDER_REACH
    for packet in container.demux(*container.streams.audio, *([video] if video is not None else [])):
        if packet.dts is None or not packet.size:
            continue
        if packet.stream.index in audio:
            packets.setdefault(packet.stream.index, packet)
        elif packet.pts is not None:
            times.append(packet.pts)
        if len(packets) == len(audio) and (video is None or len(times) > enough):
            break
    container.seek(0)
    if video is None or not times:
        return first / fps, packets
    times.sort()
    if first < len(times):
        return float(times[first] * video.time_base), packets
    return float(times[-1] * video.time_base) + (first - len(times) + 1) / fps, packets


class _Copied:
    """One audio stream copied packet for packet."""

    def __init__(self, source_stream, output, start: float, end: float) -> None:
        self.out = output.add_stream_from_template(source_stream)
        self._base = source_stream.time_base
        self._start = round(Fraction(start).limit_denominator(1 << 30) / self._base)  # in the stream's ticks
        self.start_seconds = float(self._start * self._base)
        self._end = end
        self._held = None  # the last packet before the window: the next one's pre-roll

    def take(self, packet) -> None:
        """Mux ``packet`` if it sounds within the window."""
        pts = packet.pts if packet.pts is not None else packet.dts
        if pts + (packet.duration or 0) < self._start:
            self._held = packet
            return
        if float((pts - self._start) * self._base) >= self._end:
            return
        if self._held is not None:
            self._mux(self._held)
            self._held = None
        self._mux(packet)

    def _mux(self, packet) -> None:
        packet.pts = None if packet.pts is None else packet.pts - self._start
        packet.dts = None if packet.dts is None else packet.dts - self._start
        packet.stream = self.out
        self.out.container.mux(packet)

    def flush(self) -> None:
        """Nothing is held back by a copy."""


class _Encoded:
    """One audio stream decoded and encoded again, cut to the sample: PCM as the same PCM (its samples
    unchanged), a codec the container cannot hold as AAC."""

    def __init__(self, source_stream, output, start: float, end: float, same_pcm: bool) -> None:
        ctx = source_stream.codec_context
        self._rate = int(ctx.sample_rate)
        if same_pcm:
            self.out = output.add_stream(ctx.name, rate=self._rate)
            self.out.layout, self.out.format = ctx.layout, ctx.format
            self._resampler = av.AudioResampler(format=ctx.format, layout=ctx.layout, rate=self._rate)
        else:
            channels = ctx.layout.nb_channels if ctx.layout is not None else 2
            layout = "mono" if channels == 1 else "stereo"  # AAC wants a named layout; more channels: downmixed
            self.out = output.add_stream("aac", rate=self._rate)
            self.out.layout = layout
            self.out.bit_rate = AAC_BIT_RATE
            self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=self._rate, frame_size=1024)
        self._decoder = ctx
        self._start = round(start * self._rate)  # in samples of the source
        self._stop = self._start + round(end * self._rate)
        self.start_seconds = start
        self._written = 0  # samples handed to the encoder

    def take(self, packet) -> None:
        for frame in self._decoder.decode(packet):
            self._add(frame)

    def _add(self, frame) -> None:
        first = round(float(frame.pts * frame.time_base) * self._rate) if frame.pts is not None \
            else self._start + self._written
        lo, hi = max(first, self._start), min(first + frame.samples, self._stop)
        if hi <= lo:
            return
        if (lo, hi) != (first, first + frame.samples):  # the window's edge: cut to the sample
            data = frame.to_ndarray()
            if frame.format.is_planar:
                cut = data[:, lo - first:hi - first]
            else:
                channels = len(frame.layout.channels)
                cut = data.reshape(-1, channels)[lo - first:hi - first].reshape(1, -1)
            piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(cut), format=frame.format.name,
                                               layout=frame.layout.name)
            piece.sample_rate = frame.sample_rate
            frame = piece
        frame.pts = None
        for part in self._resampler.resample(frame):
            self._encode(part)

    def _encode(self, frame) -> None:
        if frame is not None:
            frame.pts, frame.time_base = self._written, Fraction(1, self._rate)
            self._written += frame.samples
        for packet in self.out.encode(frame):
            self.out.container.mux(packet)

    def flush(self) -> None:
        """Decode, resample and encode what each stage still holds."""
        for frame in self._decoder.decode(None):
            self._add(frame)
        for part in self._resampler.resample(None):
            self._encode(part)
        self._encode(None)


def _check_rate(path: Path, source, fps: float) -> None:
    """Refuse (one line) a sound source whose pictures run at another rate than the movie written:
    frame k would show at k / fps while the sound keeps its own clock, drifting out of sync."""
    if not source.streams.video:
        return  # a .wav "shows" frame t at t / fps: it follows the movie's rate
    stream = source.streams.video[0]
    rate = stream.average_rate or stream.base_rate
    if rate and abs(float(rate) - fps) > 1e-3 * fps:
        source.close()
        raise InputError(f"{path}: its pictures run at {float(rate):.3f} fps and the movie is written at "
                         f"{fps:.3f} fps: its sound would drift out of sync with the frames (write at its rate, "
                         "or without its sound)")


class SoundTrack:
    """The sound of ``spec`` muxed into ``output`` beside its pictures (see the module docstring).
    Made before the first packet is muxed (its streams are added then); ``mux_until`` as frames are
    written, ``finish`` once the last one is."""

    def __init__(self, spec: SoundSpec, output, container_format: str, fps: float) -> None:
        self.spec = spec
        end = self._end = spec.count / fps
        self._source = open_sound(spec.path)
        try:
            _check_rate(spec.path, self._source, fps)
            streams = list(self._source.streams.audio)
            start, packets = first_packets(self._source, spec.first, fps)
            self._tracks = {}
            for stream in streams:
                fits = copyable(stream, packets.get(stream.index), container_format)
                pcm = stream.codec_context.name.startswith("pcm_")
                self._tracks[stream.index] = _Copied(stream, output, start, end) if fits and not pcm else \
                    _Encoded(stream, output, start, end, same_pcm=fits)
            self.streams = len(self._tracks)
            self._packets: Iterator = (p for p in self._source.demux(*streams) if p.dts is not None and p.size)
            self._pending = None
            self._done = not streams
        except (av.error.FFmpegError, ValueError) as exc:
            self._source.close()
            raise InputError(f"{spec.path}: cannot carry its sound: {_reason(exc)}") from None

    def mux_until(self, seconds: float) -> None:
        """Mux the sound up to ``seconds`` of output time, a little ahead (the muxer interleaves)."""
        self._advance(seconds + LEAD_SECONDS)

    def finish(self) -> None:
        """Mux the rest of the window, flush the encoders, close the source."""
        self._advance(float("inf"))
        try:
            for track in self._tracks.values():
                track.flush()
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.spec.path}: its sound cannot be read: {_reason(exc)}") from None
        finally:
            self.close()

    def _advance(self, until: float) -> None:
        try:
            while not self._done:
                packet = self._pending or next(self._packets, None)
                self._pending = None
                if packet is None:
                    self._done = True
                    return
                track = self._tracks[packet.stream.index]
                at = float(packet.pts * packet.time_base) if packet.pts is not None else track.start_seconds
                if at - track.start_seconds > self._end + LEAD_SECONDS:
                    self._done = True  # past the window: the rest of the file is not read
                    return
                if at - track.start_seconds > until:
                    self._pending = packet
                    return
                track.take(packet)
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.spec.path}: its sound cannot be read: {_reason(exc)}") from None

    def close(self) -> None:
        self._done = True
        self._source.close()
