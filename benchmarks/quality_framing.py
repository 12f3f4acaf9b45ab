"""Framing benchmark: the ground-truth clips of ``quality.py --real`` placed in 16:9 frames.

    python benchmarks/quality_framing.py [--portraits DIR] [--frames 16] [--only vox_01,vox_05]
                                         [--framings centred,360p-1.0x-left] [--jobs 2] [-o OUT]

Each portrait with a stored mask (benchmarks/data/vox_masks) becomes a seeded clip with every
defect (as ``quality.py --real``'s "all" set, 256x256); each framing scales the clip's frames,
truth and masks and places them in a 16:9 frame with the face on a third line (or centred),
1.0-2.5x, up to 1080p; beyond the clip's square the frame continues the clip's own border
(the reference's background with the person inpainted, edge pixels replicated: still and clean,
nothing there needs repair). The centred set is the clip as it is.
Rows: raw, the paper's recipe (computed in the same run), SegFuse best. Defaults were chosen on
the tuning portraits (quality_real.TUNING); the others are reported separately.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_real import MASKS, TUNING, load_portraits  # noqa: E402

from segfuse.commands.common import parse_overrides  # noqa: E402
from segfuse.errors import GraphError  # noqa: E402
from segfuse.research.quality.runner import check_variant, run_preset, run_recipe  # noqa: E402
from segfuse.research.quality.synth import DEFECTS, Clip, make_clip  # noqa: E402
from segfuse.research.scoring import Scores, score_clip  # noqa: E402

ROWS = ("raw", "paper recipe", "segfuse best", "best, centred priors")
CENTRED = {"framing": "centred"}  # round 2's best: priors fixed to a centred crop, the whole frame worked on


@dataclass(frozen=True)
class Framing:
    name: str
    width: int
    height: int
    scale: float  # the clip's side is scale x 256 x height / 360 (1.0: 71 % of the frame's height)
    face_x: float  # where the clip's centre column goes, as a fraction of the width


FRAMINGS = {f.name: f for f in (
    Framing("360p-1.0x-left", 640, 360, 1.0, 1 / 3),
    Framing("360p-1.7x-right", 640, 360, 1.7, 2 / 3),
    Framing("540p-1.3x-centre", 960, 540, 1.3, 0.5),
    Framing("540p-2.5x-left", 960, 540, 2.5, 1 / 3),
    Framing("1080p-1.7x-right", 1920, 1080, 1.7, 2 / 3),
)}


def placement(framing: Framing) -> tuple[int, int, int]:
    """Side and top-left corner of the clip's square in the frame: bottom on the frame's bottom
    (the torso leaves the frame there) or, when taller than the frame, the face at 42 % height."""
    side = round(framing.scale * 256 * framing.height / 360)
    x0 = round(framing.face_x * framing.width - side / 2)
    y0 = framing.height - side if side <= framing.height else min(0, round(0.42 * framing.height - 0.45 * side))
    y0 = max(y0, framing.height - side)
    return side, x0, y0


def _place(image: np.ndarray, framing: Framing, interpolation: int) -> np.ndarray:
    side, x0, y0 = placement(framing)
    big = cv2.resize(image, (side, side), interpolation=interpolation)
    top, left = max(0, y0), max(0, x0)
    bottom, right = max(0, framing.height - (y0 + side)), max(0, framing.width - (x0 + side))
    grown = cv2.copyMakeBorder(big, top, bottom, left, right, cv2.BORDER_REPLICATE)
    oy, ox = max(0, -y0), max(0, -x0)
    return np.ascontiguousarray(grown[oy:oy + framing.height, ox:ox + framing.width])


def background_plate(reference: np.ndarray, person: np.ndarray) -> np.ndarray:
    """The reference with its person inpainted: what the frame shows beyond the clip's square."""
    image = np.clip(np.round(reference * 255), 0, 255).astype(np.uint8)
    hole = cv2.dilate((person >= 0.5).astype(np.uint8), np.ones((5, 5), np.uint8))
    return cv2.inpaint(image, hole, 9, cv2.INPAINT_TELEA).astype(np.float32) / 255.0


def frame_clip(clip: Clip, framing: Framing) -> Clip:
    """The clip placed in ``framing``: its square as it is (scaled), and beyond it the background
    continued (the reference's inpainted background, edge pixels replicated; still and clean)."""
    side, x0, y0 = placement(framing)
    inside = np.zeros((framing.height, framing.width), bool)
    inside[max(0, y0):y0 + side, max(0, x0):x0 + side] = True
    plate = _place(background_plate(clip.reference, clip.reference_alpha), framing, cv2.INTER_LINEAR)

    def rgb(image: np.ndarray) -> np.ndarray:
        placed = np.where(inside[:, :, None], _place(image, framing, cv2.INTER_LINEAR), plate)
        return np.clip(np.round(placed * 255) / 255, 0, 1).astype(np.float32)

    def alpha(matte: np.ndarray) -> np.ndarray:
        return np.where(inside, _place(matte, framing, cv2.INTER_LINEAR), 0.0).astype(np.float32)

    out = Clip(rgb(clip.reference), (alpha(clip.reference_alpha) >= 0.5).astype(np.float32))
    for generated, truth, matte, unknown in zip(clip.generated, clip.truth, clip.truth_alpha, clip.unknown,
                                                strict=True):
        out.generated.append(rgb(generated))
        out.truth.append(rgb(truth))
        out.truth_alpha.append(alpha(matte))
        out.unknown.append(inside & (_place(unknown.astype(np.uint8), framing, cv2.INTER_NEAREST) > 0))
    return out


def score_shot(index: int, name: str, portrait: np.ndarray, mask: np.ndarray, frames: int,
               framings: list[str], recipe_height: int = 100000, compare_centred: bool = False,
               best_params: dict[str, dict] | None = None) -> dict[str, dict[str, Scores]]:
    """Scores per framing and row of one portrait's clip; ``best_params``: node → params set on the
    best preset (``--set``: a variant to score)."""
    clip = make_clip(portrait, mask, frames, seed=1000 * index + len(DEFECTS), defects=DEFECTS)
    centred = {"reference_matte": CENTRED, "generated_matte": CENTRED}
    centred_params = {node: {**(best_params or {}).get(node, {}), **centred.get(node, {})}
                      for node in {*(best_params or {}), *centred}}
    results = {}
    for framing_name in framings:
        if framing_name == "centred":
            shot, band = clip, None
        else:
            framing = FRAMINGS[framing_name]
            shot, band = frame_clip(clip, framing), 2.0 * placement(framing)[0] / 256.0
        scores = {"raw": score_clip(shot, shot.generated, band=band)}
        rows = {"segfuse best": lambda s: run_preset(s, "best", best_params)}
        if shot.reference.shape[0] <= recipe_height:  # full-resolution GrabCut: minutes a frame at 1080p here
            rows = {"paper recipe": run_recipe, **rows}
        if compare_centred:
            rows["best, centred priors"] = lambda s: run_preset(s, "best", centred_params)
        for row, run in rows.items():
            repair = run(shot)
            scores[row] = score_clip(shot, repair.frames, repair.mattes, repair.seconds_per_frame, band=band)
        results[framing_name] = scores
        print(f"{name} {framing_name:18s} " + "  ".join(
            f"{row}: {s.overall:.3f} (person {s.person:.3f})" for row, s in scores.items()), flush=True)
    return results


def summarise(results: dict, portraits: list[str], framings: list[str]) -> dict:
    """Per framing (and 'framed': every framing but the centred set): mean errors, reductions,
    the error added on the person, and the worst shot's change against its raw render."""
    table = {}
    groups = {f: [f] for f in framings}
    framed = [f for f in framings if f != "centred"]
    if framed:
        groups["framed (all above but centred)"] = framed
    for label, members in groups.items():
        every = [(p, f) for p in portraits for f in members if f in results[p]]
        table[label] = {}
        for row in ROWS:
            shots = [(p, f) for p, f in every if row in results[p][f]]  # the recipe may not have run on all
            if not shots:
                continue
            raw = np.mean([results[p][f]["raw"].overall for p, f in shots])
            raw_person = np.mean([results[p][f]["raw"].person for p, f in shots])
            overall = float(np.mean([results[p][f][row].overall for p, f in shots]))
            table[label][row] = {
                "shots": len(shots),
                "raw": float(raw),
                "overall": overall,
                "reduction": float(1 - overall / raw) if raw > 0 else float("nan"),
                "person_added": float(np.mean([results[p][f][row].person for p, f in shots]) - raw_person),
                "worst_vs_raw": float(max(results[p][f][row].overall - results[p][f]["raw"].overall
                                          for p, f in shots)),
                "seconds_per_frame": float(np.nanmean([results[p][f][row].seconds_per_frame for p, f in shots])),
            }
    return table


def markdown(table: dict, title: str) -> str:
    lines = [f"**{title}** (errors in 8-bit code values; reduction of the overall error vs the raw render; "
             "worst: the largest change of one shot's overall error vs its raw render)", "",
             "| framing | row | shots | overall (raw) | reduction | person added | worst shot vs raw | s/frame |",
             "|---|---|---|---|---|---|---|---|"]
    for label, rows in table.items():
        for row in ROWS[1:]:
            if row not in rows:
                if row == "paper recipe":
                    lines.append(f"| {label} | {row} | 0 | not run (full-resolution GrabCut too slow here) | | | | |")
                continue
            v = rows[row]
            lines.append(f"| {label} | {row} | {v['shots']} | {v['overall']:.3f} ({v['raw']:.3f}) | "
                         f"{100 * v['reduction']:.1f} % | {v['person_added']:+.3f} | {v['worst_vs_raw']:+.3f} | "
                         f"{v['seconds_per_frame']:.3f} |")
    return "\n".join(lines)


def plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    x = np.arange(len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
    for offset, row, colour in ((-0.27, "paper recipe", "#c0504d"), (0.0, "best, centred priors", "#9bbb59"),
                                (0.27, "segfuse best", "#4f81bd")):
        if not any(row in table[n] for n in names):
            continue
        left.bar(x + offset, [100 * table[n][row]["reduction"] if row in table[n] else 0 for n in names], 0.27,
                 label=row, color=colour)
        right.bar(x + offset, [table[n][row]["person_added"] if row in table[n] else 0 for n in names], 0.27,
                  label=row, color=colour)
    left.axhline(0, color="black", linewidth=0.6)
    left.set_ylim(bottom=max(-100, left.get_ylim()[0]))
    left.set_title("overall error removed vs raw (%; higher is better)")
    right.set_title("error added on the person (/255)")
    for axis in (left, right):
        axis.set_xticks(x, [n.split(" (")[0] for n in names], rotation=20, fontsize=8)
        axis.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portraits", type=Path,
                        default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vox_portraits")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--only", help="comma-separated portrait names")
    parser.add_argument("--framings", default=",".join(["centred", *FRAMINGS]),
                        help="comma-separated framing names (centred, " + ", ".join(FRAMINGS) + ")")
    parser.add_argument("--big-only", default="vox_01,vox_02",
                        help="portraits the framings above 360p run on (the paper recipe's full-resolution "
                             "GrabCut is slow there); empty: all")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--compare-centred", action="store_true",
                        help="also score best with round 2's centred priors (framing=centred)")
    parser.add_argument("--recipe-height", type=int, default=360,
                        help="run the paper recipe only on frames at most this tall (its full-resolution GrabCut "
                             "takes minutes a frame at 1080p on a small CPU)")
    parser.add_argument("--merge", type=Path, nargs="+",
                        help="summarise the shots of earlier runs' quality_framing.json together (runs nothing)")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="score the best preset with this param changed (repeatable), e.g. "
                             "generated_matte.working_size=192")
    parser.add_argument("-o", "--output", type=Path, default=Path("segfuse-quality-framing"))
    args = parser.parse_args()
    try:
        best_params = check_variant(parse_overrides(args.set))
    except GraphError as exc:
        parser.error(str(exc))
    if args.merge:
        results: dict = {}
        for path in args.merge:
            for name, shots in json.loads(path.read_text())["shots"].items():
                for framing, rows in shots.items():
                    results.setdefault(name, {}).setdefault(framing, {}).update(
                        {row: Scores(**values) for row, values in rows.items()})
        return report_and_plot(results, ["centred", *FRAMINGS], args.frames, args.output)
    framings = args.framings.split(",")
    unknown = [f for f in framings if f != "centred" and f not in FRAMINGS]
    if unknown:
        parser.error(f"unknown framings {unknown}")
    portraits = load_portraits(args.portraits, args.only.split(",") if args.only else None)
    indices = {name: i for i, name in enumerate(sorted(p.stem for p in MASKS.glob("*.png")))}
    big = set(args.big_only.split(",")) if args.big_only else set(portraits)
    plan = {name: [f for f in framings if f == "centred" or FRAMINGS[f].height <= 360 or name in big]
            for name in portraits}
    if args.jobs <= 1:
        results = {n: score_shot(indices[n], n, *portraits[n], args.frames, plan[n], args.recipe_height,
                                 args.compare_centred, best_params) for n in portraits}
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            futures = {n: pool.submit(score_shot, indices[n], n, *portraits[n], args.frames, plan[n],
                                      args.recipe_height, args.compare_centred, best_params) for n in portraits}
            results = {n: f.result() for n, f in futures.items()}
    return report_and_plot(results, framings, args.frames, args.output)


def report_and_plot(results: dict, framings: list[str], frames: int, output: Path) -> int:
    """Print the tables (all, tuning, held-out portraits), write the plot and the data."""
    report = {}
    groups = {"all portraits": list(results), "tuning portraits": [p for p in results if p in TUNING],
              "held-out portraits": [p for p in results if p not in TUNING]}
    for title, members in groups.items():
        if not members:
            continue
        present = [f for f in framings if any(f in results[p] for p in members)]
        table = summarise(results, members, present)
        report[title] = table
        print()
        print(markdown(table, f"{title} ({', '.join(members)}): {frames} frames, every defect"))
    output.mkdir(parents=True, exist_ok=True)
    plot(report["all portraits"], output / "quality_framing.png")
    shots = {p: {f: {row: s.as_dict() for row, s in rows.items()} for f, rows in r.items()} for p, r in results.items()}
    (output / "quality_framing.json").write_text(json.dumps({"summary": report, "shots": shots}, indent=1))
    print(f"\nplot: {output / 'quality_framing.png'}  data: {output / 'quality_framing.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
