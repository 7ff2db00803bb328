"""Lexical search that scales: the FTS5 query with only the question's rarest words.

    .venv/bin/python bench/lexical.py --rtqa-dir DIR --big-dir DIR [--terms 2,3,4,5,6]

For each cap on the words OR-ed (`ScoringConfig.lexical_terms`; "all" is the query as it was):
- RealTime QA content-only retrieval (as bench/realtimeqa.py), BM25 alone and newsbot's fusion,
  with the questions dated before 2024 (tuning: the cap is chosen there) apart from those dated
  2024 on (reported);
- the lexical query's and `search`'s time at 100k passages (an index grown by bench/latency.py
  or `bench/backends.py --prepare`), 200 RealTime QA questions.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from _common import fresh_engine, p50_p95


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtqa-dir", required=True, help="a RealTime QA index (bench/realtimeqa.py)")
    ap.add_argument("--big-dir", required=True, help="a 100k-passage index (bench/latency.py)")
    ap.add_argument("--terms", default="3,4,6")
    ap.add_argument("--only", choices=["retrieval", "latency"], help="one of the two parts")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from latency import questions as sample
    from realtimeqa import build, load, retrieval

    caps: list[int | None] = [None, *(int(x) for x in args.terms.split(","))]
    if args.only != "latency":
        quality(args.rtqa_dir, caps, load, build, retrieval)
    if args.only != "retrieval":
        latency(args.big_dir, caps, sample)


def quality(rtqa_dir, caps, load, build, retrieval) -> None:
    articles, questions = load()
    engine = fresh_engine(rtqa_dir)
    if engine.store.stats().articles != len(articles):
        build(engine, articles)
    splits = {"tune (before 2024)": [q for q in questions if q[2]["question_date"] < "2024"],
              "report (2024 on)": [q for q in questions if q[2]["question_date"] >= "2024"]}
    print("RealTime QA, content only: Hits@1 / MRR@10")
    print(f"{'words OR-ed':12}" + "".join(f"{name + ' BM25':>28}{name + ' fusion':>28}"
                                          for name in splits))
    for cap in caps:
        config = dataclasses.replace(engine.config, lexical_terms=cap)
        row = f"{cap or 'all'!s:12}"
        for qs in splits.values():
            qvecs = engine.embedder.encode([q for q, _, _ in qs])
            for mode in ("lexical", "hybrid"):
                m = retrieval(engine, qs, qvecs, mode, config=config)
                row += f"{m['hits@1']:>20.3f} / {m['mrr@10']:.3f}"
        print(row, flush=True)
    engine.close()


def latency(big_dir, caps, sample) -> None:
    big = fresh_engine(big_dir)
    qs = sample(200)
    n = big.store.passage_count()
    print(f"\n{n} passages: p50 / p95 ms")
    print(f"{'words OR-ed':12}{'lexical query':>22}{'search':>22}")
    for cap in caps:
        big.config = dataclasses.replace(big.config, lexical_terms=cap)
        cells = [f"{a:.1f} / {b:.1f}" for a, b in (
            p50_p95(lambda q, c=cap: big.store.lexical(q, 50, max_terms=c), qs),
            p50_p95(lambda q: big.search(q, k=10), qs))]
        print(f"{cap or 'all'!s:12}{cells[0]:>22}{cells[1]:>22}", flush=True)
    big.close()


if __name__ == "__main__":
    main()
