"""Where one `ask` spends its time: cProfile over 55 questions on an index you built.

    .venv/bin/python bench/profile_ask.py /tmp/bk100s/bbc-sqlite [--top 35]

The index is a data directory such as `bench/backends.py --prepare --sizes 100000` leaves (the
BBC corpus grown to 100k passages). Five RealTime QA questions warm it up, then 55 more are
asked under cProfile; it prints the mean `ask` time and the functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from _common import fresh_engine
from latency import questions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--top", type=int, default=35)
    args = ap.parse_args()
    engine = fresh_engine(args.data_dir)
    qs = questions(60)
    for q in qs[:5]:
        engine.ask(q)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for q in qs[5:]:
        engine.ask(q)
    prof.disable()
    print(f"mean ask ms {(time.perf_counter() - t0) / len(qs[5:]) * 1000:.1f}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
