"""Ground-truth quality of SegFuse Fix in a single-frame host (MLT's melt) against the command line.

    python benchmarks/quality_hosts.py [--portraits DIR] [--frames 24] [--only vox_01,vox_05] [--no-melt]
                                       [--framing 360p-1.7x-right]

The clips are ``quality.py --real``'s moving-person clips with every defect (same portraits, same
seeds); ``--framing`` pastes them back into a wider frame as ``quality_framing.py`` does (its
framings, scored the same way). Each is scored against its truth (``segfuse.research.scoring``) as:

- ``raw``: the render itself;
- ``cli best``: ``segfuse fix`` with its defaults (the best preset; what every host should match);
- ``fix in-process``: the SegFuse Fix node driven as MLT drives it (frames in order, each render given
  only the frames it asks for from the ones handed so far), with only ``reference`` set;
- ``melt fix``: the SegFuse Fix OFX filter in melt (``$MELT``, the bundle built here), only
  ``reference`` set: the acceptance row (≥ 50 % overall-error cut, within 10 points of ``cli best``,
  ≤ 0.25/255 added on the person, no OFX error);
- ``melt fix+analysis``: the same with ``analysis`` set to the file ``segfuse analyse`` writes;
- ``melt classic``: the filter's old recipe (recipe=classic), for comparison;
- ``melt passthrough``: the filter with no reference (it passes frames through): what melt itself
  delivers; melt rows are also compared with this row ("vs host"): the error the filter adds on the
  person, and its cut of the error, against what the host gives without it;
- ``cli best on host frames``: ``segfuse fix`` run on those same pass-through frames: the command
  line's default on the very pixels melt hands its filters (the like-for-like target for melt rows).

melt runs with $OCIO set, as the hosts README says, and reads the clip with ``-chain`` (``--no-chain``
reads it as a plain producer). A plain producer goes through MLT's loader, whose deinterlace
normaliser (``avdeinterlace`` where MLT has no xine module) asks for every frame as limited-range
4:2:2 YUV, even a progressive RGB one, so the filter gets (and melt writes) chroma-subsampled pixels;
a chain's normalisers keep RGB, and the pass-through is then bit-exact (PNG in QuickTime in, PNG out).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_framing import FRAMINGS, frame_clip, placement  # noqa: E402
from quality_real import MASKS, load_portraits  # noqa: E402

from segfuse import color  # noqa: E402
from segfuse.research.quality.runner import run_preset  # noqa: E402
from segfuse.research.quality.synth import DEFECTS, Clip, make_clip  # noqa: E402
from segfuse.research.scoring import Scores, score_clip  # noqa: E402


def write_inputs(clip: Clip, folder: Path) -> tuple[Path, Path]:
    """The clip as PNG-in-QuickTime (what melt reads) and the reference as PNG."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    movie, reference = folder / "generated.mov", folder / "reference.png"
    height, width = clip.reference.shape[:2]
    with av.open(str(movie), "w") as out:
        stream = out.add_stream("png", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        for frame in clip.generated:
            rgb = np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    bgr = cv2.cvtColor(np.clip(clip.reference * 255 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(reference), bgr)
    return movie, reference


def fix_in_process(clip: Clip, reference: Path, **params) -> list[np.ndarray]:
    """The Fix node as MLT drives it: frames in order, each render handed its window from the frames seen."""
    from segfuse.image import Image
    from segfuse.nodes.segfuse_fix import Fix
    from segfuse.runtime.node import ClipFrames
    from segfuse.runtime.params import ParamValues

    node = Fix()
    p = ParamValues({**{q.name: q.default for q in Fix.descriptor.params}, "reference": str(reference), **params})
    working = color.working_space()
    handed: dict[int, Image] = {}
    out = []
    for t, frame in enumerate(clip.generated):
        handed[t] = Image(color.convert(np.ascontiguousarray(frame), color.srgb_space(), working), working)
        window = node.frames_needed(t, p)["Source"]
        frames = ClipFrames("Source", None, t, {s: handed[s] for s in window if s in handed})
        fused = node.render(t, {"Source": frames}, p)
        srgb = color.convert(fused.rgb, fused.colorspace, color.srgb_space())
        out.append(np.round(np.clip(srgb, 0, 1) * 255) / 255)
    return out


EMPTY_RUNS: list[str] = []  # melt runs that hung or exited 0 having written nothing (run again once)


def melt_fix(movie: Path, plugins: Path, out_dir: Path, frames: int, params: dict[str, str],
             threads: int = 1, chain: bool = True) -> tuple[list[np.ndarray], str]:
    """Frames SegFuse Fix rendered in melt, and melt's log."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGFUSE_")}
    env["OFX_PLUGIN_PATH"] = str(plugins)
    env.setdefault("OCIO", "ocio://default")
    args = [os.environ["MELT"], *(["-chain"] if chain else []), str(movie), f"out={frames - 1}",
            "-filter", "openfx.org.segfuse.Fix", *(f"{k}={v}" for k, v in params.items()),
            "-consumer", f"avformat:{out_dir}/f%04d.png", "vcodec=png", f"real_time=-{threads}"]
    for attempt in (1, 2):
        try:
            result = subprocess.run(args, capture_output=True, text=True, timeout=900, env=env)
        except subprocess.TimeoutExpired:
            # MLT's avformat consumer-start race (README, known issues) leaves melt waiting forever
            if attempt == 2:
                raise
            EMPTY_RUNS.append(" ".join(args))
            print("melt hung for 900 s; running it again", flush=True)
            continue
        log = result.stdout + result.stderr
        if result.returncode != 0:
            raise RuntimeError(f"melt exited {result.returncode}: {log[-1500:]}")
        if (out_dir / "f0001.png").exists() or attempt == 2:
            break
        # seen once under heavy load: melt exited 0 at once, printing nothing and writing no frame
        EMPTY_RUNS.append(" ".join(args))
        print(f"melt wrote nothing and exited 0 (log {len(log)} bytes); running it again", flush=True)
    out = []
    for t in range(frames):
        bgr = cv2.imread(str(out_dir / f"f{t + 1:04d}.png"), cv2.IMREAD_COLOR)
        if bgr is None:
            raise RuntimeError(f"melt wrote no frame {t + 1}: {log[-1500:]}")
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
    return out, log


def messages(log: str) -> list[str]:
    return sorted({line.strip() for line in log.replace("\r", "\n").splitlines() if "[openfx] message" in line
                   or "SegFuse:" in line or "Traceback" in line})


def worst_shot(scores: list[Scores], raw: list[Scores], names: list[str]) -> str:
    """The shot a row leaves furthest above its raw render: '+0.018 (vox_04)'."""
    excess, name = max((s.overall - r.overall, n) for s, r, n in zip(scores, raw, names, strict=True))
    return f"{excess:+.3f} ({name})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portraits", type=Path,
                        default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vox_portraits")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--only", help="comma-separated portrait names")
    parser.add_argument("--no-melt", action="store_true", help="only the in-process rows")
    parser.add_argument("--threads", type=int, default=1, help="melt render threads (real_time=-N)")
    parser.add_argument("--no-chain", dest="chain", action="store_false",
                        help="read the clip in melt as a plain producer (frames pass through 4:2:2 YUV)")
    parser.add_argument("--framing", default="centred", choices=("centred", *FRAMINGS),
                        help="paste the clips back into this framing (quality_framing.py's)")
    args = parser.parse_args()
    framing = FRAMINGS.get(args.framing)
    # a framed shot is scored as quality_framing.py scores it (its outline band scaled with the clip)
    score = partial(score_clip, band=2.0 * placement(framing)[0] / 256.0 if framing else None)
    use_melt = bool(os.environ.get("MELT")) and not args.no_melt
    portraits = load_portraits(args.portraits, args.only.split(",") if args.only else None)
    indices = {name: index for index, name in enumerate(sorted(p.stem for p in MASKS.glob("*.png")))}
    rows: dict[str, list[Scores]] = {}
    notes: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="segfuse-hosts-") as tmp:
        work = Path(tmp)
        plugins = work / "plugins"
        if use_melt:
            from segfuse.plugin.ofx.build import build_bundle

            build_bundle(plugins)
        for name, (portrait, mask) in portraits.items():
            clip = make_clip(portrait, mask, args.frames, seed=1000 * indices[name] + len(DEFECTS), defects=DEFECTS)
            if framing is not None:
                clip = frame_clip(clip, framing)
            movie, reference = write_inputs(clip, work / name)
            scored = {"raw": score(clip, clip.generated)}
            start = time.perf_counter()
            scored["cli best"] = score(clip, run_preset(clip, "best").frames)
            cli_s = time.perf_counter() - start
            start = time.perf_counter()
            scored["fix in-process"] = score(clip, fix_in_process(clip, reference))
            inproc_s = time.perf_counter() - start
            timing = f"cli {cli_s:.1f}s in-process {inproc_s:.1f}s"
            if use_melt:
                start = time.perf_counter()
                frames, log = melt_fix(movie, plugins, work / name / "melt", args.frames,
                                       {"reference": str(reference)}, args.threads, args.chain)
                timing += f" melt {time.perf_counter() - start:.1f}s"
                notes.update(messages(log))
                scored["melt fix"] = score(clip, frames)
                analysis = work / name / "shot.analysis.npz"
                subprocess.run([sys.executable, "-m", "segfuse.cli", "analyse", "--generated", str(movie),
                                "--reference", str(reference), "-o", str(analysis)], check=True,
                               capture_output=True, text=True)
                frames, log = melt_fix(movie, plugins, work / name / "melt-analysis", args.frames,
                                       {"reference": str(reference), "analysis": str(analysis)}, args.threads,
                                       args.chain)
                notes.update(messages(log))
                scored["melt fix+analysis"] = score(clip, frames)
                frames, log = melt_fix(movie, plugins, work / name / "melt-classic", args.frames,
                                       {"reference": str(reference), "recipe": "classic"}, args.threads,
                                       args.chain)
                scored["melt classic"] = score(clip, frames)
                frames, log = melt_fix(movie, plugins, work / name / "melt-passthrough", args.frames, {}, args.threads,
                                      args.chain)
                scored["melt passthrough"] = score(clip, frames)
                # the command line given the very pixels melt hands its filters: the like-for-like target
                scored["cli best on host frames"] = score(clip, run_preset(replace(clip, generated=frames),
                                                                                "best").frames)
            for row, s in scored.items():
                rows.setdefault(row, []).append(s)
            print(f"{name}: " + "  ".join(f"{row} {s.overall:.3f} (person {s.person:.3f})"
                                          for row, s in scored.items()) + f"   [{timing}]", flush=True)
    raw_overall = np.mean([s.overall for s in rows["raw"]])
    raw_person = np.mean([s.person for s in rows["raw"]])
    print(f"\n{len(portraits)} portraits × {args.frames} frames, {args.framing}, all defects "
          "(errors /255 against the truth); "
          f"melt: {'-chain' if args.chain else 'plain producer'}, {args.threads} thread(s)\n")
    host = rows.get("melt passthrough")
    host_overall = np.mean([s.overall for s in host]) if host else float("nan")
    host_person = np.mean([s.person for s in host]) if host else float("nan")
    print("| row | overall | reduction vs raw | person (+ vs raw) | background | reduction vs host "
          "| person + vs host |")
    print("|---|---|---|---|---|---|---|")
    for row, scores in rows.items():
        overall = float(np.mean([s.overall for s in scores]))
        person = float(np.mean([s.person for s in scores]))
        vs_host = (f"{100 * (1 - overall / host_overall):.1f} % | {person - host_person:+.3f}"
                   if (row.startswith("melt") or row.endswith("host frames")) and host else " | ")
        print(f"| {row} | {overall:.3f} | {100 * (1 - overall / raw_overall):.1f} % | {person:.3f} "
              f"(+{person - raw_person:.3f}) | {np.mean([s.background for s in scores]):.3f} | {vs_host} |")
    print("\nworst shot against its raw render (/255): " + "; ".join(
        f"{row} {worst_shot(scores, rows['raw'], list(portraits))}" for row, scores in rows.items() if row != "raw"))
    if notes:
        print("\nhost messages:\n  " + "\n  ".join(notes))
    errors = [n for n in notes if ("OfxMessageError" in n or "Traceback" in n)]
    print(f"\nOFX errors posted: {len(errors)}; melt runs that hung or wrote nothing and were run again: "
          f"{len(EMPTY_RUNS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
