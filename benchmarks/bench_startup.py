"""Start-up time of the ``segfuse`` command: ``segfuse nodes`` and ``segfuse --help``.

Each command runs in a fresh interpreter, several times; the best time is printed with its ratio
against ``python -c pass`` (the interpreter's own start-up) measured in the same run, and whether
the command imported torch (it must not: listing nodes needs no network).

    python benchmarks/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
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
PROBE = ("import sys; from segfuse.cli import main; main({args!r}); "
         "print('torch' in sys.modules, file=sys.stderr)")


def best_of(cmd: list[str], runs: int) -> tuple[float, float]:
    """(best wall time, best CPU time = user + system of the child): on a busy machine the CPU
    time is the steadier estimate of what the command costs on an idle one."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def imports_torch(args: list[str]) -> bool:
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True)
    return out.stderr.strip().splitlines()[-1] == "True"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    subprocess.run(COMMANDS["segfuse nodes"], capture_output=True)  # warm the file cache once
    base, base_cpu = best_of(COMMANDS["python -c pass"], args.runs)
    print(f"best of {args.runs} runs; ratios against python -c pass measured in this run")
    print(f"{'command':18s} {'wall':>8s} {'ratio':>7s} {'CPU':>8s} {'ratio':>7s}  imports torch")
    print(f"{'python -c pass':18s} {base:7.3f}s {1.0:6.1f}× {base_cpu:7.3f}s {1.0:6.1f}×")
    for label, cmd in list(COMMANDS.items())[1:]:
        wall, cpu = best_of(cmd, args.runs)
        torch = imports_torch(cmd[3:])
        print(f"{label:18s} {wall:7.3f}s {wall / base:6.1f}× {cpu:7.3f}s {cpu / base_cpu:6.1f}×  "
              f"{'yes' if torch else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
