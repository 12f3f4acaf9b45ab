"""Start-up time of the ``segfuse`` command: ``segfuse nodes`` and ``segfuse --help``.

Each command runs in a fresh interpreter, several times; the best time is printed with its ratio
against ``python -c pass`` (the interpreter's own start-up) measured in the same run, and whether
the command imported torch (it must not: listing nodes needs no network).

    python benchmarks/bench_startup.py [--runs 7] [--compare OTHER_PYTHON]

``--compare`` also times the same commands with another environment's interpreter (e.g. a
checkout of an older commit with its own virtual environment), in the same run, for before/after.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "segfuse nodes": [sys.executable, "-m", "segfuse.cli", "nodes"],
    "segfuse --help": [sys.executable, "-m", "segfuse.cli", "--help"],
    "segfuse describe": [sys.executable, "-m", "segfuse.cli", "describe", "org.segfuse.MODNetMatte"],
}
# as an installed package runs: from byte-compiled modules (a shell with PYTHONDONTWRITEBYTECODE
# set would otherwise compile every SegFuse module from source on each start)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
PROBE = ("import sys; from segfuse.cli import main; main({args!r}); "
         "print('torch' in sys.modules, file=sys.stderr)")


def best_of(cmd: list[str], runs: int) -> tuple[float, float]:
    """(best wall time, best CPU time = user + system of the child): on a busy machine the CPU
    time is the steadier estimate of what the command costs on an idle one."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def imports_torch(args: list[str], python: str = sys.executable) -> bool:
    out = subprocess.run([python, "-c", PROBE.format(args=args)], capture_output=True, text=True, env=ENV)
    return out.stderr.strip().splitlines()[-1] == "True"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--compare", metavar="PYTHON", help="also time the commands with this interpreter")
    args = parser.parse_args()
    pythons = [("", sys.executable)] + ([(" (compare)", args.compare)] if args.compare else [])
    for _, python in pythons:  # warm the file cache and write the byte-code once
        for cmd in list(COMMANDS.values())[1:]:
            subprocess.run([python, *cmd[1:]], capture_output=True, env=ENV)
    base, base_cpu = best_of(COMMANDS["python -c pass"], args.runs)
    print(f"best of {args.runs} runs; ratios against python -c pass measured in this run")
    print(f"{'command':28s} {'wall':>8s} {'ratio':>7s} {'CPU':>8s} {'ratio':>7s}  imports torch")
    print(f"{'python -c pass':28s} {base:7.3f}s {1.0:6.1f}× {base_cpu:7.3f}s {1.0:6.1f}×")
    for label, cmd in list(COMMANDS.items())[1:]:
        for suffix, python in pythons:
            wall, cpu = best_of([python, *cmd[1:]], args.runs)
            torch = imports_torch(cmd[3:], python)
            print(f"{label + suffix:28s} {wall:7.3f}s {wall / base:6.1f}× {cpu:7.3f}s {cpu / base_cpu:6.1f}×  "
                  f"{'yes' if torch else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
