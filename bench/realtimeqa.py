"""Retrieval quality on RealTime QA (answers and abstention: bench/answers.py).

    .venv/bin/python bench/realtimeqa.py [--data-dir DIR] [--sweep]

The corpus is every distinct evidence paragraph of ../shared/data/realtimeqa.jsonl (HTML tags
stripped), each an article dated by its quiz; the questions are those that have evidence.
Retrieval is scored per article: Hits@1/5/10 and MRR@10 for BM25 alone, dense alone and
newsbot's fusion, in one run on one index. `--data-dir` keeps the index between runs.
"""

from __future__ import annotations

import argparse
import html
import re
import time
from datetime import UTC, datetime

from _common import fresh_engine, need, read_jsonl

OFF_TOPIC = [
    "What is the best recipe for banana bread?",
    "How do I reset my router password?",
    "What is the square root of 144?",
    "How many legs does a spider have?",
    "Explain how photosynthesis works in cacti.",
    "What are good stretches for lower back pain?",
    "How do you conjugate the French verb être?",
    "What is the boiling point of water at sea level?",
    "Which houseplants are safe for cats?",
    "How do I make sourdough starter from scratch?",
    "What is the difference between a list and a tuple in Python?",
    "How long should I boil an egg for a runny yolk?",
    "What is the plot of Pride and Prejudice?",
    "How do I tie a bowline knot?",
    "What is a good name for a golden retriever puppy?",
    "How many calories are in an avocado?",
    "What time zone is used in Iceland?",
    "How do I remove a red wine stain from carpet?",
    "What rhymes with orange?",
    "How do bees make honey?",
]


def clean(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def load():
    from index.models import Article

    rows = read_jsonl(need("realtimeqa.jsonl"))
    items = [r for r in rows if clean(r["evidence"])]
    ids: dict[str, str] = {}
    articles = []
    for r in sorted(items, key=lambda r: r["question_date"]):
        text = clean(r["evidence"])
        if text in ids:
            continue
        ids[text] = f"rtqa-{len(ids)}"
        articles.append(Article(
            title="", text=text, id=ids[text], publisher=r["question_source"],
            published=datetime.strptime(r["question_date"].replace("-", "/"), "%Y/%m/%d").replace(tzinfo=UTC),
        ))
    questions = [(r["question_sentence"], ids[clean(r["evidence"])], r) for r in items]
    return articles, questions


def asked_on(r: dict) -> datetime:
    """The end of the day the quiz question was published: when it was asked."""
    day = datetime.strptime(r["question_date"].replace("-", "/"), "%Y/%m/%d")
    return day.replace(tzinfo=UTC, hour=23, minute=59)


def build(engine, articles) -> float:
    t0 = time.perf_counter()
    engine.index_articles("realtimeqa", articles)
    return time.perf_counter() - t0


def retrieval(engine, questions, qvecs, mode: str, weight: float | None = None,
              realtime: bool = False, config=None, ranker=None) -> dict:
    """Content only: no dates at all. Realtime: each question asked on its quiz date, so the
    index holds what was published by then and newer articles get newsbot's recency boost."""
    from index.search import search
    from index.timewin import TimeWindow

    config = config or engine.config
    hits1 = hits5 = hits10 = 0
    rr = 0.0
    for (q, gold, r), qv in zip(questions, qvecs, strict=True):
        if realtime:
            hits = search(engine.store, engine.embedder, q, k=30, config=config, ranker=ranker,
                          mode=mode, lexical_weight=weight, query_vector=qv, now=asked_on(r))
        else:
            hits = search(engine.store, engine.embedder, q, k=30, config=config, ranker=ranker,
                          mode=mode, lexical_weight=weight, query_vector=qv,
                          window=TimeWindow(), recency=False)
        ranked = list(dict.fromkeys(h.article.id for h in hits))[:10]
        if gold in ranked:
            rank = ranked.index(gold) + 1
            hits1 += rank == 1
            hits5 += rank <= 5
            hits10 += 1
            rr += 1 / rank
    n = len(questions)
    return {"hits@1": hits1 / n, "hits@5": hits5 / n, "hits@10": hits10 / n, "mrr@10": rr / n}


def verbatim_items(questions, keep=lambda r: True) -> list:
    """(question, correct choices, when asked) for the items whose correct choice is verbatim
    in the evidence, where `keep(item)`."""
    out = []
    for q, _gold, r in questions:
        golds = [r["choices"][int(i)] for i in r["answer"]]
        if keep(r) and any(g and g in clean(r["evidence"]) for g in golds):
            out.append((q, golds, asked_on(r)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", help="keep the index here between runs")
    ap.add_argument("--embedder", choices=["int8", "fp32"], default="int8",
                    help="how the bundled model runs (NEWSBOT_EMBEDDER)")
    ap.add_argument("--sweep", action="store_true", help="also try other lexical weights")
    ap.add_argument("--rerank", action="store_true",
                    help="tune search reordering by the answer ranker on 2023, report on 2024+")
    args = ap.parse_args()
    articles, questions = load()
    engine = fresh_engine(args.data_dir, embedder=args.embedder)
    print(f"embedder: {engine.embedder.name}")
    have = engine.store.stats().articles
    if have != len(articles):
        secs = build(engine, articles)
        print(f"indexed {len(articles)} paragraphs in {secs:.0f}s")
    print(f"corpus: {len(articles)} distinct evidence paragraphs; {len(questions)} questions")
    t0 = time.perf_counter()
    qvecs = engine.embedder.encode([q for q, _, _ in questions])
    print(f"encoded the questions in {time.perf_counter() - t0:.0f}s")

    print("\nretrieval (article level)                 Hits@1  Hits@5  Hits@10  MRR@10")
    rows = [("content only: BM25 (SQLite FTS5)", "lexical", None, False),
            ("content only: dense (MiniLM, Chroma)", "dense", None, False),
            ("content only: newsbot fusion", "hybrid", None, False)]
    if args.sweep:
        rows += [(f"  fusion, lexical weight {w}", "hybrid", w, False) for w in (0.1, 0.3, 0.5)]
    rows += [("as asked: BM25", "lexical", None, True),
             ("as asked: dense", "dense", None, True),
             ("as asked: newsbot", "hybrid", None, True)]
    for label, mode, w, realtime in rows:
        m = retrieval(engine, questions, qvecs, mode, w, realtime)
        print(f"{label:41} {m['hits@1']:.3f}   {m['hits@5']:.3f}   {m['hits@10']:.3f}    "
              f"{m['mrr@10']:.3f}")

    if args.rerank:
        rerank_table(engine, questions, qvecs)
    print("\nanswers and abstention: bench/answers.py")


def rerank_table(engine, questions, qvecs) -> None:
    """Content only: search reordered by the answer ranker, weight chosen on quizzes dated 2023,
    reported on those from 2024 on beside plain fusion."""
    from dataclasses import replace

    def part(year_ok):
        keep = [i for i, (_, _, r) in enumerate(questions) if year_ok(r["question_date"][:4])]
        return [questions[i] for i in keep], [qvecs[i] for i in keep]

    tune, report = part(lambda y: y == "2023"), part(lambda y: y >= "2024")
    print("\nsearch reordered by the answer ranker (content only)   Hits@1  MRR@10")
    best_w, best = 0.0, retrieval(engine, *tune, "hybrid")["mrr@10"]
    print(f"  tune (2023, {len(tune[0])}), weight 0 (plain fusion)          "
          f"{retrieval(engine, *tune, 'hybrid')['hits@1']:.3f}   {best:.3f}")
    for w in (0.1, 0.25, 0.5, 1.0):
        cfg = replace(engine.config, search_rerank_weight=w)
        m = retrieval(engine, *tune, "hybrid", config=cfg, ranker=engine.ranker)
        print(f"  tune, weight {w:<4}                                 {m['hits@1']:.3f}   "
              f"{m['mrr@10']:.3f}")
        if m["mrr@10"] > best:
            best_w, best = w, m["mrr@10"]
    base = retrieval(engine, *report, "hybrid")
    cfg = replace(engine.config, search_rerank_weight=best_w)
    rer = retrieval(engine, *report, "hybrid", config=cfg, ranker=engine.ranker)
    print(f"  report (2024+, {len(report[0])}), plain fusion                  "
          f"{base['hits@1']:.3f}   {base['mrr@10']:.3f}")
    print(f"  report, reordered with weight {best_w}                 {rer['hits@1']:.3f}   "
          f"{rer['mrr@10']:.3f}")


if __name__ == "__main__":
    main()
