"""How many candidate sentences the answer ranker must read (`ScoringConfig.ranker_shortlist`).

    .venv/bin/python bench/shortlist.py [--data-dir DIR] [--questions 300]

The ranker costs a few milliseconds a sentence, and a question about long articles has 40 to
100 candidates: the sentences of the best passages and every sentence of the two best articles.
RealTime QA's articles are one short paragraph each (9 candidates a question), so it cannot say
how short the list may be. Here the articles are news-length: SQuAD 2.0 dev's paragraphs, four
consecutive paragraphs of one Wikipedia article to a newsbot article (about 20 sentences, as BBC
articles), all indexed together with the real model. For each answerable question, search and
the candidates are as `newsbot ask` makes them; the ranker scores every candidate once, then each
short list is judged against reading them all: does the first quote hold an answer, how often
is the best score under the abstention threshold.

Split by article title as bench/answers.py does: the "calibration" half chooses, the "report"
half is reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path

import numpy as np
from _common import fresh_engine, need, read_jsonl
from answers import squad2_half

from index.answer import article_scores, candidates, score_candidates, shortlist, widen
from index.models import Filters
from index.search import search

PARAGRAPHS_AN_ARTICLE = 4


def articles_and_questions(dest: Path) -> list[tuple[str, list[str], str]]:
    """Writes the articles' JSONL to `dest`; (question, answers, half) per answerable question."""
    by_title: dict[str, list[dict]] = {}
    for p in read_jsonl(need("squad_v2_dev.jsonl")):
        by_title.setdefault(p["title"], []).append(p)
    items = []
    with open(dest, "w", encoding="utf-8") as out:
        for title, paras in by_title.items():
            for i in range(0, len(paras), PARAGRAPHS_AN_ARTICLE):
                group = paras[i : i + PARAGRAPHS_AN_ARTICLE]
                out.write(json.dumps({
                    "id": f"{title}/{i // PARAGRAPHS_AN_ARTICLE}",
                    "title": f"{title.replace('_', ' ')} ({i // PARAGRAPHS_AN_ARTICLE + 1})",
                    "text": "\n\n".join(p["context"] for p in group), "source": "SQuAD"}) + "\n")
                items += [(qa["question"], qa["answers"], squad2_half(title))
                          for p in group for qa in p["qas"] if qa["answers"]]
    return items


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", help="keep the index here between runs")
    ap.add_argument("--questions", type=int, default=300, help="a half")
    args = ap.parse_args()
    engine = fresh_engine(args.data_dir)
    if engine.ranker is None:
        raise SystemExit("the answer ranker is off (NEWSBOT_RERANKER)")
    src = Path(engine.store.data_dir) / "squad-articles.jsonl"
    items = articles_and_questions(src)
    if engine.store.stats().articles == 0:
        t0 = time.perf_counter()
        engine.add_source(str(src), "squad")
        print(f"indexed {engine.store.stats().articles} articles in "
              f"{time.perf_counter() - t0:.0f}s")
    config = engine.config
    every = dataclasses.replace(config, ranker_shortlist=None)
    t, w = config.min_answer_score, config.retrieval_weight
    for half in ("calibration", "report"):
        chosen = [x for x in items if x[2] == half]
        random.Random(11).shuffle(chosen)
        chosen = chosen[: args.questions]
        runs = []
        t0 = time.perf_counter()
        for q, golds, _ in chosen:
            qv = engine.embedder.encode([q])[0]
            hits = search(engine.store, engine.embedder, q, k=config.passages_read,
                          config=config, filters=Filters(), query_vector=qv, recency=False)
            cands = candidates(widen(engine.store, hits, config.whole_articles))
            if cands:
                score_candidates(cands, q, qv, engine.ranker, engine.embedder, hits, every)
            runs.append((q, golds, article_scores(hits), cands))
        secs = time.perf_counter() - t0
        print(f"\n{half} half: {len(runs)} answerable questions, "
              f"{np.mean([len(c) for *_, c in runs]):.1f} candidates a question "
              f"(all scored in {secs:.0f}s)")
        print("shortlist  neighbour  first quote holds an answer  same first quote as all  "
              "best under threshold  sentences read")
        for n in (4, 6, 8, 10, 12, 16, 24, None):
            for nb in (0.0, 0.5, 1.0):
                cfg = dataclasses.replace(config, ranker_shortlist=n, shortlist_neighbour=nb)
                hit = same = under = read = 0
                for q, golds, art, cands in runs:
                    if not cands:
                        under += 1
                        continue
                    def key(c, art=art):
                        return c.ranker + w * art[c.hit.article.id]

                    kept = shortlist(cands, q, art, cfg)
                    read += len(kept)
                    top = max(kept, key=key)
                    same += top is max(cands, key=key)
                    under += max(c.ranker for c in kept) < t
                    hit += any(g in top.text for g in golds)
                k = len(runs)
                print(f"  {n!s:8} {nb:9}  {hit / k:.3f}                        {same / k:.3f}"
                      f"                    {under / k:.3f}                 {read / k:.1f}",
                      flush=True)
                if n is None:
                    break


if __name__ == "__main__":
    main()
