"""Quality comparison in the shape of the paper's Table 1: raw clip vs each post-processing.

    python benchmarks/quality.py [-o REPORT]                  # the built-in sample
    python benchmarks/quality.py --folder CLIPS --reference REF.png [-o REPORT]
    python benchmarks/quality.py --real [--portraits DIR] [--frames 24]   # ground truth, real portraits

On the sample it renders the fix of each preset (paper, classic, best; and best with MODNet or
the hybrid when MODNet weights are installed), then scores every clip against the reference; the
first clip is the baseline
and the table gives each one's relative change from the raw clip. In a folder, every movie or numbered
sequence is a clip (the one named 'raw' or 'generated', if any, comes first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from segfuse.commands.common import parse_overrides
from segfuse.errors import GraphError, SegFuseError
from segfuse.io.frames import MOVIE_EXTENSIONS, scan_frames
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.research.evaluation import ClipInput, evaluate
from segfuse.research.quality.runner import check_variant
from segfuse.research.report import table, write_report
from segfuse.research.sample import GENERATED, REFERENCE
from segfuse.runtime import bind, render_graph


def sample_clips(work: Path) -> list[ClipInput]:
    """The raw sample, then each preset's fix (and MODNet's when its weights are installed)."""
    clips = [ClipInput("raw", str(GENERATED))]
    runs = [("paper", "paper", None), ("classic", "classic", None), ("best", "best", None),
            ("best-modnet", "best", "modnet"), ("best-hybrid", "best", "hybrid")]
    for label, preset, segmenter in runs:
        out = work / f"{label}.mp4"
        options = FixOptions(str(GENERATED), str(REFERENCE), str(out), segmenter=segmenter, preset=preset)
        try:
            render_graph(bind(paper_graph(options)))
        except SegFuseError as exc:
            print(f"{label}: skipped ({exc})")
            continue
        clips.append(ClipInput(label, str(out)))
    return clips


def folder_clips(folder: Path) -> list[ClipInput]:
    clips = []
    for entry in sorted(folder.iterdir()):
        if entry.suffix.lower() in MOVIE_EXTENSIONS:
            clips.append(ClipInput(entry.stem, str(entry)))
        elif entry.is_dir():
            files = sorted(p for p in entry.iterdir() if p.is_file())
            pattern = entry / (files[0].name.rsplit(".", 2)[0] + ".####" + files[0].suffix) if files else None
            if pattern and scan_frames(pattern):
                clips.append(ClipInput(entry.name, str(pattern)))
    clips.sort(key=lambda c: c.label not in ("raw", "generated"))
    return clips


def checked_overrides(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, dict]:
    """``--set`` items as node → params, checked against the best preset's graph before anything runs
    (a wrong name is one line and exit 2, not a traceback minutes into the run)."""
    try:
        return check_variant(parse_overrides(items))
    except GraphError as exc:
        parser.error(str(exc))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="a folder of clips (movies or sequence folders)")
    parser.add_argument("--reference", help="the reference portrait (with --folder)")
    parser.add_argument("--lpips-backbone", default="", help="AlexNet weights (default: the registry's)")
    parser.add_argument("-o", "--output", type=Path, default=Path("segfuse-quality"))
    parser.add_argument("--real", action="store_true",
                        help="ground-truth benchmark on real portraits (see benchmarks/quality_real.py)")
    parser.add_argument("--portraits", type=Path,
                        default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vox_portraits",
                        help="portrait folder for --real (default ../shared/data/vox_portraits)")
    parser.add_argument("--frames", type=int, default=24, help="frames per clip for --real")
    parser.add_argument("--only", help="comma-separated portrait names for --real (e.g. vox_01,vox_05)")
    parser.add_argument("--jobs", type=int, default=1, help="portraits scored in parallel processes for --real")
    parser.add_argument("--recipe-from", type=Path,
                        help="with --real: take the paper recipe's rows from this earlier quality_real.json (same "
                             "portraits and frames) instead of running it again")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="with --real: score the best preset with this param changed (repeatable)")
    args = parser.parse_args()
    if args.real:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from quality_real import main as real_main

        return real_main(args.portraits, args.frames, args.output, args.only.split(",") if args.only else None,
                         args.jobs, args.recipe_from, checked_overrides(parser, args.set))
    with tempfile.TemporaryDirectory() as tmp:
        if args.folder:
            if not args.reference:
                parser.error("--folder needs --reference")
            clips, reference = folder_clips(args.folder), args.reference
        else:
            clips, reference = sample_clips(Path(tmp)), str(REFERENCE)
        evaluation = evaluate(reference, clips, lpips_backbone=args.lpips_backbone)
        print(table(evaluation))
        write_report(evaluation, args.output)
    print(f"report: {args.output / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
