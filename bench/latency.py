"""Latency of `ask` and `search` inside one process, at 10k and 100k passages.

    .venv/bin/python bench/latency.py [--data-dir DIR] [--questions 200]

The BBC corpus (2,225 articles, about 7,100 passages) is embedded with the bundled model, then
copies of its articles are added under new ids, their stored vectors slightly perturbed, until
the index holds 10k and then 100k passages: search at that size without an hour of embedding.

Filters are measured too. Every article is given a publication date within the year before
2026-06-01 and spread over ten sources (wire0 to wire9), so that a week holds
about 2% of the index and a source about 10%: "search, week" asks for the seven days before
that day (`--since`), "search, source" for one source (`--source wire3`).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from _common import bbc_as_articles_jsonl, fresh_engine, need, p50_p95, read_jsonl

from index.models import ArticleRow, Filters

NOW = datetime(2026, 6, 1, tzinfo=UTC)
WIRES = 10


def questions(n: int) -> list[str]:
    rows = read_jsonl(need("realtimeqa.jsonl"))
    qs = [r["question_sentence"] for r in rows]
    random.Random(3).shuffle(qs)
    return qs[:n]


def replicate(engine, target: int) -> None:
    """Add perturbed copies of the original articles until there are `target` passages."""
    store = engine.store
    rng = np.random.default_rng(0)
    base = [a for a in store.latest_articles(1_000_000) if "#copy" not in a.id]
    c = 0
    while store.passage_count() < target:
        c += 1
        for i in range(0, len(base), 200):
            if store.passage_count() >= target:
                return
            chunk = [a for a in base[i : i + 200]
                     if not store.get_articles([f"{a.id}#copy{c}"])]
            if not chunk:
                continue
            rows, passages, vectors, titles = [], [], {}, {}
            published = {}
            for a in chunk:
                aid = f"{a.id}#copy{c}"
                rows.append(ArticleRow(
                    id=aid, title=a.title, text=a.text, url=None, canonical_url=None,
                    publisher=a.publisher,
                    published=a.published.timestamp() if a.published else None,
                    author=a.author, category=a.category, text_hash=f"{a.text_hash}{c}",
                    norm_hash=f"{a.text_hash}{c}", indexed_at=time.time()))
                titles[aid] = a.title
                published[aid] = rows[-1].published
                own = store.passages_of_article(a.id)
                vecs = store.vectors([p.id for p in own])
                for p in own:
                    q = type(p)(f"{p.id}c{c}", aid, p.position, p.start, p.end, p.text,
                                p.sentences)
                    v = vecs[p.id] + rng.normal(0, 0.02, vecs[p.id].shape).astype(np.float32)
                    vectors[q.id] = v / np.linalg.norm(v)
                    passages.append(q)
            store.upsert_vectors(passages, np.stack([vectors[p.id] for p in passages]), published)
            store.commit_articles("bbc", rows, passages, titles, vectors)


def spread(engine) -> None:
    """Date every undated article within the year before NOW and move it to one of WIRES
    sources (both by a hash of its id), in SQLite and in Chroma's metadata. Articles already
    dated are left as they are, so a kept index is spread once."""
    store = engine.store
    undated = [r[0] for r in store._q("SELECT id FROM articles WHERE published IS NULL")]
    if not undated:
        return
    t0 = time.perf_counter()
    published: dict[str, float | None] = {}
    for aid in undated:
        u = int(hashlib.sha1(aid.encode()).hexdigest()[:8], 16) / 2**32
        published[aid] = (NOW - timedelta(days=365 * u)).timestamp()
    known = {r.key for r in store.source_rows([None])}
    for w in range(WIRES):
        if f"wire{w}" not in known:
            store.add_source(f"wire{w}", f"bench/latency.py#wire{w}", "file")
    with store.transaction() as db:
        db.executemany("UPDATE articles SET published=? WHERE id=?",
                       [(t, aid) for aid, t in published.items()])
        db.executemany("UPDATE article_sources SET source=? WHERE article_id=?",
                       [(f"wire{int(hashlib.sha1(aid.encode()).hexdigest()[8:16], 16) % WIRES}",
                         aid) for aid in undated])
    rows = [SimpleNamespace(id=r[0], article_id=r[1])
            for r in store._q("SELECT id, article_id FROM passages")]
    store.update_vector_meta([r for r in rows if r.article_id in published], published)
    print(f"dated {len(undated)} articles and spread them over {WIRES} sources "
          f"in {time.perf_counter() - t0:.0f}s")


WEEK = Filters(since=NOW - timedelta(days=7))
SOURCE = Filters(sources=("wire3",))


def measure(engine, qs: list[str]) -> dict[str, tuple[float, float]]:
    for q in qs[:5]:
        engine.ask(q)
    out = {}
    for name, fn in (("search", lambda q: engine.search(q, k=10)), ("ask", engine.ask),
                     ("search, week", lambda q: engine.search(q, k=10, filters=WEEK)),
                     ("ask, week", lambda q: engine.ask(q, filters=WEEK)),
                     ("search, source", lambda q: engine.search(q, k=10, filters=SOURCE)),
                     ("ask, source", lambda q: engine.ask(q, filters=SOURCE))):
        out[name] = p50_p95(fn, qs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", help="keep the index here between runs")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--sizes", default="10000,100000", help="index sizes in passages")
    ap.add_argument("--without-ranker", action="store_true",
                    help="also measure ask with the answer ranker off, in the same run")
    args = ap.parse_args()
    engine = fresh_engine(args.data_dir)
    if engine.store.stats().articles == 0:
        src = bbc_as_articles_jsonl(Path(engine.store.data_dir) / "bbc.jsonl")
        t0 = time.perf_counter()
        engine.add_source(str(src), "bbc")
        print(f"indexed BBC in {time.perf_counter() - t0:.0f}s")
    qs = questions(args.questions)
    print("passages   command         p50 ms  p95 ms")
    ranker = engine.ranker
    for target in (int(x) for x in args.sizes.split(",")):
        replicate(engine, target)
        spread(engine)
        n = engine.store.stats().passages
        for name, (p50, p95) in measure(engine, qs).items():
            print(f"{n:8}   {name:14} {p50:7.1f} {p95:7.1f}")
        if args.without_ranker:
            engine.ranker = None
            p50, p95 = measure(engine, qs)["ask"]
            print(f"{n:8}   {'ask, no ranker':14} {p50:7.1f} {p95:7.1f}")
            engine.ranker = ranker


if __name__ == "__main__":
    main()
