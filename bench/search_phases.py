"""Where one `search` spends its time: each step timed over 180 questions on an index you built.

    .venv/bin/python bench/search_phases.py DATA_DIR [--source wire3]

DATA_DIR is an index such as `bench/latency.py --data-dir DIR --sizes 100000` leaves. Twenty
RealTime QA questions warm it up, then 180 more are searched (top 10), each step's time added up
by a wrapper; prints the median search and each step's mean. The question is embedded, and
its nearest vectors found, on another thread while the full-text query runs, so the steps add
up to more than a search.
"""

from __future__ import annotations

import argparse
import time

from _common import fresh_engine, timed
from latency import questions

import index.search as search_module
from index.models import Filters


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--source", help="limit to one source (bench/latency.py names them wire0-9)")
    args = ap.parse_args()
    engine = fresh_engine(args.data_dir)
    filters = Filters(sources=(args.source,)) if args.source else None
    qs = questions(200)
    for q in qs[:20]:
        engine.search(q, k=10, filters=filters)
    seconds: dict[str, float] = {}
    store = engine.store
    timed(seconds, store, "lexical", "full-text query (store.lexical)")
    timed(seconds, search_module, "bm25", "BM25 of the candidates")
    timed(seconds, store, "dense", "nearest vectors (store.dense)")
    timed(seconds, store, "get_passages", "reading the passages")
    timed(seconds, store, "get_articles", "reading their articles")
    timed(seconds, store, "vectors", "vectors of lexical-only candidates")
    times = []
    for q in qs[20:]:
        t0 = time.perf_counter()
        engine.search(q, k=10, filters=filters)
        times.append(time.perf_counter() - t0)
    times.sort()
    n = len(times)
    print(f"{n} searches{' in ' + args.source if args.source else ''}: median "
          f"{1000 * times[n // 2]:.1f} ms, mean {1000 * sum(times) / n:.1f} ms")
    for label, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {label:36} {1000 * s / n:5.2f} ms")


if __name__ == "__main__":
    main()
