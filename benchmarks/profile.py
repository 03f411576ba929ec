"""Top functions of a py-spy profile in collapsed-stack form (``OVERTURE_BENCH_PROFILE=DIR``).

    python -m benchmarks.profile results/profile/throughput-1000.folded [--top 25]

Prints, for the most frequent frames, the share of samples in which each appears (inclusive)
and is the innermost frame (self), restricted to frames of our code and its libraries.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only frames containing this text (e.g. overture/)")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    for line in args.path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [
            f.split(" (", 1)[0] + " (" + f.split(" (", 1)[1].split(":")[0] + ")" if " (" in f else f
            for f in stack.split(";")
        ]
        for frame in set(frames):
            inclusive[frame] += count
        self_time[frames[-1]] += count
    print(f"{total} samples")
    print(f"{'incl':>6} {'self':>6}  frame")
    shown = 0
    for frame, count in inclusive.most_common():
        if args.match and args.match not in frame:
            continue
        print(f"{count / total:6.1%} {self_time[frame] / total:6.1%}  {frame}")
        shown += 1
        if shown >= args.top:
            break


if __name__ == "__main__":
    main()
